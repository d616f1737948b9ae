"""`samlink link` and `samlink unlink`: this machine's local checkouts."""

from __future__ import annotations

from pathlib import Path

import click
from packaging.utils import canonicalize_name

from samlink import locks
from samlink.errors import UsageError
from samlink.model import links
from samlink.model.project import ProjectInfo, is_python_project
from samlink.model.template import Resource, load_template


def link(template_path: Path, path: Path, *, name: str | None, functions: tuple[str, ...]) -> int:
    # links.json is read, changed and written whole: two at once would lose one's change.
    with locks.project_lock(template_path.resolve().parent):
        return _link(template_path, path, name=name, functions=functions)


def _link(template_path: Path, path: Path, *, name: str | None, functions: tuple[str, ...]) -> int:
    template = load_template(template_path)
    project_dir = template.path.parent
    try:
        root = path.expanduser().resolve()
    except (OSError, RuntimeError):  # Python 3.13 says OSError (ELOOP), older ones RuntimeError
        raise UsageError(f"{path} is a symlink loop", "link the checkout's real folder") from None
    if not root.is_dir() or not is_python_project(root):
        raise UsageError(
            f"{path} is not a Python project",
            "link a folder that holds pyproject.toml, setup.py or setup.cfg",
        )
    for function in functions:
        resource = template.get(function)
        if not resource.managed:
            raise UsageError(
                f"{function} is not managed by samlink: {resource.reason}",
                "link it to a Python function or layer with a local code dir",
            )
    resources = list(template.resources.values())
    # Read every requirements file first: a bad line fails here, before anything is written.
    links.reaches(links.Link(name=name or root.name, path=root), resources)
    info = links.inspect_cached(project_dir, root)
    if name and canonicalize_name(name) != canonicalize_name(info.name):
        raise UsageError(
            f"{path} is {info.name}, not {name}", f"drop --name, or pass --name {info.name}"
        )
    new = links.Link(name=canonicalize_name(info.name), path=root, functions=functions)
    current = [item for item in links.load(project_dir) if item.key != new.key]
    reached = links.reaches(new, resources)
    _refuse_clashes(project_dir, info, reached, current, resources)
    links.save(project_dir, [*current, new], links.load_unlinked(project_dir) - {new.key})
    imports = ", ".join(item.name for item in info.imports) or "no import packages"
    click.echo(f"linked {info.name} {info.version} ({imports}) from {root}")
    if reached:
        click.echo(f"  reaches: {', '.join(reached)}; run `sam build` to use it")
    else:
        click.echo(
            "  reaches no function yet: no requirements.txt names it "
            "(add --function ID to link it anyway)",
            err=True,
        )
    for resource in resources:
        excluded = resource.logical_id in reached and links.python_excluded(info, resource.runtime)
        if excluded:
            click.echo(
                f"  warning: {excluded}, which {resource.logical_id} runs: it may fail to import",
                err=True,
            )
    if info.unmapped:
        click.echo(
            f"  warning: {len(info.unmapped)} built file(s) have no source to link "
            f"(e.g. {info.unmapped[0]}); they are not live",
            err=True,
        )
    return 0


def _refuse_clashes(
    project_dir: Path,
    info: ProjectInfo,
    reached: list[str],
    current: list[links.Link],
    resources: list[Resource],
) -> None:
    """Refuse a link whose import packages another link already provides to the same functions."""
    for other in current:
        shared = sorted(set(reached) & set(links.reaches(other, resources)))
        if not shared or not other.path.is_dir():
            continue
        other_info = links.inspect_cached(project_dir, other.path)
        for clash in links.import_clashes([info, other_info]):
            raise UsageError(
                f"{clash.describe()}, and {', '.join(shared)} would get both: one would "
                "silently hide the other",
                f"`samlink unlink {other.key}` first, or link each to other functions with "
                "--function",
            )


def unlink(template_path: Path, names: tuple[str, ...], *, all_links: bool) -> int:
    with locks.project_lock(template_path.resolve().parent):
        return _unlink(template_path, names, all_links=all_links)


def _unlink(template_path: Path, names: tuple[str, ...], *, all_links: bool) -> int:
    project_dir = template_path.resolve().parent
    if all_links:
        # The hint for an unreadable registry: it must work without reading it.
        try:
            removed = [item.key for item in links.load(project_dir)]
        except UsageError:
            removed = ["every link (the registry was unreadable)"]
        links.save(project_dir, [], frozenset())  # declared sources are linked again, too
        click.echo(
            f"unlinked {', '.join(removed) or 'nothing'}; run `sam build` to go back to the pins"
        )
        return 0
    if not names:
        raise UsageError("nothing to unlink", "name a linked distribution, or pass --all")
    current = links.load(project_dir)
    known = {item.key for item in current}
    unlinked = links.load_unlinked(project_dir)
    drop = {canonicalize_name(name) for name in names}
    declared = _declared_sources(template_path) if drop - known else {}
    for name in names:
        key = canonicalize_name(name)
        if key not in known and key not in declared:
            everything = sorted(known | (set(declared) - unlinked))
            raise UsageError(
                f"{name} is not linked", f"linked: {', '.join(everything) or 'nothing'}"
            )
    keep = [item for item in current if item.key not in drop]
    removed = [item.key for item in current if item not in keep]
    # A source that a pyproject.toml declares stays linked unless turned off here: dev builds
    # then install it as a real copy (built from a temp copy, as a release does).
    copies = {key for key in drop - known if key in declared}
    links.save(project_dir, keep, unlinked | copies)
    if removed:
        click.echo(f"unlinked {', '.join(removed)}; run `sam build` to go back to the pins")
    for key in sorted(copies):
        click.echo(
            f"unlinked {key} (declared in {declared[key]}): dev builds install a copy of it; "
            "`samlink unlink --all` links it again"
        )
    return 0


def _declared_sources(template_path: Path) -> dict[str, str]:
    """The local sources the template's functions and layers declare in pyproject.toml, each
    with the pyproject.toml of a function that declares it."""
    from samlink.build import declared
    from samlink.model.target import target_for

    found: dict[str, str] = {}
    for resource in load_template(template_path).managed():
        assert resource.code_dir is not None and resource.runtime is not None
        if not declared.input_files(resource.code_dir):
            continue  # a requirements file declares it: unlink has nothing to read there
        target = target_for(resource.runtime, resource.architecture)
        inputs = declared.read(resource.code_dir, target)
        for line in inputs.requirements.local_lines:
            if line.name and declared.origin_of(line) and inputs.source is not None:
                found.setdefault(line.name, str(inputs.source))
    return found
