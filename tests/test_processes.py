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

from conftest import BIN, run
from samlink.live import sync
from samlink.model.template import load_template
from samlink.runtime import InvokeSpec, invoke
from test_sync import Stack, aws
from test_watch import Live, processes_with, wait_until

__all__ = ["aws"]  # a fixture, used by name
SAMLINK = BIN / "samlink"

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


# -- samlink sync: SAM and what it starts end with samlink ---------------------------------------

SYNC_TEMPLATE = """\
AWSTemplateFormatVersion: '2010-09-09'
Resources:
  LambdaRole:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: '2012-10-17'
        Statement:
          - Effect: Allow
            Principal: {Service: lambda.amazonaws.com}
            Action: sts:AssumeRole
  Fn:
    Type: AWS::Lambda::Function
    Properties:
      Code: fn/
      Handler: app.lambda_handler
      Runtime: python3.12
      Role: !GetAtt LambdaRole.Arn
"""


@pytest.fixture
def sync_project(tmp_path: Path, aws: dict[str, str]) -> Path:
    project = tmp_path / "project"
    (project / "fn").mkdir(parents=True)
    (project / "fn" / "app.py").write_text("def lambda_handler(event, context):\n    return 1\n")
    (project / "fn" / "requirements.txt").write_text("")
    (project / "template.yaml").write_text(SYNC_TEMPLATE)
    run([SAMLINK, "init"], project, aws)
    return project


def start_sync(project: Path, aws: dict[str, str]) -> Live:
    stack = Stack(aws, f"samlink-{uuid.uuid4().hex[:8]}")
    bucket = f"samlink-sync-{uuid.uuid4().hex[:8]}"
    stack.s3.create_bucket(Bucket=bucket)
    command: list[str | Path] = [
        SAMLINK, "sync", "--stack-name", stack.name, "--s3-bucket", bucket
    ]  # fmt: skip
    return Live(command, project, aws, stdin="y\n")


def command_of(pid: int) -> list[bytes]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return []


def running(token: str, program: bytes) -> list[int]:
    """Processes of a Live whose program (or script) ends with `program`."""
    return [
        pid
        for pid in processes_with(token)
        if any(part.endswith(program) for part in command_of(pid)[:3])
    ]


def no_markers(project: Path) -> bool:
    return not (project / "fn" / sync.MARKER_DIR).exists()


@pytest.mark.sam
def test_sigkill_of_samlink_sync_ends_sam_and_its_build(
    sync_project: Path, aws: dict[str, str]
) -> None:
    live = start_sync(sync_project, aws)
    try:
        # Kill while SAM's first build runs (make and samlink build below SAM), if we catch it.
        wait_until(
            lambda: running(live.token, b"make") or "Infra sync completed" in live.output,
            600,
            "SAM's first build",
        )
        assert running(live.token, b"/sam")
        os.kill(live.proc.pid, signal.SIGKILL)  # samlink alone: nothing of it can clean up
        live.proc.wait(timeout=30)
        wait_until(lambda: not processes_with(live.token), 20, "SAM and its children to end")
        wait_until(lambda: no_markers(sync_project), 10, "the markers to go")
    finally:
        live.kill()


@pytest.mark.sam
def test_sighup_stops_samlink_sync_like_ctrl_c(sync_project: Path, aws: dict[str, str]) -> None:
    live = start_sync(sync_project, aws)
    try:
        live.wait_for(r"Infra sync completed\.", timeout=600)
        os.killpg(live.proc.pid, signal.SIGHUP)  # what a closing terminal sends its job
        live.proc.wait(timeout=120)
        wait_until(lambda: not processes_with(live.token), 20, "SAM and its children to end")
        assert "samlink: stopped" in live.output
        assert no_markers(sync_project)
    finally:
        live.kill()


@pytest.mark.sam
def test_a_restarted_sync_ends_the_stale_one_and_refuses_a_live_one(
    sync_project: Path, aws: dict[str, str]
) -> None:
    first = start_sync(sync_project, aws)
    second: Live | None = None
    try:
        first.wait_for(r"Infra sync completed\.", timeout=600)
        # A stale sync: its samlink is gone and its supervisor cannot act (stopped), so SAM
        # keeps running, as it did before samlink had a supervisor.
        (supervisor,) = running(first.token, b"reaper.py")
        os.kill(supervisor, signal.SIGSTOP)
        os.kill(first.proc.pid, signal.SIGKILL)
        first.proc.wait(timeout=30)
        assert running(first.token, b"/sam")

        second = start_sync(sync_project, aws)
        second.wait_for(r"ending the sam sync .* of a samlink sync that died", timeout=60)
        wait_until(lambda: not processes_with(first.token), 30, "the stale SAM to end")
        second.wait_for(r"running sam sync", timeout=60)

        # While the second one lives, a third is refused: one sync per stack.
        refused = run([SAMLINK, "sync", "--stack-name", "other"], sync_project, aws, check=False)
        assert refused.returncode == 2, refused.stderr
        assert "samlink sync is already running for this project" in refused.stderr

        second.wait_for(r"Infra sync completed\.", timeout=600)
        second.interrupt()
        assert second.proc.wait(timeout=120) == 130
        wait_until(lambda: not processes_with(second.token), 30, "every child process to exit")
        assert no_markers(sync_project)
    finally:
        first.kill()
        if second is not None:
            second.kill()


def test_stale_markers_are_made_afresh(tmp_path: Path) -> None:
    """A marker folder left by a killed sync is replaced, so the stop removes it."""
    template = tmp_path / "template.yaml"
    (tmp_path / "fn").mkdir()
    (tmp_path / "fn" / "app.py").write_text("")
    template.write_text(SYNC_TEMPLATE)
    stale = tmp_path / "fn" / sync.MARKER_DIR
    stale.mkdir()
    (stale / "Gone").write_text("0\n")
    resources = [r for r in load_template(template).resources.values() if r.code_dir]
    folders = sync.prepare_markers(resources)
    assert folders == [stale]
    assert sorted(p.name for p in stale.iterdir()) == [".gitignore", "Fn"]
    sync.remove_markers(folders)
    assert not stale.exists()


ORPHAN = """
import os, subprocess, sys
# SAM as samlink sync started it before it had a supervisor and a lock; then its samlink dies.
sam = subprocess.Popen(sys.argv[1:], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, start_new_session=True)
sam.stdin.write(b"y\\n")
sam.stdin.close()
os._exit(0)
"""


@pytest.mark.sam
def test_a_sync_ends_the_sam_an_older_samlink_left_without_a_lock(
    sync_project: Path, aws: dict[str, str]
) -> None:
    template = load_template(sync_project / "template.yaml")
    stack = Stack(aws, f"samlink-{uuid.uuid4().hex[:8]}")
    bucket = f"samlink-sync-{uuid.uuid4().hex[:8]}"
    stack.s3.create_bucket(Bucket=bucket)
    old_token = uuid.uuid4().hex
    env = {**aws, sync.SYNC_ENV: "1", "SAMLINK_TEST_TOKEN": old_token}
    command = sync.sam_command(
        str(BIN / "sam"),
        template.path,
        ["--s3-bucket", bucket],
        stack_name=stack.name,
        dependency_layer=False,
        excludes=[],
    )
    subprocess.run([sys.executable, "-c", ORPHAN, *command], env=env, check=True, timeout=60)
    live: Live | None = None
    try:
        wait_until(lambda: running(old_token, b"/sam"), 60, "the orphaned SAM")
        live = start_sync(sync_project, aws)
        live.wait_for(r"ending sam sync \(pid \d+\) left running by an earlier", timeout=120)
        wait_until(lambda: not processes_with(old_token), 30, "the orphaned SAM to end")
        live.wait_for(r"running sam sync", timeout=60)
        live.interrupt()
        assert live.proc.wait(timeout=120) == 130
    finally:
        for pid in processes_with(old_token):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if live is not None:
            live.kill()


REBUILD_TEMPLATE = """\
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Resources:
  SlowFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn/
      Handler: app.handler
      Runtime: python3.12
    Metadata:
      BuildMethod: makefile
"""

REBUILD_CHILD = """
import sys
from pathlib import Path
from samlink.build import rebuild
from samlink.model.template import load_template
template = load_template(Path(sys.argv[1]))
(resource,) = [r for r in template.resources.values() if r.logical_id == "SlowFunction"]
rebuild._rebuild(resource, Path(sys.argv[2]))
"""


def test_sigkill_of_samlink_during_a_rebuild_ends_make(tmp_path: Path, token: str) -> None:
    """The make a rebuild runs (before an invoke, or for `samlink watch`) is below the supervisor:
    a samlink killed outright mid-rebuild leaves no make (nor what make started) behind."""
    (tmp_path / "template.yaml").write_text(REBUILD_TEMPLATE)
    (tmp_path / "fn").mkdir()
    (tmp_path / "fn" / "Makefile").write_text("build-SlowFunction:\n\tsleep 300; echo done\n")
    env = {**os.environ, "SAMLINK_TEST_TOKEN": token}
    for name in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS"):
        env.pop(name, None)
    root = tmp_path / ".aws-sam" / "build"
    child = subprocess.Popen(
        [sys.executable, "-c", REBUILD_CHILD, str(tmp_path / "template.yaml"), str(root)],
        env=env,
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(
            b"sleep" in Path(f"/proc/{pid}/cmdline").read_bytes()
            for pid in with_token(token)
            if Path(f"/proc/{pid}/cmdline").exists()
        ):
            time.sleep(0.1)
        assert len(with_token(token)) >= 3  # samlink, the supervisor, make (and its sleep)
        child.kill()
        child.wait()
        assert gone(token, within=5.0) == []
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_sigkill_of_samlink_ends_the_docker_paths_sam(tmp_path: Path, token: str) -> None:
    """`samlink invoke --docker` runs `sam local invoke` below the supervisor. There is no
    container engine here (only in tests/container), so a stand-in `sam` (a sleeper) is started
    the way the Docker path starts SAM; SIGKILL of samlink must end it."""
    sam = tmp_path / "sam"
    sam.write_text("#!/bin/sh\nsleep 300\n")
    sam.chmod(0o755)
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from samlink.runtime import docker; "
            "docker.run_sam_local_invoke([sys.argv[1], 'local', 'invoke'])",
            str(sam),
        ],
        env={**os.environ, "SAMLINK_TEST_TOKEN": token},
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(with_token(token)) < 4:
            time.sleep(0.1)
        assert len(with_token(token)) >= 4  # samlink, the supervisor, sam (sh) and its sleep
        child.kill()
        child.wait()
        assert gone(token, within=5.0) == []
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_sigkill_of_samlink_watch_ends_its_full_sam_build(tmp_path: Path, token: str) -> None:
    """`samlink watch`'s full `sam build` runs below the supervisor. A stand-in `sam` first on
    PATH (a script that sleeps, so the first full build is slow) stands for SAM; SIGKILL of
    samlink mid-build must end it and its sleep."""
    project = tmp_path / "project"
    (project / "fn").mkdir(parents=True)
    (project / "fn" / "app.py").write_text("def handler(event, context):\n    return 1\n")
    (project / "template.yaml").write_text(
        "Transform: AWS::Serverless-2016-10-31\nResources:\n  Fn:\n"
        "    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: fn/\n"
        "      Handler: app.handler\n      Runtime: python3.12\n"
    )
    stand_in = tmp_path / "bin"
    stand_in.mkdir()
    (stand_in / "sam").write_text("#!/bin/sh\nsleep 300\n")
    (stand_in / "sam").chmod(0o755)
    env = {**os.environ, "SAMLINK_TEST_TOKEN": token}
    env["PATH"] = f"{stand_in}{os.pathsep}{BIN}{os.pathsep}{env['PATH']}"
    child = subprocess.Popen(
        [str(BIN / "samlink"), "watch"],
        cwd=project,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(
            b"sleep" in Path(f"/proc/{pid}/cmdline").read_bytes()
            for pid in with_token(token)
            if Path(f"/proc/{pid}/cmdline").exists()
        ):
            time.sleep(0.1)
        assert len(with_token(token)) >= 3  # samlink, sam (sh) and its sleep
        child.kill()
        child.wait()
        assert gone(token, within=5.0) == []
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
