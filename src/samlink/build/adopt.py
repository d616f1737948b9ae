"""What `samlink init` writes: makefile builds in the template, Makefiles, SAM config, .gitignore.

`plan` is pure of effects: it returns every file's old and new text, so `init` writes them,
`init --dry-run` prints them and `samlink check` reports them as drift.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from samlink.build import makefile
from samlink.errors import UsageError
from samlink.model import root, samconfig
from samlink.model.template import Resource, Template, add_makefile_build

GITIGNORE_LINE = ".samlink/"


def plan(
    template: Template, chosen: list[Resource], *, force: bool, config_env: str = "default"
) -> list[tuple[Path, str, str]]:
    """Every file `init` would write for `chosen`, as (path, old text, new text); changes only."""
    project_dir = template.path.parent
    changes: list[tuple[Path, str, str]] = []
    # Each template (the root's, a nested application's) is edited in place, once, with its
    # own logical IDs: a child used by two applications has one resource for both full IDs.
    by_template: dict[Path, dict[str, None]] = {}
    for resource in chosen:
        ids = by_template.setdefault(resource.template_path or template.path, {})
        ids[resource.local_id] = None
    for path, ids in by_template.items():
        old, new = add_makefile_build(path, list(ids))
        changes.append((path, old, new))
    changes += _makefiles(template.path, chosen, force=force)
    config_path, old_config, new_config = samconfig.enable_mount_symlinks(project_dir, config_env)
    changes.append((config_path, old_config, new_config))
    changes.append(_gitignore(project_dir))
    return [change for change in changes if change[1] != change[2]]


def outside_project(template: Template, chosen: list[Resource]) -> list[tuple[Resource, Path]]:
    """The chosen resources whose code dir (where init writes a Makefile) leaves the project."""
    roots = root.project_roots(template.path)
    return [
        (resource, resource.code_dir)
        for resource in chosen
        if resource.code_dir is not None and not root.inside_project(resource.code_dir, roots)
    ]


def _makefiles(
    template_path: Path, chosen: list[Resource], *, force: bool
) -> list[tuple[Path, str, str]]:
    by_dir: dict[Path, list[Resource]] = defaultdict(list)
    for resource in chosen:
        assert resource.code_dir is not None
        by_dir[resource.code_dir].append(resource)
    changes = []
    for code_dir, resources in by_dir.items():
        if not code_dir.is_dir():
            raise UsageError(
                f"{resources[0].logical_id}: code dir {code_dir} does not exist",
                "fix CodeUri/ContentUri in the template",
            )
        path = code_dir / "Makefile"
        existing = path.read_text(encoding="utf-8") if path.exists() else ""
        specs: dict[str, makefile.TargetSpec] = {}
        for r in resources:  # a child used by two applications: one target for both full IDs
            specs.setdefault(
                r.local_id,
                makefile.TargetSpec(
                    logical_id=r.local_id,
                    kind=r.kind,
                    python_version=(r.runtime or "python3.12").removeprefix("python"),
                    architecture=r.architecture,
                    template_relpath=makefile.template_relpath(
                        r.template_path or template_path, code_dir
                    ),
                    root_relpath=makefile.template_relpath(template_path, code_dir)
                    if r.stack
                    else None,
                ),
            )
        rendered = makefile.render(existing, list(specs.values()), force=force, path=path)
        changes.append((path, existing, rendered))
    return changes


def _gitignore(project_dir: Path) -> tuple[Path, str, str]:
    path = project_dir / ".gitignore"
    existing = path.read_text(encoding="utf-8") if path.exists() else ""
    lines = {line.strip() for line in existing.splitlines()}
    if lines & {GITIGNORE_LINE, ".samlink", "/.samlink/", "/.samlink"}:
        return path, existing, existing
    prefix = existing if not existing or existing.endswith("\n") else existing + "\n"
    return (
        path,
        existing,
        prefix + "# samlink: links and caches of this machine\n" + GITIGNORE_LINE + "\n",
    )
