"""Which input declares a code dir's dependencies, read as one answer for a Lambda target.

`requirements.txt` wins where present (as today, and as SAM's builders read it first); otherwise
the code dir's `pyproject.toml` with its lock: `uv.lock` in the code dir or at the root of the uv
workspace that holds it, or `poetry.lock` next to the pyproject. A lock's pins become requirement
lines (the lock file as their file, hashes set, markers kept, only the ones that hold for the
target) and its local sources path lines, so the build treats them like a requirements file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.markers import InvalidMarker, Marker
from packaging.requirements import Requirement

from samlink import atomicfile
from samlink.build import uv_export
from samlink.errors import UsageError
from samlink.model import poetry_lock as poetry_lock_reader
from samlink.model import requirements, tomlfile, uv_lock
from samlink.model.locked import LockExport
from samlink.model.requirements import Line, RequirementsFile
from samlink.model.target import Target


@dataclass(frozen=True)
class Declared:
    kind: str  # "requirements" | "uv" | "poetry" | "none"
    source: Path | None  # the requirements.txt or pyproject.toml read
    # For locks: the locked pins as lines (Line.file = the lock file, hashes set, markers kept);
    # local sources as path lines (Line.path set).
    requirements: RequirementsFile
    export: LockExport | None  # for "uv" / "poetry"

    @property
    def lock(self) -> Path | None:
        return self.export.lock if self.export else None


def read(code_dir: Path, target: Target) -> Declared:
    """The dependencies `code_dir` declares, for `target`."""
    path = code_dir / "requirements.txt"
    if path.is_file():
        return Declared("requirements", path, requirements.parse(path), None)
    pyproject = code_dir / "pyproject.toml"
    if not pyproject.is_file():
        return Declared("none", None, RequirementsFile(), None)
    data = tomlfile.read(pyproject)
    lock = code_dir / uv_export.LOCK
    poetry_lock = code_dir / "poetry.lock"
    if lock.is_file() or not poetry_lock.is_file():
        found = uv_export.find_lock(code_dir)
        if found is not None:
            export = uv_export.export(code_dir, found)
            return Declared("uv", pyproject, _as_requirements(export, target), export)
    if poetry_lock.is_file():
        export = poetry_lock_reader.export(pyproject, poetry_lock, target)
        return Declared("poetry", pyproject, _as_requirements(export, target), export)
    if _declares_dependencies(data) and (code_dir / "pdm.lock").is_file():
        raise UsageError(
            f"{code_dir / 'pdm.lock'}: samlink reads uv.lock and poetry.lock, not pdm's lock",
            "export the locked set beside it: `pdm export -o requirements.txt`",
        )
    if _declares_dependencies(data):
        raise UsageError(
            f"{pyproject} declares dependencies but has no lock (uv.lock or poetry.lock)",
            "run `uv lock` (or `poetry lock`) there, or list them in requirements.txt",
        )
    return Declared("none", pyproject, RequirementsFile(), None)


def lock_problem(declared: Declared, *, memo_dir: Path | None = None) -> str | None:
    """One line when the lock no longer satisfies the pyproject files, else None.

    With `memo_dir` (the project's `.samlink`), the answer is kept per content of the lock and
    the pyproject files: the tool runs again only when one of them changed."""
    export = declared.export
    if export is None:
        return None
    if memo_dir is None:
        return _lock_problem(declared, export)
    key = _staleness_key(export)
    memo = memo_dir / "lock-checks.json"
    try:
        known = json.loads(memo.read_text(encoding="utf-8"))
        if not isinstance(known, dict):
            known = {}
    except (OSError, ValueError):
        known = {}
    if key in known and (known[key] is None or isinstance(known[key], str)):
        cached: str | None = known[key]
        return cached
    problem = _lock_problem(declared, export)
    kept = dict(list(known.items())[-63:])
    kept[key] = problem
    with contextlib.suppress(OSError):  # only a memo: the check runs again next time
        atomicfile.write_text(memo, json.dumps(kept, indent=1) + "\n")
    return problem


def _staleness_key(export: LockExport) -> str:
    files = {export.lock, export.pyproject, *export.inputs}
    if export.tool == "uv":
        files.update(uv_lock.member_pyprojects(export.lock.parent))
    digest = hashlib.sha256(export.tool.encode())
    for path in sorted(files):
        digest.update(b"\0" + str(path).encode() + b"\0")
        try:
            digest.update(path.read_bytes())
        except OSError:
            digest.update(b"<missing>")
    return digest.hexdigest()


def _lock_problem(declared: Declared, export: LockExport) -> str | None:
    if declared.kind == "uv":
        return uv_export.stale(export.pyproject.parent, export.lock)
    if declared.kind == "poetry":
        return poetry_lock_reader.stale(export.pyproject, export.lock)
    return None


def _as_requirements(export: LockExport, target: Target) -> RequirementsFile:
    env = requirements.target_environment(target.python_version, target.machine)
    lines: list[Line] = []
    for number, package in enumerate(export.packages, start=1):
        try:
            marker = Marker(package.marker) if package.marker else None
        except InvalidMarker:
            raise UsageError(
                f"{export.lock}: {package.name} has a marker samlink cannot read: "
                f"{package.marker!r}",
                "lock again with a current uv or Poetry",
            ) from None
        if not requirements.applies(marker, env, frozenset()):
            continue
        text = package.requirement_line()
        lines.append(
            Line(export.lock, number, text, requirement=Requirement(text), hashes=package.hashes)
        )
    start = len(export.packages) + 1
    for number, source in enumerate(export.local_sources, start=start):
        text = f"-e {source.path}" if source.editable else str(source.path)
        lines.append(
            Line(
                export.lock,
                number,
                text,
                requirement=Requirement(source.name),
                path=source.path,
                editable=source.editable,
            )
        )
    if export.tool == "uv":
        extra = uv_export.indexes(export.lock)
    else:
        extra = poetry_lock_reader.indexes(export.lock)
    return RequirementsFile(
        files=tuple(dict.fromkeys((export.lock, *export.inputs))),
        lines=tuple(lines),
        extra_index_urls=extra,
    )


def _declares_dependencies(data: dict[str, Any]) -> bool:
    project = data.get("project", {})
    poetry = data.get("tool", {}).get("poetry", {})
    poetry_deps = {k for k in poetry.get("dependencies", {}) if k.lower() != "python"}
    return bool(project.get("dependencies")) or bool(poetry_deps)


def origin_of(line: Line) -> str | None:
    """For a line that a lock gave (`read`), where it was declared; None for a requirements
    file's own line."""
    if line.file.name == uv_export.LOCK:
        return "pyproject.toml (uv)"
    if line.file.name == "poetry.lock":
        return "pyproject.toml (Poetry)"
    return None


def input_files(code_dir: Path) -> tuple[Path, ...]:
    """The pyproject.toml and lock files that declare `code_dir`'s dependencies, found without
    running anything (watchers); empty where a requirements.txt declares them."""
    if (code_dir / "requirements.txt").is_file():
        return ()
    pyproject = code_dir / "pyproject.toml"
    if not pyproject.is_file():
        return ()
    found = [pyproject.resolve()]
    poetry_lock = code_dir / "poetry.lock"
    if poetry_lock.is_file():
        found.append(poetry_lock.resolve())
    root = uv_export.workspace_root(code_dir)
    found += [(root / "pyproject.toml").resolve(), (root / uv_export.LOCK).resolve()]
    return tuple(dict.fromkeys(found))
