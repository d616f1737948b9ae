"""What `samlink init` writes: makefile builds in the template, Makefiles, SAM config, .gitignore.

`plan` is pure of effects: it returns every file's old and new text, so `init` writes them,
`init --dry-run` prints them and `samlink check` reports them as drift.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from samlink.build import makefile, uv_export
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
        declared = declared_kind(code_dir)
        specs: dict[str, makefile.TargetSpec] = {}
        for r in resources:  # a child used by two applications: one target for both full IDs
            specs.setdefault(
                r.local_id,
                makefile.TargetSpec(
                    logical_id=r.local_id,
                    kind=r.kind,
                    declared=declared,
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


def declared_kind(code_dir: Path) -> str:
    """What declares a code dir's libraries, in samlink.build.declared's order but without
    running anything: "requirements" (requirements.txt wins; also a code dir with neither),
    "uv" (pyproject.toml with a uv.lock here or at its workspace root) or "poetry" (with a
    poetry.lock here). The make target's fallback without samlink follows it."""
    pyproject = code_dir / "pyproject.toml"
    if (code_dir / "requirements.txt").is_file() or not pyproject.is_file():
        return "requirements"
    poetry = (code_dir / "poetry.lock").is_file()
    here = (code_dir / uv_export.LOCK).is_file()
    if (here or not poetry) and uv_export.find_lock(code_dir) is not None:
        return "uv"
    # A pyproject without a lock (tool settings only, or a lock still to make): samlink build
    # says what is missing; the fallback copies the code as before.
    return "poetry" if poetry else "requirements"


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
