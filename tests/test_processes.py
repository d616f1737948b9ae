"""Nothing samlink starts outlives it: real processes, real signals, real sandboxes.

Each test marks what it starts with a unique token (on a command line or in an environment) and
looks for it in /proc afterwards, as a user would with `ps`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from samlink.runtime import InvokeSpec, invoke

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux /proc")

HANDLER = """
import os, subprocess, sys, time

def spawn(event, context):
    # A detached grandchild: its own session, so neither its group nor its parent holds it.
    subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(300)", event["token"]],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    if event.get("hang"):
        time.sleep(300)
    return "spawned"
"""


def with_token(token: str) -> list[int]:
    """Live processes whose command line or environment holds `token` (zombies left out)."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as stat:
                if stat.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                    continue
            with open(f"/proc/{name}/cmdline", "rb") as cmdline:
                text = cmdline.read()
            with open(f"/proc/{name}/environ", "rb") as environ:
                text += environ.read()
        except (OSError, IndexError):
            continue
        if token.encode() in text:
            found.append(int(name))
    return found


def gone(token: str, within: float = 10.0) -> list[int]:
    """Wait (bounded) until no process carries `token`; what is still there."""
    deadline = time.monotonic() + within
    left = with_token(token)
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = with_token(token)
    return left


@pytest.fixture
def token() -> Iterator[str]:
    value = f"samlink-test-{uuid.uuid4().hex}"
    yield value
    for pid in with_token(value):  # never leave a failed test's processes behind
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def spawner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> InvokeSpec:
    monkeypatch.setenv("SAMLINK_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("SAMLINK_SANDBOX", raising=False)
    build = tmp_path / "project" / ".aws-sam" / "build" / "SpawnFunction"
    build.mkdir(parents=True)
    (build / "app.py").write_text(HANDLER)
    arch = "arm64" if os.uname().machine in ("aarch64", "arm64") else "x86_64"
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    return InvokeSpec("SpawnFunction", build, (), "app.spawn", version, arch, timeout=20)


@pytest.mark.parametrize("isolation", ["namespace", "host"])
def test_a_detached_child_of_the_handler_ends_with_the_invoke(
    spawner: InvokeSpec, token: str, isolation: str
) -> None:
    """A PID namespace in the sandbox, a subreaper's sweep at host paths."""
    result = invoke(spawner, json.dumps({"token": token}).encode(), isolation=isolation)
    assert result.exit_code == 0, result.payload
    assert json.loads(result.payload) == "spawned"
    assert gone(token) == []


@pytest.mark.parametrize("isolation", ["namespace", "host"])
def test_a_killed_samlink_takes_the_sandbox_and_its_children_along(
    spawner: InvokeSpec, token: str, isolation: str, tmp_path: Path
) -> None:
    """SIGKILL leaves samlink no chance to clean up: the sandbox's lifeline does it."""
    # The token reaches the handler in a file: only the sleeper's command line holds it.
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"token": token, "hang": True}))
    code = f"""
import json, sys
from pathlib import Path
from samlink.runtime.invoke import InvokeSpec, invoke
spec = InvokeSpec("SpawnFunction", Path({str(spawner.code_dir)!r}), (), "app.spawn",
                  {spawner.runtime!r}, {spawner.architecture!r}, timeout=120)
invoke(spec, Path({str(event)!r}).read_bytes(), isolation={isolation!r})
"""
    env = {**os.environ, "SAMLINK_CACHE_DIR": str(tmp_path / "cache")}
    samlink = subprocess.Popen([sys.executable, "-c", code], env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not with_token(token) and time.monotonic() < deadline:
            assert samlink.poll() is None, samlink.stderr.read() if samlink.stderr else ""
            time.sleep(0.1)
        assert with_token(token), "the handler never started its child"
        samlink.kill()
        samlink.wait()
        assert gone(token) == []
    finally:
        if samlink.poll() is None:
            samlink.kill()
        samlink.wait()
