"""`samlink init` for functions that declare their libraries in pyproject.toml with a lock, and
the generated target's fallback without samlink (issue 13).

Teammates and CI images without samlink get, from a uv.lock, exactly the locked set for the
Lambda target and real copies of the local sources (built from copies: a setuptools member's
folder stays as it was), or one line saying what to install. Real `samlink init`, real `sam
build` with SAMLINK=none, real uv, real make.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from conftest import BIN, run, sam_build
from declared_projects import locked_version, tree_files, uv_workspace
from samlink.build import adopt, makefile

SAMLINK = BIN / "samlink"


def without_samlink(env: dict[str, str]) -> dict[str, str]:
    """What a teammate without samlink has: SAMLINK names no command (the target's switch)."""
    return {**env, "SAMLINK": "samlink-not-installed"}


def test_a_uv_function_without_samlink_builds_the_locked_set_and_real_members(
    tmp_path: Path, tool_env: dict[str, str]
) -> None:
    ws = uv_workspace(tmp_path, tool_env)
    hello = ws / "functions" / "hello"
    init = run([SAMLINK, "init"], ws, tool_env)
    assert (
        "samlink init: HelloFunction: libraries from pyproject.toml + uv.lock; without samlink, "
        "its target installs the locked set with uv (or stops: no uv)"
    ) in init.stderr
    text = (hello / "Makefile").read_text()
    assert "uv export --frozen" in text and str(tmp_path) not in text
    assert adopt.declared_kind(hello) == "uv"
    sources = [
        ws / "packages" / "corelib",
        ws / "packages" / "stlib",
        tmp_path / "extern" / "tools",
    ]
    before = {source: tree_files(source) for source in sources}

    done = sam_build(ws, without_samlink(tool_env))
    said = done.stdout + done.stderr
    assert "samlink not found: uv install of uv.lock for python3.12 x86_64" in said
    built = ws / ".aws-sam" / "build" / "HelloFunction"
    lock = ws / "uv.lock"
    for name in ("six", "idna"):
        assert (built / f"{name}-{locked_version(lock, name)}.dist-info").is_dir()
    assert (built / "corelib-2.3.0.dist-info").is_dir()
    assert (built / "stlib-0.5.0.dist-info").is_dir()
    assert (built / "tools-0.2.0.dist-info").is_dir()  # a path source outside the workspace
    files = (
        "corelib/__init__.py",
        "corelib/extra.py",
        "stlib/__init__.py",
        "tools_lib/__init__.py",
    )
    for path in (*files, "app.py"):
        assert (built / path).is_file() and not (built / path).is_symlink(), path
    assert not [p for p in built.iterdir() if p.is_symlink()]
    assert not list(built.glob("attrs*")), "the dev group is not installed"
    assert not (built / "pyproject.toml").exists() and not (built / "bin").exists()
    assert not (built / ".lock").exists(), "uv's lock of the target dir does not ship"
    # Built from copies: the setuptools member's folder got no build/ or egg-info.
    assert {source: tree_files(source) for source in sources} == before
    # What the fallback built is what the lock declares: samlink check proves it.
    checked = run([SAMLINK, "check"], ws, tool_env, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    # Without uv on PATH: one line saying what to install, and the build stops.
    bare = tmp_path / "bare-bin"
    bare.mkdir()
    (bare / "sam").symlink_to(BIN / "sam")
    system = [p for p in os.environ["PATH"].split(os.pathsep) if p and Path(p) != BIN]
    env = {**without_samlink(tool_env), "PATH": os.pathsep.join([str(bare), *system])}
    assert shutil.which("uv", path=env["PATH"]) is None
    failed = run([BIN / "sam", "build"], ws, env, check=False)
    assert failed.returncode != 0
    output = failed.stdout + failed.stderr
    # SAM shows make's stderr after its own prefix ("... Make Failed: ").
    lines = [line for line in output.splitlines() if "samlink:" in line]
    assert len(lines) == 1 and lines[0].endswith(makefile.UV_MISSING), output
    assert "Traceback" not in output


def run_make(code: Path, artifacts: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ARTIFACTS_DIR": str(artifacts), "SAMLINK": "samlink-not-installed"}
    for name in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS"):
        env.pop(name, None)
    return subprocess.run(
        ["make", "--makefile", str(code / "Makefile"), "build-Fn"],
        cwd=code,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_which_fallback_a_code_dir_gets(tmp_path: Path) -> None:
    """requirements.txt wins; a pyproject with a poetry.lock stops without samlink (one line);
    a pyproject with no lock (tool settings only) keeps the plain fallback."""
    code = tmp_path / "fn"
    code.mkdir()
    (code / "app.py").write_text("X = 1\n")
    (code / "pyproject.toml").write_text("[tool.ruff]\nline-length = 100\n")
    assert adopt.declared_kind(code) == "requirements"
    (code / "poetry.lock").write_text("# a lock\n")
    assert adopt.declared_kind(code) == "poetry"
    spec = makefile.TargetSpec("Fn", "function", "3.12", "x86_64", "../t.yaml", declared="poetry")
    (code / "Makefile").write_text(makefile.render("", [spec]))
    stopped = run_make(code, tmp_path / "a1")
    assert stopped.returncode != 0
    assert [line for line in stopped.stderr.splitlines() if "samlink" in line] == [
        makefile.POETRY_MISSING
    ]
    assert not (tmp_path / "a1" / "app.py").exists()

    (code / "requirements.txt").write_text("")
    assert adopt.declared_kind(code) == "requirements"
    (code / "uv.lock").write_text("version = 1\n")
    (code / "requirements.txt").unlink()
    assert adopt.declared_kind(code) == "uv"  # a uv.lock beside the pyproject wins over Poetry's
