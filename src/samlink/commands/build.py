"""`samlink build`: the body of a generated make target."""

from __future__ import annotations

import os
import time
from pathlib import Path

from samlink.build import assemble, makefile, plan
from samlink.errors import BuildError, UsageError, os_error
from samlink.model.template import Resource, Template, load_stack, load_template


def run(
    resource_id: str,
    *,
    template: Path | None,
    makefile_list: str | None,
    options: assemble.Options,
    root_template: Path | None = None,
) -> int:
    artifacts = os.environ.get("ARTIFACTS_DIR")
    if not artifacts:
        raise UsageError(
            "ARTIFACTS_DIR is not set",
            "`samlink build` runs inside `sam build`; run `sam build` instead",
        )
    if makefile_list:
        here = makefile.makefile_from_list(makefile_list).parent
        template_path = here / template if template else here / "template.yaml"
        root_path = here / root_template if root_template else None
    else:
        template_path = template or Path("template.yaml")
        root_path = root_template
    started_ns = time.time_ns()
    if root_path is None:
        model = load_template(template_path.resolve())
        resource = model.get(resource_id)
    else:
        model, resource = _nested(
            root_path.resolve(), template_path.resolve(), resource_id, artifacts
        )
    try:
        report = assemble.build(
            resource,
            model.path.parent,
            Path(artifacts).resolve(),
            options,
            template=(resource.template_path or model.path).resolve(),
        )
        assert resource.code_dir is not None
        summary = assemble.summary_data(report, resource.code_dir, release=options.release)
        if resource.stack:
            # The parents' Parameters decide the resource's values: a warm replay needs them
            # unchanged too (the plan stamps the resource's own template).
            parents = [model.path, *_parents(model, resource.stack)]
            plan.save_stacks(
                str(model.path.parent), resource.logical_id, [str(p) for p in parents], started_ns
            )
        plan.finish(report.resource, str(report.dest), summary, makefile=bool(makefile_list))
    except OSError as exc:  # a full disk, a read-only store or build dir: the build cannot go on
        raise os_error(exc, f"building {resource_id} into {artifacts}", kind=BuildError) from None
    return 0


def _nested(root: Path, template: Path, local_id: str, artifacts: str) -> tuple[Template, Resource]:
    """A nested application's resource: which full ID this build serves (a child template used
    by two applications has one make target for both) from ARTIFACTS_DIR, as SAM lays out
    <build dir>/App/Child/Fn; its values resolved with the parameters its parents pass."""
    for full_id in plan.nested_ids(artifacts, local_id):
        stack = full_id.rsplit("/", 1)[0]
        model = load_stack(root, stack)
        resource = model.resources.get(full_id)
        found = resource.template_path if resource is not None else None
        if resource is not None and found is not None and found.resolve() == template:
            return model, resource
    raise UsageError(
        f"{artifacts}: not where {root.name} builds {local_id} of {template}",
        f"run `sam build` with {root}, or `samlink init` again if the Location changed",
    )


def _parents(model: Template, stack: str) -> list[Path]:
    """The templates of the stacks above `stack` ("App" for "App/Child"), outermost first."""
    parts = stack.split("/")
    return [model.stacks["/".join(parts[:end])].template_path for end in range(1, len(parts))]
