"""Which interpreter runs a function, and the runtime's own packages (awslambdaric, boto3)."""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from samlink.errors import BuildError, UsageError

_RUNTIME = re.compile(r"python(\d+)\.(\d+)")
# Imported and printed with site disabled, exactly as the bootstrap will run.
_PROBE = (
    "import json, os, sys; print(json.dumps({'version': list(sys.version_info[:2]), "
    "'executable': os.path.realpath(sys.executable), "
    "'prefixes': sorted({os.path.realpath(sys.base_prefix), "
    "os.path.realpath(sys.base_exec_prefix)})}))"
)
# What the managed runtimes ship next to the function: the runtime interface client and the SDK.
RUNTIME_PACKAGES = ("awslambdaric", "boto3")
_CLEAN_ENV = {"PATH": os.defpath, "LANG": "C.UTF-8"}


@dataclass(frozen=True)
class Interpreter:
    """A Python that can run a function: its path, version and install prefixes."""

    executable: Path
    version: tuple[int, int]
    prefixes: tuple[Path, ...]

    @property
    def tag(self) -> str:
        """ "3.12"."""
        return f"{self.version[0]}.{self.version[1]}"


def runtime_version(runtime: str) -> tuple[int, int]:
    """The Python version of a Lambda runtime name: python3.12 -> (3, 12)."""
    match = _RUNTIME.fullmatch(runtime or "")
    if not match:
        raise UsageError(
            f"samlink invoke runs Python functions; this one's runtime is {runtime!r}",
            "use `sam local invoke` for other runtimes",
        )
    return int(match[1]), int(match[2])


def choose_interpreter(
    version: tuple[int, int], build_dirs: Iterable[Path] = ()
) -> tuple[Interpreter, str | None]:
    """An interpreter of `version` if this machine has one, else the host's with a warning.

    Without one, a build whose `build_dirs` (function dir, layer dirs) hold code compiled for
    CPython `version` cannot run on the host's Python: a UsageError with the command to install it.
    """
    found = find_interpreter(version)
    if found is not None:
        return found, None
    host = host_interpreter()
    if host.version == version:
        return host, None
    wanted = f"{version[0]}.{version[1]}"
    compiled = compiled_for(version, build_dirs)
    if compiled:
        shown = ", ".join(compiled[:3]) + (f" and {len(compiled) - 3} more" if compiled[3:] else "")
        raise UsageError(
            f"python{wanted} function holds compiled code for CPython {wanted} ({shown}) and "
            f"this machine has no Python {wanted}",
            f"`uv python install {wanted}` (samlink finds uv's Pythons), or run it with --docker",
        )
    warning = (
        f"samlink: no Python {wanted} found (PATH, pyenv, uv); running this python{wanted} "
        f"function with Python {host.tag} ({host.executable}). Install {wanted}, e.g. "
        f"`uv python install {wanted}`, for a faithful run"
    )
    return host, warning


def compiled_for(version: tuple[int, int], build_dirs: Iterable[Path]) -> list[str]:
    """What in the build dirs is compiled for CPython `version` (abi3 and pure wheels are not).

    Cheap by design (it runs when an environment starts): each dir's top level (and a layer's
    `python/`) only, following top-level links: `*.dist-info/WHEEL` tags, `*.cpython-3XY-*.so`.
    """
    abi = re.compile(rf"cp{version[0]}{version[1]}[a-z]*")
    module = re.compile(rf".*\.cpython-{version[0]}{version[1]}[a-z]*-.*\.so")
    found: list[str] = []
    for root in build_dirs:
        for folder in (root, root / "python"):
            try:
                names = sorted(os.listdir(folder))
            except OSError:
                continue
            for name in names:
                if name.endswith(".dist-info"):
                    if any(abi.fullmatch(tag) for tag in _wheel_abis(folder / name / "WHEEL")):
                        found.append(name.removesuffix(".dist-info").rsplit("-", 1)[0])
                elif module.fullmatch(name):
                    found.append(name)
    return list(dict.fromkeys(found))


def _wheel_abis(path: Path) -> list[str]:
    """The ABI part of each `Tag:` line of a wheel's WHEEL file (none when unreadable)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    tags = [ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith("Tag:")]
    return [parts[1] for parts in (tag.split("-") for tag in tags) if len(parts) == 3]


@functools.cache
def find_interpreter(version: tuple[int, int]) -> Interpreter | None:
    """Python X.Y from PATH, pyenv's versions folder or uv's managed pythons; None if none runs."""
    for candidate in _candidates(version):
        found = probe(candidate)
        if found is not None and found.version == version:
            return found
    return None


@functools.cache
def host_interpreter() -> Interpreter:
    """The interpreter samlink itself runs on (its base, not a virtualenv)."""
    base = getattr(sys, "_base_executable", None) or sys.executable
    for candidate in (Path(base), Path(sys.executable)):
        found = probe(candidate)
        if found is not None:
            return found
    raise BuildError(f"cannot run {sys.executable} with site disabled", "reinstall samlink")


def probe(executable: Path) -> Interpreter | None:
    """Run a candidate interpreter once; None when it does not start (e.g. a pyenv shim)."""
    try:
        result = subprocess.run(
            [str(executable), "-S", "-c", _PROBE],
            capture_output=True,
            text=True,
            env=_CLEAN_ENV,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0:
        return None
    try:
        data = json.loads(result.stdout)
        major, minor = data["version"]
        return Interpreter(
            Path(data["executable"]),
            (int(major), int(minor)),
            tuple(Path(p) for p in data["prefixes"]),
        )
    except (ValueError, KeyError, TypeError):
        return None


def _candidates(version: tuple[int, int]) -> Iterator[Path]:
    name = f"python{version[0]}.{version[1]}"
    root = _pyenv_root()
    # pyenv's shims only run the version selected for the current folder; its versions folder
    # (next) holds every installed one.
    shims = root / "shims" if root is not None else None
    seen: set[str] = set()
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        path = Path(folder or ".") / name
        if path.parent == shims or str(path) in seen:
            continue
        if path.is_file() and os.access(path, os.X_OK):
            seen.add(str(path))
            yield path
    if root is not None:
        prefix = f"{version[0]}.{version[1]}."
        versions = root / "versions"
        names = (
            sorted(
                (p.name for p in versions.iterdir() if p.name.startswith(prefix)),
                key=_patch_key,
                reverse=True,
            )
            if versions.is_dir()
            else []
        )
        for found in names:
            yield versions / found / "bin" / name
    managed = _uv_managed(version)
    if managed is not None:
        yield managed


def _patch_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) if part.isdigit() else -1 for part in re.split(r"[.\-]", name))


def _pyenv_root() -> Path | None:
    if os.environ.get("PYENV_ROOT"):
        return Path(os.environ["PYENV_ROOT"])
    default = Path.home() / ".pyenv"
    if default.is_dir():
        return default
    pyenv = shutil.which("pyenv")
    if pyenv is None:
        return None
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        result = subprocess.run(
            [pyenv, "root"], capture_output=True, text=True, timeout=30, check=False
        )
        if result.returncode == 0 and result.stdout.strip():
            return Path(result.stdout.strip())
    return None


def _uv_managed(version: tuple[int, int]) -> Path | None:
    import uv

    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "UV_PYTHON")}
    # `--managed-python` skips PATH (whose first match may be a broken shim and stop the search).
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        result = subprocess.run(
            [
                uv.find_uv_bin(),
                "python",
                "find",
                f"{version[0]}.{version[1]}",
                "--managed-python",
                "--no-python-downloads",
                "--no-project",
            ],
            capture_output=True,
            text=True,
            env=env,
            cwd="/",
            timeout=60,
            check=False,
        )
        if result.returncode == 0 and result.stdout.strip():
            return Path(result.stdout.strip())
    return None


def cache_root() -> Path:
    """samlink's cache folder: $SAMLINK_CACHE_DIR, else the platform's user cache folder."""
    if os.environ.get("SAMLINK_CACHE_DIR"):
        return Path(os.environ["SAMLINK_CACHE_DIR"])
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "samlink"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "samlink"


def ensure_runtime_dir(interpreter: Interpreter) -> Path:
    """awslambdaric and boto3 for this interpreter, installed once in the cache, not /var/task."""
    root = cache_root() / "runtime"
    final = root / interpreter.tag
    if (final / "awslambdaric").is_dir():
        return final
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root / ".lock"):
        if (final / "awslambdaric").is_dir():
            return final
        staging = Path(tempfile.mkdtemp(prefix=f".{interpreter.tag}-", dir=root))
        try:
            _install(interpreter, staging)
            os.rename(staging, final)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return final


def ensure_debugger(interpreter: Interpreter) -> Path:
    """debugpy in the runtime dir (for --debug-port), installed once beside awslambdaric: the
    sandbox mounts that dir, so the function's interpreter finds it there."""
    final = ensure_runtime_dir(interpreter)
    if (final / "debugpy").is_dir():
        return final
    with _locked(final.parent / ".lock"):
        if not (final / "debugpy").is_dir():
            _install(interpreter, final, packages=("debugpy",))
    return final


def _install(
    interpreter: Interpreter, target: Path, packages: tuple[str, ...] = RUNTIME_PACKAGES
) -> None:
    import uv

    # Wheels only: awslambdaric's sdist needs a C++ toolchain; uv then picks the newest release
    # with a wheel for this interpreter (4.x needs cp310+, cp39 gets 4.0.4).
    cmd = [
        uv.find_uv_bin(),
        "pip",
        "install",
        "--quiet",
        "--target",
        str(target),
        "--python",
        str(interpreter.executable),
        "--only-binary",
        ":all:",
        "--compile-bytecode",
        *packages,
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise BuildError(
            f"could not install {', '.join(packages)} for Python {interpreter.tag}: "
            + (detail[-1] if detail else f"uv exited {result.returncode}"),
            "check network access to PyPI (uv reads UV_INDEX_URL, not pip.conf), or use --docker",
        )
    if packages != RUNTIME_PACKAGES:
        return
    versions = {
        p.name.split("-")[0]: p.name.split("-")[1].removesuffix(".dist-info")
        for p in target.glob("*.dist-info")
    }
    (target / "samlink-runtime.json").write_text(
        json.dumps({"python": interpreter.tag, "packages": versions}, indent=2) + "\n"
    )


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
