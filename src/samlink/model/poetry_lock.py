"""Poetry's lock read for one Lambda target: what `poetry install --only main` would install there.

Poetry 2 writes lock-version 2.1: every locked package says which dependency groups reach it and,
per group, under which marker (Poetry worked both out over the whole graph, extras that a
dependency asks for included). `poetry install` keeps the packages of the groups it installs whose
marker holds for the environment, without resolving again. samlink does exactly that for the
function's Lambda target (Linux, its architecture, its runtime's Python), so it resolves nothing
itself. Older locks (lock-version < 2.1, written by Poetry < 2) lack those fields and Poetry
resolves them again on install: samlink asks for a `poetry lock` with Poetry 2 instead.

Staleness is Poetry's own content-hash: the sha256 of the pyproject's relevant keys as Poetry 2
computes it (`poetry.packages.locker.Locker._get_content_hash`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from packaging.markers import InvalidMarker, Marker, UndefinedComparison, UndefinedEnvironmentName
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from samlink.errors import UsageError
from samlink.model import tomlfile
from samlink.model.locked import LocalSource, LockedPackage, LockExport
from samlink.model.requirements import target_environment
from samlink.model.target import Target

# The lock formats whose packages carry `groups` and `markers` (Poetry >= 2.0 writes 2.1).
_READ_FROM = Version("2.1")
_READ_BELOW = Version("3")
_MAIN = "main"
_RELOCK = "run `poetry lock` with Poetry 2 (it keeps the locked versions)"
# Poetry < 2.3 left [dependency-groups] out of the content-hash (Locker.is_fresh allows for it).
_GROUPS_HASHED_SINCE = Version("2.3.0")
_GENERATED_BY = re.compile(r"Poetry ([^ ]+)")
# Keys of the pyproject that Poetry's content-hash covers (Locker._relevant_*).
_LEGACY_KEYS = ("dependencies", "source", "extras", "dev-dependencies")
_POETRY_KEYS = (*_LEGACY_KEYS, "group")
_PROJECT_KEYS = ("requires-python", "dependencies", "optional-dependencies")


def export(pyproject: Path, lock: Path, target: Target) -> LockExport:
    """What poetry.lock gives the function's main dependencies on `target`, markers evaluated."""
    data = _read(lock, "poetry.lock")
    _check_version(lock, data)
    _check_python(lock, data, target)
    env = {**target_environment(target.python_version, target.machine), "extra": ""}
    packages: dict[str, LockedPackage] = {}
    sources: dict[str, LocalSource] = {}
    locked: set[str] = set()
    main: set[str] = set()
    entries = data.get("package", [])
    if not isinstance(entries, list):
        raise _format_error(lock, "[[package]] is not a list of tables")
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise _format_error(lock, "a [[package]] has no name")
        name = entry["name"]
        key = canonicalize_name(name)
        locked.add(key)
        if not _in_main(lock, entry):
            continue
        main.add(key)
        if not _holds(lock, name, _main_marker(lock, entry), env):
            continue
        if key in packages or key in sources:
            raise UsageError(
                f"{lock}: {name} is locked twice for {target.describe()}",
                f"{_RELOCK}; the lock should hold one version per target",
            )
        source = entry.get("source") or {}
        kind = source.get("type") if isinstance(source, dict) else None
        if kind == "directory":
            sources[key] = _local_source(lock, entry, source)
        elif kind in (None, "legacy"):
            # A package from a named index (`legacy`) is installed by name, version and hash
            # like the rest: the hashes refuse anything but the locked files.
            packages[key] = _locked_package(lock, entry)
        else:
            raise UsageError(
                f"{lock}: {name} comes from a {kind} source ({source.get('url', '?')}), which "
                "samlink does not build",
                "publish it to an index, or check it out and declare it with "
                "`{ path = ..., develop = true }`",
            )
    inputs = [lock, pyproject]
    for local in sources.values():
        inputs.append(_project_file(local.path))
    return LockExport(
        tool="poetry",
        pyproject=pyproject,
        lock=lock,
        packages=tuple(sorted(packages.values(), key=lambda p: canonicalize_name(p.name))),
        local_sources=tuple(sorted(sources.values(), key=lambda s: canonicalize_name(s.name))),
        dev_only=frozenset(locked - main),
        inputs=tuple(inputs),
    )


def stale(pyproject: Path, lock: Path) -> str | None:
    """None when poetry.lock is fresh for pyproject.toml (Poetry's content-hash), else why not."""
    project = _read(pyproject, "pyproject.toml")
    data = _read(lock, "poetry.lock")
    metadata = data.get("metadata")
    recorded = metadata.get("content-hash") if isinstance(metadata, dict) else None
    out_of_date = f"{lock} is out of date with its pyproject.toml: run `poetry lock`"
    if not isinstance(recorded, str):
        return f"{lock} has no content-hash: run `poetry lock`"
    if recorded != content_hash(project):
        version = _written_by(lock)
        old = version is not None and version < _GROUPS_HASHED_SINCE
        if not (old and recorded == content_hash(project, with_groups=False)):
            return out_of_date
    return _stale_path_dependency(lock, data)


def indexes(lock: Path) -> tuple[str, ...]:
    """The package indexes other than PyPI that `lock` installs from (its `legacy` sources)."""
    found: list[str] = []
    for entry in _read(lock, "poetry.lock").get("package", []):
        source = entry.get("source") if isinstance(entry, dict) else None
        url = source.get("url") if isinstance(source, dict) else None
        if source and source.get("type") == "legacy" and isinstance(url, str) and url not in found:
            found.append(url)
    return tuple(found)


def content_hash(pyproject: Mapping[str, Any], *, with_groups: bool = True) -> str:
    """The content-hash Poetry 2 records in poetry.lock for this pyproject's data."""
    project = pyproject.get("project", {})
    groups = pyproject.get("dependency-groups", {}) if with_groups else {}
    poetry = pyproject.get("tool", {}).get("poetry", {})
    relevant_project = {k: project[k] for k in _PROJECT_KEYS if project.get(k) is not None}
    relevant_poetry: dict[str, Any] = {}
    for key in _POETRY_KEYS:
        value = poetry.get(key)
        # Poetry keeps a missing legacy key (as null) only when [project] and
        # [dependency-groups] add nothing: the hash of a Poetry 1 pyproject stays what it was.
        if value is None and (key not in _LEGACY_KEYS or relevant_project or groups):
            continue
        relevant_poetry[key] = value
    relevant: dict[str, Any] = {}
    if relevant_project:
        relevant["project"] = relevant_project
    if groups:
        relevant["dependency-groups"] = groups
    if relevant:
        relevant["tool"] = {"poetry": relevant_poetry}
    else:
        relevant = relevant_poetry
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()


def _read(path: Path, what: str) -> dict[str, Any]:
    try:
        return tomlfile.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{path} not found", f"create it (`poetry lock` writes {what})") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}", "check its permissions") from None
    except tomlfile.ERRORS as exc:
        raise UsageError(f"{path} is not valid TOML ({exc})", f"fix {what}") from None


def _check_version(lock: Path, data: Mapping[str, Any]) -> None:
    metadata = data.get("metadata")
    raw = metadata.get("lock-version") if isinstance(metadata, dict) else None
    try:
        version = Version(str(raw)) if raw is not None else None
    except ValueError:
        version = None
    if version is None:
        raise UsageError(
            f"{lock} has no [metadata] lock-version: not a lock samlink reads", _RELOCK
        )
    if version < _READ_FROM:
        raise UsageError(
            f"{lock} has lock-version {raw}, written by Poetry < 2, which does not record the "
            "groups and markers of each package",
            _RELOCK,
        )
    if version >= _READ_BELOW:
        raise UsageError(
            f"{lock} has lock-version {raw}, newer than samlink reads (2.x)",
            "upgrade samlink, or lock with a Poetry 2 release",
        )


def _check_python(lock: Path, data: Mapping[str, Any], target: Target) -> None:
    metadata = data.get("metadata", {})
    constraint = metadata.get("python-versions") if isinstance(metadata, dict) else None
    if not isinstance(constraint, str):
        return
    allowed = _python_allows(constraint, target.python_version)
    if allowed is False:
        raise UsageError(
            f"{lock} is locked for Python {constraint}, the function runs python"
            f"{target.python_version}",
            "change the Runtime in the template, or the project's Python and `poetry lock`",
        )


def _python_allows(constraint: str, python_version: str) -> bool | None:
    """Whether a Poetry Python constraint admits a runtime ("3.12"); None if not understood."""
    # Lambda runs the newest patch release of its minor version, which samlink does not know:
    # the minor is admitted if its first or a late patch release is.
    candidates = (Version(f"{python_version}.0"), Version(f"{python_version}.99"))
    for alternative in re.split(r"\|\|?", constraint):
        specifiers = _specifiers(alternative)
        if specifiers is None:
            return None
        if any(specifiers.contains(v, prereleases=True) for v in candidates):
            return True
    return False


def _specifiers(alternative: str) -> SpecifierSet | None:
    """Poetry's `^3.10`, `~3.10`, `>=3.10,<4.0`, `>=3.10 <4.0`, `3.10.*`, `*` as PEP 440."""
    tokens = re.sub(r"(==|!=|<=|>=|~=|<|>|\^|~)\s+", r"\1", alternative.replace(",", " ")).split()
    parts: list[str] = []
    for token in tokens:
        if token == "*":
            continue
        caret = token.startswith("^")
        tilde = token.startswith("~") and not token.startswith("~=")
        if caret or tilde:
            numbers = token[1:].split(".")
            if not all(n.isdigit() for n in numbers):
                return None
            parts.append(f">={token[1:]}")
            if caret:
                # Python versions only ever have a major >= 1, so ^X.Y means <X+1.
                parts.append(f"<{int(numbers[0]) + 1}")
            elif len(numbers) >= 2:
                parts.append(f"<{numbers[0]}.{int(numbers[1]) + 1}")
            else:
                parts.append(f"<{int(numbers[0]) + 1}")
        elif token[0].isdigit():
            parts.append(f"=={token}")
        else:
            parts.append(token)
    try:
        return SpecifierSet(",".join(parts))
    except InvalidSpecifier:
        return None


def _in_main(lock: Path, entry: Mapping[str, Any]) -> bool:
    """Whether the main group reaches `entry` (dev and optional groups are not installed)."""
    groups = entry.get("groups")
    if not isinstance(groups, list):
        raise _format_error(lock, f"{entry['name']} has no groups")
    return _MAIN in {canonicalize_name(str(g)) for g in groups}


def _main_marker(lock: Path, entry: Mapping[str, Any]) -> str | None:
    """The marker under which the main group needs `entry`: None for always."""
    markers = entry.get("markers")
    if isinstance(markers, dict):
        # Per group markers: a group the table does not name needs the package always.
        markers = next((v for g, v in markers.items() if canonicalize_name(g) == _MAIN), None)
    if markers is None or (isinstance(markers, str) and markers.strip() in ("", "*")):
        return None
    if not isinstance(markers, str):
        raise _format_error(lock, f"{entry['name']} has markers that are not text")
    return markers


def _holds(lock: Path, name: str, marker: str | None, env: Mapping[str, str]) -> bool:
    if marker is None:
        return True
    try:
        # No extras of the function's own project are installed (a Lambda build has none to
        # ask for): `extra == "x"` is false, as in `poetry install` without --extras.
        return Marker(marker).evaluate(dict(env))
    except (InvalidMarker, UndefinedComparison, UndefinedEnvironmentName) as exc:
        raise UsageError(f"{lock}: cannot evaluate the marker of {name} ({exc})", _RELOCK) from None


def _locked_package(lock: Path, entry: Mapping[str, Any]) -> LockedPackage:
    version = entry.get("version")
    if not isinstance(version, str):
        raise _format_error(lock, f"{entry['name']} has no version")
    files = entry.get("files", [])
    hashes = sorted(
        {f["hash"] for f in files if isinstance(f, dict) and isinstance(f.get("hash"), str)}
        if isinstance(files, list)
        else set()
    )
    return LockedPackage(name=entry["name"], version=version, hashes=tuple(hashes))


def _local_source(lock: Path, entry: Mapping[str, Any], source: Mapping[str, Any]) -> LocalSource:
    url = source.get("url")
    if not isinstance(url, str) or not url:
        raise _format_error(lock, f"{entry['name']} is a directory source without a path")
    # Poetry writes a path dependency's folder relative to the lock's own folder.
    path = (lock.parent / url).resolve()
    if not path.is_dir():
        raise UsageError(
            f"{lock}: path dependency {entry['name']} is at {url}, which is not a folder",
            "check the project out there, or fix its path in pyproject.toml and `poetry lock`",
        )
    return LocalSource(name=entry["name"], path=path, editable=bool(entry.get("develop", False)))


def _project_file(folder: Path) -> Path:
    for name in ("pyproject.toml", "setup.py", "setup.cfg"):
        if (folder / name).is_file():
            return folder / name
    return folder / "pyproject.toml"


def _written_by(lock: Path) -> Version | None:
    """The Poetry release that wrote the lock, from its first line."""
    try:
        with lock.open(encoding="utf-8") as handle:
            first = handle.readline()
    except (OSError, UnicodeDecodeError):
        return None
    match = _GENERATED_BY.search(first)
    try:
        return Version(match.group(1)) if match else None
    except ValueError:
        return None


def _stale_path_dependency(lock: Path, data: Mapping[str, Any]) -> str | None:
    """A path dependency declaring a dependency its lock entry lacks (the hash cannot see it)."""
    for entry in data.get("package", []):
        source = entry.get("source")
        if not isinstance(source, dict) or source.get("type") != "directory":
            continue
        folder = (lock.parent / str(source.get("url", ""))).resolve()
        try:
            project = tomlfile.loads((folder / "pyproject.toml").read_text(encoding="utf-8"))
        except tomlfile.READ_ERRORS:
            continue
        locked = entry.get("dependencies", {})
        have = {canonicalize_name(n) for n in locked} if isinstance(locked, dict) else set()
        missing = sorted(_declared_names(project) - have)
        if missing:
            where = source.get("url")
            return (
                f"{lock} is out of date with {where}/pyproject.toml (declares "
                f"{', '.join(missing)}): run `poetry lock`"
            )
    return None


def _declared_names(project: Mapping[str, Any]) -> set[str]:
    """The main dependencies a path dependency's pyproject declares, by canonical name."""
    # With [project].dependencies, Poetry 2 reads [tool.poetry.dependencies] only to add
    # detail to them; without it, [tool.poetry.dependencies] is the list (minus python).
    pep621 = project.get("project", {}).get("dependencies")
    if isinstance(pep621, list):
        names = (re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", str(line)) for line in pep621)
        return {canonicalize_name(m.group(1)) for m in names if m}
    poetry = project.get("tool", {}).get("poetry", {}).get("dependencies", {})
    if not isinstance(poetry, dict):
        return set()
    return {canonicalize_name(n) for n in poetry if n.lower() != "python"}


def _format_error(lock: Path, what: str) -> UsageError:
    return UsageError(f"{lock}: {what}, which is not the format Poetry 2 writes", _RELOCK)
