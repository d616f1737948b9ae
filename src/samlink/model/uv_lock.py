"""Where a code dir's uv.lock is, and which names it gives the code dir, read without running uv.

uv finds a project's lock at the root of the workspace whose members include it (a
`pyproject.toml` with `[tool.uv.workspace]`, members and exclude as globs), else next to the
project's own `pyproject.toml`. What exactly gets installed comes from `uv export`
(samlink.build.uv_export); this module answers the cheap questions: which file, which names.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from packaging.markers import InvalidMarker, Marker
from packaging.utils import canonicalize_name

from samlink.model import tomlfile

LOCK = "uv.lock"


def workspace_root(code_dir: Path) -> Path:
    """The root of the uv workspace whose members include `code_dir`, else `code_dir`."""
    project = code_dir.resolve()
    for folder in project.parents:
        data = tomlfile.read(folder / "pyproject.toml")
        workspace = data.get("tool", {}).get("uv", {}).get("workspace")
        if isinstance(workspace, dict) and _is_member(folder, project, workspace):
            return folder
    return project


def find_lock(code_dir: Path) -> Path | None:
    """The uv.lock that covers `code_dir`, as uv finds it, or None."""
    lock = workspace_root(code_dir) / LOCK
    return lock if lock.is_file() else None


def names(code_dir: Path, env: Mapping[str, str]) -> set[str]:
    """Normalized names of everything the lock gives the project in `code_dir` (its main
    dependencies, transitively, local sources included) where their markers hold in `env`."""
    lock = find_lock(code_dir)
    if lock is None:
        return set()
    packages = [p for p in tomlfile.read(lock).get("package", []) if isinstance(p, dict)]
    by_name = packages_by_name(packages)
    project = code_dir.resolve()
    direct = [
        str(dependency["name"])
        for package in packages
        if source_folder(lock, package) == project
        for dependency in package.get("dependencies", [])
        if _holds(dependency.get("marker"), env)
    ]
    return closure(by_name, direct, env)


def packages_by_name(packages: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """A lock's `[[package]]` tables by normalized name (a name may be locked more than once)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for package in packages:
        found.setdefault(canonicalize_name(str(package.get("name", ""))), []).append(package)
    return found


def closure(
    by_name: Mapping[str, list[dict[str, Any]]],
    start: list[str],
    env: Mapping[str, str] | None = None,
) -> set[str]:
    """Normalized names of `start` and of all that their locked dependencies reach (only
    through dependencies whose markers hold in `env`, when given)."""
    seen: set[str] = set()
    todo = list(start)
    while todo:
        name = canonicalize_name(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        for package in by_name.get(name, []):
            for dependency in package.get("dependencies", []):
                if env is None or _holds(dependency.get("marker"), env):
                    todo.append(str(dependency["name"]))
    return seen


def source_folder(lock: Path, package: Mapping[str, Any]) -> Path | None:
    """The folder of a package the lock takes from a local project, else None."""
    source = package.get("source", {})
    if not isinstance(source, dict):
        return None
    for key in ("editable", "virtual", "directory"):
        if key in source:
            return (lock.parent / str(source[key])).resolve()
    return None


def _holds(marker: object, env: Mapping[str, str]) -> bool:
    if not marker:
        return True
    try:
        return Marker(str(marker)).evaluate({**env, "extra": ""})
    except InvalidMarker:
        return True  # the build's exporter decides; for "which names" a superset is fine


def _is_member(root: Path, project: Path, workspace: Mapping[str, Any]) -> bool:
    # uv reads members and exclude as globs relative to the workspace root.
    def matches(key: str) -> bool:
        for pattern in workspace.get(key, []):
            if any(found.resolve() == project for found in root.glob(str(pattern))):
                return True
        return False

    return project == root or (matches("members") and not matches("exclude"))


def member_pyprojects(root: Path) -> list[Path]:
    """The pyproject.toml of every member of the uv workspace rooted at `root` (and its own)."""
    workspace = (
        tomlfile.read(root / "pyproject.toml").get("tool", {}).get("uv", {}).get("workspace")
    )
    found = [root / "pyproject.toml"]
    if isinstance(workspace, dict):
        for pattern in workspace.get("members", []):
            found += sorted(folder / "pyproject.toml" for folder in root.glob(str(pattern)))
    return list(dict.fromkeys(path.resolve() for path in found if path.is_file()))
