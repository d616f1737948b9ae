"""Shared fixtures: the real SAM CLI and samlink from this venv, a private store and SAM dir."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
LIBS = FIXTURES / "libs"
EXAMPLE = ROOT / "examples" / "hello-world"
BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
def tool_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Environment for running sam and samlink: this venv first on PATH, state kept in tmp."""
    state = tmp_path_factory.mktemp("state")
    env = dict(os.environ)
    env.update(
        {
            "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
            "SAMLINK_CACHE_DIR": str(state / "samlink-cache"),
            "SAM_CLI_TELEMETRY": "0",
            "__SAM_CLI_APP_DIR": str(state / "sam-app-dir"),
        }
    )
    env.pop("SAMLINK_RELEASE", None)
    yield env


def run(
    cmd: Sequence[str | Path], cwd: Path, env: dict[str, str], check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{cmd} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result


def sam_build(project: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run([BIN / "sam", "build", *args], cwd=project, env=env)


def copy_example(dest: Path, env: dict[str, str] | None = None) -> Path:
    """A fresh copy of examples/hello-world, with its wheelhouse built when `env` is given."""
    shutil.copytree(
        EXAMPLE,
        dest,
        ignore=shutil.ignore_patterns(
            ".aws-sam", ".samlink", "wheelhouse", "Makefile", "__pycache__", "*.egg-info", "build"
        ),
    )
    if env is not None:
        run([sys.executable, "build_wheelhouse.py", "wheelhouse"], dest, env)
    return dest


def copy_lib(name: str, dest: Path) -> Path:
    """A pristine copy of a fixture library, as a developer's checkout (with .git-like clutter)."""
    target = dest / name
    shutil.copytree(LIBS / name, target)
    (target / ".git").mkdir()
    (target / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (target / ".venv").mkdir()
    (target / ".venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    return target


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture libraries' pinned releases, built once from pristine copies."""
    import uv

    out = tmp_path_factory.mktemp("wheelhouse")
    work = tmp_path_factory.mktemp("wheel-src")
    names = sorted(p.name for p in LIBS.iterdir() if p.is_dir())
    for name in names:
        shutil.copytree(LIBS / name, work / name)
    for name in names:
        subprocess.run(
            [
                uv.find_uv_bin(),
                "build",
                "--wheel",
                "--quiet",
                "--out-dir",
                str(out),
                str(work / name),
            ],
            check=True,
            timeout=600,
        )
    return out


def call_handler(
    build_dir: Path,
    *,
    handler: str = "app.lambda_handler",
    layers: Sequence[Path] = (),
    python: str | Path = sys.executable,
    event: object = None,
) -> object:
    """Load and call a handler as the managed runtime would: the task root first on sys.path and
    a site dir (so .pth files count), then each layer's python/ as a site dir."""
    module, function = handler.rsplit(".", 1)
    code = f"""
import json, site, sys
task = sys.argv[1]
sys.path.insert(0, task)
site.addsitedir(task)
for layer in sys.argv[2:]:
    site.addsitedir(layer)
import {module}
print(json.dumps({module}.{function}(json.loads({json.dumps(json.dumps(event))}), None)))
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    result = subprocess.run(
        [
            str(python),
            "-I",
            "-c",
            code,
            str(build_dir),
            *[str(layer / "python") for layer in layers],
        ],
        capture_output=True,
        text=True,
        cwd=build_dir.parent,
        env=env,
        timeout=120,
    )
    if result.returncode != 0:
        raise AssertionError(f"handler failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def python_for(version: str) -> Path:
    """An interpreter of a given version: on PATH, or under pyenv (this machine's kind has both)."""
    found = shutil.which(f"python{version}")
    candidates = [Path(found)] if found else []
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates += sorted(pyenv_root.glob(f"versions/{version}.*/bin/python{version}"))
    for candidate in candidates:
        probe = subprocess.run(
            [str(candidate), "-c", "import sys; print(sys.version_info[:2])"],
            capture_output=True,
            text=True,
        )
        if probe.returncode == 0 and probe.stdout.strip() == str(
            tuple(map(int, version.split(".")))
        ):
            return candidate
    raise AssertionError(f"no python{version} on this machine (PATH or pyenv)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def moto_server(**settings: str) -> Iterator[int]:
    """A real moto server (the `test` extra, which `make test` installs) on a free port: its
    port. `settings` are moto's environment variables (e.g. INITIAL_NO_AUTH_ACTION_COUNT)."""
    port = free_port()
    with tempfile.TemporaryFile() as log:
        env = {**os.environ, **settings}
        server = subprocess.Popen(
            [str(BIN / "moto_server"), "-p", str(port)], stdout=log, stderr=log, env=env
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    urllib.request.urlopen(f"http://localhost:{port}/moto-api/", timeout=2)
                    break
                except OSError:
                    assert server.poll() is None and time.monotonic() < deadline, "no moto"
                    time.sleep(0.2)
            yield port
        finally:
            server.terminate()
            server.wait(timeout=30)
