"""`samlink build`: the body of a generated make target."""

from __future__ import annotations

import os
from pathlib import Path

from samlink.build import assemble, makefile, plan
from samlink.errors import BuildError, UsageError, os_error
from samlink.model.template import load_template


def run(
    resource_id: str, *, template: Path | None, makefile_list: str | None, options: assemble.Options
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
    else:
        template_path = template or Path("template.yaml")
    model = load_template(template_path.resolve())
    resource = model.get(resource_id)
    try:
        report = assemble.build(
            resource, model.path.parent, Path(artifacts).resolve(), options, template=model.path
        )
        assert resource.code_dir is not None
        summary = assemble.summary_data(report, resource.code_dir, release=options.release)
        plan.finish(report.resource, str(report.dest), summary, makefile=bool(makefile_list))
    except OSError as exc:  # a full disk, a read-only store or build dir: the build cannot go on
        raise os_error(exc, f"building {resource_id} into {artifacts}", kind=BuildError) from None
    return 0
