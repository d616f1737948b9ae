"""Ctrl-C or SIGTERM during the start-up build of `samlink start-api` / `start-lambda` ends the
build at once (its whole tree, by the supervisor) instead of waiting for it, and exits 130 or 143.

A real `sam build` first; then the template is edited (newer than the build), so the server's
start-up runs a whole `sam build`. For that one a stand-in `sam` first on PATH (a script that
ignores SIGINT and SIGTERM and sleeps, as a build deep in a slow install would go on) stands for
SAM: a real build cannot be made to last. The signal goes to samlink alone, as `kill` sends it
(a terminal's Ctrl-C reaches the whole group, which a cooperative build would obey by itself).
Every process carries a token in its environment; none may be left in /proc afterwards.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import BIN, free_port, run, sam_build
from test_processes import gone, token, with_token
from test_watch import wait_until

__all__ = ["token"]  # a fixture, used by name
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux /proc")

TEMPLATE = """Transform: AWS::Serverless-2016-10-31
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn/
      Handler: app.handler
      Runtime: python3.12
      Events: {Get: {Type: HttpApi, Properties: {Path: /x, Method: GET}}}
"""


def stand_in_running(token: str) -> bool:
    """The stand-in `sam` (its sleep) runs below samlink."""
    for pid in with_token(token):
        try:
            if b"sleep" in Path(f"/proc/{pid}/cmdline").read_bytes():
                return True
        except OSError:
            continue
    return False


@pytest.mark.sam
@pytest.mark.parametrize(
    ("command", "signum"),
    [
        ("start-api", signal.SIGINT),
        ("start-api", signal.SIGTERM),
        ("start-lambda", signal.SIGINT),
        ("start-lambda", signal.SIGTERM),
    ],
)
def test_a_signal_during_the_start_up_build_ends_it(
    tmp_path: Path, tool_env: dict[str, str], command: str, signum: int, token: str
) -> None:
    project = tmp_path / "project"
    (project / "fn").mkdir(parents=True)
    (project / "fn" / "app.py").write_text("def handler(event, context):\n    return 1\n")
    template = project / "template.yaml"
    template.write_text(TEMPLATE)
    sam_build(project, tool_env)
    build = project / ".aws-sam" / "build"
    before = sorted(p.name for p in build.iterdir())
    later = build.joinpath("template.yaml").stat().st_mtime + 10
    os.utime(template, (later, later))  # the template changed: start-up runs `sam build`

    stand_in = tmp_path / "bin"
    stand_in.mkdir()
    (stand_in / "sam").write_text("#!/bin/sh\ntrap '' INT TERM\nsleep 300\n")
    (stand_in / "sam").chmod(0o755)
    env = {**tool_env, "SAMLINK_TEST_TOKEN": token}
    env["PATH"] = f"{stand_in}{os.pathsep}{env['PATH']}"
    child = subprocess.Popen(
        [str(BIN / "samlink"), command, "--port", str(free_port())],
        cwd=project,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: stand_in_running(token), timeout=60, what="the stand-in sam")
        child.send_signal(signum)
        _out, err = child.communicate(timeout=60)
        assert child.returncode == 128 + signum, err
        assert f"samlink {command}: stopped during the start-up build" in err
        assert "Traceback" not in err
        assert gone(token, within=10.0) == []  # no sam, no sleep, no supervisor
        # The old build stays as it was: nothing half-made left in it.
        assert sorted(p.name for p in build.iterdir()) == before
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


@pytest.fixture
def hanging_index() -> Iterator[str]:
    """A package index that takes connections and never answers: a stand-in for a slow index
    (a real one cannot be made to stall on cue). Its URL."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield f"http://127.0.0.1:{server.getsockname()[1]}/simple/"


def uv_running(token: str) -> bool:
    """An installer (uv) runs below samlink's rebuild."""
    for pid in with_token(token):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and Path(argv[0].decode()).name == "uv":
            return True
    return False


@pytest.mark.sam
def test_ctrl_c_during_a_start_up_rebuild_leaves_no_store_entry_half_made(
    tmp_path: Path, tool_env: dict[str, str], token: str, hanging_index: str
) -> None:
    """The make path: a managed function whose requirements changed is rebuilt by its make
    target (make, `samlink build`, uv). SIGINT while uv waits on the index ends all of it; the
    store gains no entry (entries are published whole, by one rename), the old build stays."""
    project = tmp_path / "project"
    (project / "fn").mkdir(parents=True)
    (project / "fn" / "app.py").write_text("def handler(event, context):\n    return 1\n")
    (project / "fn" / "requirements.txt").write_text("")
    (project / "template.yaml").write_text(TEMPLATE)
    env = {**tool_env, "SAMLINK_CACHE_DIR": str(tmp_path / "store")}
    run([BIN / "samlink", "init"], project, env)
    sam_build(project, env)
    build = project / ".aws-sam" / "build"
    before = sorted(p.name for p in (build / "Fn").iterdir())
    entries = json.loads(run([BIN / "samlink", "cache", "list", "--json"], project, env).stdout)
    (project / "fn" / "requirements.txt").write_text(f"--index-url {hanging_index}\nsix==1.16.0\n")

    env = {**env, "SAMLINK_TEST_TOKEN": token, "UV_HTTP_TIMEOUT": "300"}
    child = subprocess.Popen(
        [str(BIN / "samlink"), "start-api", "--port", str(free_port())],
        cwd=project,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: uv_running(token), timeout=120, what="uv below the rebuild")
        child.send_signal(signal.SIGINT)
        _out, err = child.communicate(timeout=60)
        assert child.returncode == 130, err
        assert "rebuilding Fn" in err and "stopped during the start-up build" in err
        assert "Traceback" not in err
        assert gone(token, within=10.0) == []  # no make, samlink build or uv left
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert sorted(p.name for p in (build / "Fn").iterdir()) == before
    assert not [p.name for p in build.iterdir() if p.name.startswith(".Fn.rebuild-")]
    after = json.loads(run([BIN / "samlink", "cache", "list", "--json"], project, env).stdout)
    assert after == entries
    run([BIN / "samlink", "cache", "verify"], project, env)  # every entry whole
