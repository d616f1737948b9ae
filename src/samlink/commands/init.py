"""`samlink init`: switch Python functions and layers to makefile builds."""

from __future__ import annotations

import difflib
from pathlib import Path

import click

from samlink import atomicfile, locks
from samlink.build import adopt
from samlink.errors import UsageError
from samlink.model.template import REMOTE_REASON, load_template


def run(
    template_path: Path,
    ids: tuple[str, ...],
    *,
    dry_run: bool,
    force: bool,
    config_env: str = "default",
) -> int:
    # Every file init writes is read, merged and written whole: a second init at the same time
    # would undo the first one's change.
    with locks.project_lock(template_path.resolve().parent):
        return _run(template_path, ids, dry_run=dry_run, force=force, config_env=config_env)


def _run(
    template_path: Path,
    ids: tuple[str, ...],
    *,
    dry_run: bool,
    force: bool,
    config_env: str,
) -> int:
    template = load_template(template_path)
    chosen = template.select(list(ids))
    if not chosen:
        raise UsageError(
            f"{template.path}: no Python function or layer that samlink manages",
            "`samlink status` shows each resource and why it is not managed",
        )
    project_dir = template.path.parent
    for resource, code_dir in adopt.outside_project(template, chosen):
        where = f"{resource.logical_id}: code dir {code_dir} is outside the project"
        if not force:
            raise UsageError(
                f"{where}: samlink init would write a Makefile there",
                "fix CodeUri/ContentUri, or pass --force to write it anyway",
            )
        doing = "would write" if dry_run else "writing"
        click.echo(f"samlink init: warning: {where}; --force: {doing} its Makefile", err=True)
    changes = adopt.plan(template, chosen, force=force, config_env=config_env)
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
    try:
        atomicfile.write_all([(path, after) for path, _before, after in changes])
    except OSError as err:
        raise UsageError(
            f"cannot write {err.filename}: {err.strerror}; nothing was changed",
            "make the template, its code dirs and the SAM config writable, then run "
            "`samlink init` again",
        ) from None
    for resource in template.resources.values():
        if not resource.managed:
            click.echo(
                f"samlink init: {resource.logical_id} not managed: {resource.reason}", err=True
            )
    for full_id in template.remote:
        click.echo(f"samlink init: {full_id} not managed: {REMOTE_REASON}", err=True)
    for resource in chosen:
        assert resource.code_dir is not None
        kind = adopt.declared_kind(resource.code_dir)
        if kind in _WITHOUT_SAMLINK:
            click.echo(
                f"samlink init: {resource.logical_id}: libraries from pyproject.toml + "
                f"{kind}.lock; {_WITHOUT_SAMLINK[kind]}",
                err=True,
            )
    names = ", ".join(r.logical_id for r in chosen)
    wrote = ", ".join(_display(p, project_dir) for p, _, _ in changes) or "nothing (already set up)"
    click.echo(f"samlink init: {names} on makefile builds; wrote {wrote}", err=True)
    return 0


# What `sam build` does for a function declared with a lock where samlink is not installed.
_WITHOUT_SAMLINK = {
    "uv": "without samlink, its target installs the locked set with uv (or stops: no uv)",
    "poetry": "without samlink, `sam build` stops there with one line (install samlink)",
}


def _display(path: Path, base: Path) -> str:
    try:
        return str(path.relative_to(base))
    except ValueError:
        return str(path)
