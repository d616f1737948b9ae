"""What a release build must hold, read from its `*.dist-info`: every distribution a resource's
requirements pin (`==`, markers evaluated for the function's runtime and architecture) at its
pinned version, and none installed from a live checkout (a `samlink link` of a dev or sync build).

A linked distribution's dist-info is written by samlink (`INSTALLER` is `samlink`) with a PEP 610
`direct_url.json` marked editable that names the checkout; builds made before that marker only
list their own metadata in `RECORD` (the code was links), which tells them apart from a local
project vendored on purpose by a release build (`--allow-local`: real files, all in `RECORD`).
A function that declares its libraries in `pyproject.toml` with a lock (samlink.build.declared)
is held to the lock instead: every locked distribution for its target, each local source's code
and version, and no distribution the lock holds only for dev groups. A declaration that cannot be
read, or a lock that no longer matches its pyproject files, is a problem too: check never proves
a build against what it could not read.
`samlink check` turns each problem into a finding with the same code.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from email.parser import HeaderParser
from pathlib import Path
from urllib.parse import unquote, urlparse

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from samlink.build import declared
from samlink.errors import UsageError
from samlink.model import requirements
from samlink.model.links import inspect_cached
from samlink.model.locked import LocalSource, LockExport
from samlink.model.project import ImportRoot, ProjectInfo, inspect_project
from samlink.model.target import target_for
from samlink.model.template import Resource, Template

# The finding codes this module gives `samlink check`.
CODES = (
    "linked-dist",
    "pin-missing",
    "pin-mismatch",
    "not-built",
    "source-missing",
    "source-mismatch",
    "dev-dist",
    "declared-unreadable",
    "lock-stale",
)
_REBUILD = "build for release: `SAMLINK_RELEASE=1 sam build`"
_RUN_SUFFIX = re.compile(r":\s*run `[^`]+`\s*$")
_LOCK_NAME = re.compile(r'^name\s*=\s*"([^"]+)"')


@dataclass(frozen=True)
class Installed:
    """One distribution in a build dir, as its dist-info says."""

    name: str  # canonical
    version: str
    info: Path  # the *.dist-info folder
    checkout: str | None  # the live checkout it comes from (a samlink link; "" unknown), or None


@dataclass(frozen=True)
class Problem:
    """One way a build dir differs from what the requirements declare."""

    code: str  # one of CODES
    message: str
    fix: str
    path: Path | None
    line: int | None
    resource: str


def installed(site: Path) -> dict[str, Installed]:
    """The distributions whose dist-info sits in `site`, by canonical name."""
    found: dict[str, Installed] = {}
    for info in sorted(site.glob("*.dist-info")):
        if not info.is_dir() or info.is_symlink():
            continue
        headers = HeaderParser().parsestr(_read(info / "METADATA"))
        stem_name, _, stem_version = info.name.removesuffix(".dist-info").rpartition("-")
        name = canonicalize_name(headers.get("Name") or stem_name)
        version = (headers.get("Version") or stem_version).strip()
        found[name] = Installed(name, version, info, linked_checkout(info))
    return found


def linked_checkout(info: Path) -> str | None:
    """The checkout a dist-info was linked from by a dev or sync build ("" when it does not
    say which), else None."""
    if _read(info / "INSTALLER").strip() != "samlink":
        return None
    try:
        direct = json.loads(_read(info / "direct_url.json") or "null")
    except ValueError:
        direct = None
    if isinstance(direct, dict):
        folder = direct.get("dir_info")
        if isinstance(folder, dict) and folder.get("editable") is True:
            url = str(direct.get("url", ""))
            return unquote(urlparse(url).path) if url.startswith("file:") else url
    rows = [row.split(",", 1)[0] for row in _read(info / "RECORD").splitlines() if row.strip()]
    # A dev build made before the mark: no files of its own (only links) and no WHEEL, which
    # every unpacked wheel has, a vendored one without files of its own (a meta-package) too.
    if rows and all(row.startswith(info.name + "/") for row in rows):
        return None if (info / "WHEEL").exists() else ""
    return None


def sites(folder: Path, resource: Resource) -> list[Path]:
    """Where a resource's build dir holds distributions (a layer: under python/)."""
    if resource.kind != "layer":
        return [folder]
    base = folder / "python"
    return [base, *sorted(base.glob("lib/python*/site-packages"))]


def pins(resource: Resource) -> list[requirements.Line]:
    """The `==` lines of a resource's requirements that apply to its runtime and architecture."""
    if resource.code_dir is None or resource.runtime is None:
        return []
    path = resource.code_dir / "requirements.txt"
    if not path.is_file():
        return []
    try:
        target = target_for(resource.runtime, resource.architecture)
        parsed = requirements.parse(path)
    except UsageError:
        return []  # not a Python runtime, or a file the source checks report as invalid
    env = requirements.target_environment(target.python_version, target.machine)
    return [
        line
        for line in parsed.lines
        if line.requirement is not None
        and line.path is None
        and _pinned(line.requirement)
        and requirements.applies(line.requirement.marker, env, frozenset())
    ]


def problems(template: Template, root: Path) -> list[Problem]:
    """Pinned distributions missing or at another version, linked ones, resources not built."""
    found: list[Problem] = []
    projects: dict[Path, ProjectInfo] = {}

    def inspect(path: Path) -> ProjectInfo:
        # The build inspected the same local sources: its cache answers while they are unchanged.
        if path not in projects:
            projects[path] = inspect_cached(template.path.parent, path)
        return projects[path]

    for resource in template.resources.values():
        if resource.code_dir is None or not (resource.runtime or "").startswith("python"):
            continue
        if resource.kind == "layer" and resource.build_method is None:
            continue  # SAM builds a layer only with a BuildMethod; it ships ContentUri as is
        folder = root / resource.logical_id
        if not folder.is_dir():
            found.append(
                Problem(
                    "not-built",
                    f"{resource.logical_id} is not in {root.name}/: check cannot prove what a "
                    "deploy would ship for it",
                    "build every function and layer: `SAMLINK_RELEASE=1 sam build` "
                    "(or --sources-only for the source checks alone)",
                    None,
                    None,
                    resource.logical_id,
                )
            )
            continue
        found += resource_problems(resource, folder, inspect)
    return found


@dataclass(frozen=True)
class Declaration:
    """What a resource's build is proved against: its pins (requirements.txt, or a lock's), the
    lock's answer when a lock declares them, and why it could not be read (or is stale)."""

    pins: tuple[requirements.Line, ...]
    export: LockExport | None
    problems: tuple[Problem, ...]


def declaration(resource: Resource) -> Declaration:
    """The pins a resource's build must hold: its requirements.txt's, or its lock's."""
    none = Declaration((), None, ())
    code_dir = resource.code_dir
    if code_dir is None or resource.runtime is None:
        return none
    if (code_dir / "requirements.txt").is_file():
        return Declaration(tuple(pins(resource)), None, ())
    try:
        target = target_for(resource.runtime, resource.architecture)
    except UsageError:
        return none  # not a Python runtime
    rid = resource.logical_id
    pyproject = code_dir / "pyproject.toml"
    try:
        found = declared.read(code_dir, target)
        stale = declared.lock_problem(found)
    except UsageError as exc:  # a BuildError too: uv missing or failing
        problem = Problem(
            "declared-unreadable",
            f"{exc.message}: check cannot prove what a deploy would ship for {rid}",
            exc.hint or "fix the declaration and build again",
            pyproject if pyproject.is_file() else None,
            None,
            rid,
        )
        return Declaration((), None, (problem,))
    export = found.export
    if export is None:
        return none
    problems: list[Problem] = []
    if stale is not None:
        relock = "`uv lock`" if export.tool == "uv" else "`poetry lock`"
        problems.append(
            Problem(
                "lock-stale",
                f"{rid}: {staleness(stale, export.lock)}: the build follows the lock, not what "
                "the pyproject files declare now",
                f"run {relock}, commit the lock, then {_REBUILD}",
                export.lock,
                None,
                rid,
            )
        )
    text = _read(export.lock)
    locked = tuple(
        replace(line, lineno=_lock_line(text, line.requirement.name) or line.lineno)
        for line in found.requirements.lines
        if line.requirement is not None and line.path is None and _pinned(line.requirement)
    )
    return Declaration(locked, export, tuple(problems))


def staleness(problem: str, lock: Path) -> str:
    """The lock reader's stale line, shorter: the lock by name, without its own "run ..." (the
    fix says what to run)."""
    text = problem.replace(str(lock), lock.name)
    return _RUN_SUFFIX.sub("", text)


def declaration_problems(template: Template) -> list[Problem]:
    """The declarations that cannot be read or whose lock is stale, without a build dir (what
    `samlink check --sources-only` can still prove)."""
    found: list[Problem] = []
    seen: set[Path] = set()
    for resource in template.managed():
        if resource.code_dir is None or resource.code_dir in seen:
            continue
        seen.add(resource.code_dir)
        found += declaration(resource).problems
    return found


def resource_problems(
    resource: Resource, folder: Path, inspect: Callable[[Path], ProjectInfo] = inspect_project
) -> list[Problem]:
    """The problems of one resource's build dir against what it declares (`inspect` reads a
    local source's name, version and import packages)."""
    present: dict[str, Installed] = {}
    for site in sites(folder, resource):
        present.update(installed(site))
    rid = resource.logical_id
    declared_set = declaration(resource)
    found: list[Problem] = list(declared_set.problems)
    export = declared_set.export
    pinned_word = f"locked in {export.lock.name}" if export else "pinned"
    who = f"{rid}: " if export else ""  # a lock may serve several functions: name this one
    pinned: dict[str, requirements.Line] = {}
    for line in declared_set.pins:
        assert line.requirement is not None
        name = canonicalize_name(line.requirement.name)
        pinned[name] = line
        dist = present.get(name)
        if dist is None:
            found.append(
                Problem(
                    "pin-missing",
                    f"{who}{line.requirement} is {pinned_word} but not in the build: a deploy "
                    "would ship without it",
                    f"rebuild; {_REBUILD}",
                    line.file,
                    line.lineno,
                    rid,
                )
            )
        elif dist.checkout is None and (gone := _missing_tops(dist.info)):
            found.append(
                Problem(
                    "pin-missing",
                    f"{who}{line.requirement} is {pinned_word} and its dist-info is in the "
                    f"build, but not {', '.join(gone[:3])}: a deploy would ship without it",
                    f"rebuild; {_REBUILD}",
                    line.file,
                    line.lineno,
                    rid,
                )
            )
        elif dist.checkout is None and not _matches(line.requirement, dist.version):
            found.append(
                Problem(
                    "pin-mismatch",
                    f"{who}{dist.name} {dist.version} in the build ({dist.info.name}), but the "
                    f"{'lock says' if export else 'requirements pin'} "
                    f"{line.requirement.specifier}",
                    f"rebuild; {_REBUILD}",
                    line.file,
                    line.lineno,
                    rid,
                )
            )
    if export is not None:
        for source in export.local_sources:
            found += _source_problems(source, export, present, resource, folder, inspect)
        for dev_name in sorted(export.dev_only):
            dist = present.get(canonicalize_name(dev_name))
            if dist is None or dist.checkout is not None:
                continue
            found.append(
                Problem(
                    "dev-dist",
                    f"{rid}: {dist.name} {dist.version} is in the build, but {export.lock.name} "
                    "holds it only for dev groups or extras: a deploy would ship a development "
                    "tool",
                    f"{_REBUILD} (it installs the main dependencies only)",
                    dist.info,
                    None,
                    rid,
                )
            )
    for dist in present.values():
        if dist.checkout is None:
            continue
        pin = pinned[dist.name].requirement if dist.name in pinned else None
        instead = (
            f", not the pinned {pin.specifier}"
            if pin is not None and not _matches(pin, dist.version)
            else ""
        )
        checkout = f"the live checkout {dist.checkout}" if dist.checkout else "a live checkout"
        found.append(
            Problem(
                "linked-dist",
                f"{dist.name} {dist.version} is installed from {checkout} (a dev or sync "
                f"build's link){instead}: a deploy would ship this machine's work in progress",
                f"{_REBUILD} (links are ignored there)",
                dist.info,
                None,
                rid,
            )
        )
    return found


def _source_problems(
    source: LocalSource,
    export: LockExport,
    present: dict[str, Installed],
    resource: Resource,
    folder: Path,
    inspect: Callable[[Path], ProjectInfo],
) -> list[Problem]:
    """A local source the lock declares: its dist-info at its pyproject's version, and each of
    its import packages with every module of the checkout, as files in the build."""
    rid = resource.logical_id
    dist = present.get(canonicalize_name(source.name))
    if dist is not None and dist.checkout is not None:
        return []  # a dev or sync build's link: `linked-dist` says so
    where = os.path.relpath(source.path, export.lock.parent)
    try:
        info = inspect(source.path)
    except UsageError as exc:
        return [
            Problem(
                "declared-unreadable",
                f"local source {source.name} ({where}) declared in {export.lock.name} cannot be "
                f"read: {exc.message}: check cannot prove what a deploy would ship for {rid}",
                exc.hint or "fix the project, or lock again",
                export.lock,
                _lock_line(_read(export.lock), source.name),
                rid,
            )
        ]
    missing = _missing_code(info.imports, sites(folder, resource))
    if dist is None or missing:
        what = ", ".join(missing[:3]) if dist is not None else f"its dist-info ({source.name})"
        return [
            Problem(
                "source-missing",
                f"{rid}: local source {source.name} {info.version} ({where}) is declared in "
                f"{export.lock.name}, but {what} is not in the build: a deploy would ship "
                "without it",
                f"rebuild; {_REBUILD}",
                export.lock,
                _lock_line(_read(export.lock), source.name),
                rid,
            )
        ]
    if dist.version != info.version:
        return [
            Problem(
                "source-mismatch",
                f"{rid}: local source {source.name} {dist.version} in the build "
                f"({dist.info.name}), "
                f"but its pyproject ({where}) says {info.version}",
                f"rebuild; {_REBUILD}",
                dist.info,
                None,
                rid,
            )
        ]
    return []


def _missing_code(imports: tuple[ImportRoot, ...], places: list[Path]) -> list[str]:
    """The import roots (and, for packages, their modules) that no site of the build holds."""
    missing: list[str] = []
    for root in imports:
        site = next((s for s in places if os.path.exists(s / root.name)), None)
        if site is None:
            missing.append(root.name)
            continue
        if root.kind != "package":
            continue
        for module in sorted(root.source.rglob("*.py")):
            rel = module.relative_to(root.source)
            if "__pycache__" in rel.parts:
                continue
            if not (site / root.name / rel).is_file():
                missing.append(f"{root.name}/{rel.as_posix()}")
    return missing


def _lock_line(text: str, name: str) -> int | None:
    """The line of a lock that names a package (`name = "..."` in uv.lock and poetry.lock)."""
    wanted = canonicalize_name(name)
    for number, line in enumerate(text.splitlines(), start=1):
        match = _LOCK_NAME.match(line)
        if match and canonicalize_name(match.group(1)) == wanted:
            return number
    return None


def _missing_tops(info: Path) -> list[str]:
    """The top-level entries the dist-info's RECORD lists that are not beside it."""
    tops: set[str] = set()
    for row in _read(info / "RECORD").splitlines():
        top = row.split(",", 1)[0].split("/", 1)[0]
        # Console scripts (`bin/`) are dropped on purpose, and `..` leaves the site dir.
        if top and top not in (info.name, "bin", "..") and not top.startswith("../"):
            tops.add(top)
    return sorted(top for top in tops if not os.path.lexists(info.parent / top))


def _pinned(requirement: Requirement) -> bool:
    return any(
        spec.operator == "===" or (spec.operator == "==" and not spec.version.endswith(".*"))
        for spec in requirement.specifier
    )


def _matches(requirement: Requirement, version: str) -> bool:
    try:
        parsed = Version(version)
    except InvalidVersion:
        # `===` compares strings; anything else cannot match a version that does not parse.
        return all(s.operator == "===" and s.version == version for s in requirement.specifier)
    return requirement.specifier.contains(parsed, prereleases=True)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
