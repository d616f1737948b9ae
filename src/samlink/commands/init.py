"""`samlink init`: switch Python functions and layers to makefile builds."""

from __future__ import annotations

import difflib
from collections import defaultdict
from pathlib import Path

import click

from samlink import atomicfile, makefile, samconfig
from samlink.errors import UsageError
from samlink.template import Resource, Template, add_makefile_build, load_template

GITIGNORE_LINE = ".samlink/"


def run(
    template_path: Path,
    ids: tuple[str, ...],
    *,
    dry_run: bool,
    force: bool,
    config_env: str = "default",
) -> int:
    template = load_template(template_path)
    chosen = template.select(list(ids))
    if not chosen:
        raise UsageError(
            f"{template.path}: no Python function or layer that samlink manages",
            "`samlink status` shows each resource and why it is not managed",
        )
    project_dir = template.path.parent
    changes = plan(template, chosen, force=force, config_env=config_env)
    if dry_run:
        for path, before, after in changes:
            click.echo(
                "".join(
                    difflib.unified_diff(
                        before.splitlines(keepends=True),
                        after.splitlines(keepends=True),
                        fromfile=f"a/{_display(path, project_dir)}",
                        tofile=f"b/{_display(path, project_dir)}",
                    )
                ),
                nl=False,
            )
        click.echo(f"samlink init: dry run, {len(changes)} file(s) would change", err=True)
        return 0
    for path, _before, after in changes:
        atomicfile.write_text(path, after)
    for resource in template.resources.values():
        if not resource.managed:
            click.echo(
                f"samlink init: {resource.logical_id} not managed: {resource.reason}", err=True
            )
    names = ", ".join(r.logical_id for r in chosen)
    wrote = ", ".join(_display(p, project_dir) for p, _, _ in changes) or "nothing (already set up)"
    click.echo(f"samlink init: {names} on makefile builds; wrote {wrote}", err=True)
    return 0


def plan(
    template: Template, chosen: list[Resource], *, force: bool, config_env: str = "default"
) -> list[tuple[Path, str, str]]:
    """Every file `init` would write for `chosen`, as (path, old text, new text); changes only."""
    project_dir = template.path.parent
    changes: list[tuple[Path, str, str]] = []
    old, new = add_makefile_build(template.path, [r.logical_id for r in chosen])
    changes.append((template.path, old, new))
    changes += _makefiles(template.path, chosen, force=force)
    config_path, old_config, new_config = samconfig.enable_mount_symlinks(project_dir, config_env)
    changes.append((config_path, old_config, new_config))
    changes.append(_gitignore(project_dir))
    return [change for change in changes if change[1] != change[2]]


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
        specs = [
            makefile.TargetSpec(
                logical_id=r.logical_id,
                kind=r.kind,
                python_version=(r.runtime or "python3.12").removeprefix("python"),
                architecture=r.architecture,
                template_relpath=makefile.template_relpath(template_path, code_dir),
            )
            for r in resources
        ]
        changes.append((path, existing, makefile.render(existing, specs, force=force, path=path)))
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


def _display(path: Path, base: Path) -> str:
    try:
        return str(path.relative_to(base))
    except ValueError:
        return str(path)
