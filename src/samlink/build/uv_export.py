"""What a uv lock gives one function or layer: uv's own exporter, read for a Lambda target.

The lock is found as uv finds it: `uv.lock` at the root of the workspace that holds the code dir
(a `pyproject.toml` with `[tool.uv.workspace]` whose members include it), else next to the code
dir's own `pyproject.toml`. The packages come from `uv export --frozen --no-default-groups
--no-emit-project --format pylock.toml` run in the code dir (exactly as locked, the function's own
dependencies only, transitively, local sources as folders); nothing here resolves anything.
Staleness is `uv lock --check --offline`, which only reads.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from samlink.build import installer
from samlink.errors import BuildError, UsageError
from samlink.model import tomlfile
from samlink.model.locked import LocalSource, LockedPackage, LockExport
from samlink.model.uv_lock import LOCK as LOCK  # re-exported: the build's callers ask here
from samlink.model.uv_lock import closure, packages_by_name, source_folder
from samlink.model.uv_lock import find_lock as find_lock
from samlink.model.uv_lock import workspace_root as workspace_root

_PYPI = ("https://pypi.org/simple", "https://pypi.org/simple/")


def export(code_dir: Path, lock: Path, *, uv: str | None = None) -> LockExport:
    """The packages and local sources `lock` gives the project in `code_dir` (all markers kept:
    the caller evaluates them for its target)."""
    code_dir = code_dir.resolve()
    args = [
        "export",
        "--frozen",
        "--offline",
        "--no-default-groups",
        "--no-emit-project",
        "--no-header",
        "--format",
        "pylock.toml",
    ]
    result = _run_uv(args, code_dir, uv)
    if result.returncode != 0:
        raise BuildError(
            f"`uv export` could not read {lock}: {_last_line(result.stderr)}",
            "run `uv lock` in the workspace and build again",
        )
    try:
        data = tomlfile.loads(result.stdout)
    except tomlfile.ERRORS as exc:
        raise BuildError(f"`uv export` wrote what samlink cannot read: {exc}") from None
    packages: list[LockedPackage] = []
    local: list[LocalSource] = []
    indexes: list[str] = []
    for entry in data.get("packages", []):
        name = str(entry["name"])
        marker = entry.get("marker")
        directory = entry.get("directory")
        if isinstance(directory, dict):
            path = (code_dir / str(directory["path"])).resolve()
            local.append(LocalSource(name, path, bool(directory.get("editable", False))))
            continue
        if "version" not in entry:
            raise UsageError(
                f"{lock}: {name} is locked from {_origin(entry)}, not as a released version",
                "samlink installs released versions from a lock; link a checkout with "
                "`samlink link PATH`, or lock a release",
            )
        hashes = [_hash(entry.get("sdist"))] + [_hash(w) for w in entry.get("wheels", [])]
        index = entry.get("index")
        if isinstance(index, str) and index not in indexes:
            indexes.append(index)
        packages.append(
            LockedPackage(
                name=name,
                version=str(entry["version"]),
                hashes=tuple(dict.fromkeys(h for h in hashes if h)),
                marker=str(marker) if marker else None,
            )
        )
    root = workspace_root(code_dir)
    pyprojects = [code_dir / "pyproject.toml", root / "pyproject.toml"]
    pyprojects += [source.path / "pyproject.toml" for source in local]
    inputs = tuple(dict.fromkeys([lock, *pyprojects]))
    return LockExport(
        tool="uv",
        pyproject=code_dir / "pyproject.toml",
        lock=lock,
        packages=tuple(packages),
        local_sources=tuple(local),
        dev_only=_dev_only(lock, code_dir, local, {canonicalize_name(p.name) for p in packages}),
        inputs=inputs,
    )


def indexes(lock: Path) -> tuple[str, ...]:
    """The package indexes other than PyPI that `lock` records, in order."""
    found: list[str] = []
    for package in tomlfile.read(lock).get("package", []):
        source = package.get("source", {})
        registry = source.get("registry") if isinstance(source, dict) else None
        if isinstance(registry, str) and registry not in _PYPI and registry not in found:
            found.append(registry)
    return tuple(found)


def stale(code_dir: Path, lock: Path, *, uv: str | None = None) -> str | None:
    """One line when `lock` no longer satisfies the pyproject files (`uv lock --check`)."""
    result = _run_uv(["lock", "--check", "--offline", "--no-python-downloads"], code_dir, uv)
    if result.returncode == 0:
        return None
    output = result.stderr + result.stdout
    if "needs to be updated" in output:
        return f"{lock} no longer matches the pyproject.toml files: run `uv lock`"
    # uv could not decide (no Python in the project's range here, an unreadable pyproject):
    # saying "stale" would be a guess.
    return None


def _run_uv(args: list[str], cwd: Path, uv: str | None) -> subprocess.CompletedProcess[str]:
    executable = uv or _uv()
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "UV_FROZEN")}
    env["UV_NO_PROGRESS"] = "1"
    try:
        return subprocess.run(
            [executable, *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise BuildError(f"could not run uv ({executable}): {exc}") from None


def _uv() -> str:
    found = installer._find_uv()
    if found is None:
        raise BuildError(
            "uv is needed to read uv.lock and was not found",
            "install samlink with its uv dependency, or put uv on PATH",
        )
    return found[0]


def _dev_only(
    lock: Path, code_dir: Path, local: list[LocalSource], main: set[str]
) -> frozenset[str]:
    """Names the lock holds only for dev groups or optional extras of this project's packages."""
    packages = [p for p in tomlfile.read(lock).get("package", []) if isinstance(p, dict)]
    ours = {code_dir.resolve(), *(source.path for source in local)}
    start: list[str] = []
    for package in packages:
        if source_folder(lock, package) not in ours:
            continue
        for group in (package.get("dev-dependencies") or {}).values():
            start += [str(dep["name"]) for dep in group]
        for group in (package.get("optional-dependencies") or {}).values():
            start += [str(dep["name"]) for dep in group]
    seen = closure(packages_by_name(packages), start)
    return frozenset(seen - main - {canonicalize_name(s.name) for s in local})


def _hash(file: object) -> str:
    if not isinstance(file, dict):
        return ""
    hashes = file.get("hashes", {})
    return next((f"{algo}:{value}" for algo, value in hashes.items() if algo == "sha256"), "")


def _origin(entry: dict[str, Any]) -> str:
    for key in ("vcs", "archive"):
        if isinstance(entry.get(key), dict):
            where = entry[key].get("url") or entry[key].get("path")
            return f"{key} {where}"
    return "a source samlink cannot install"


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    return (errors or lines or ["no output"])[-1]
