"""The container path. CI has no Docker engine: the command line is checked as data, the engine
probe against a stand-in socket answering Docker's /_ping, SAM's version against the real SAM."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from samlink.errors import UsageError
from samlink.runtime import built_template, check_sam_version, sam_local_invoke_argv
from samlink.runtime.docker import (
    MIN_SAM,
    ContainerOptions,
    emulation_hint,
    emulation_missing,
    engine_available,
    engine_endpoints,
    is_error_payload,
    parse_sam_version,
    ping,
    run_sam_local_invoke,
)


def test_sam_local_invoke_argv() -> None:
    argv = sam_local_invoke_argv(
        "HelloFunction",
        template=Path("/p/.aws-sam/build/template.yaml"),
        event="events/event.json",
        env_vars=Path("env.json"),
        parameter_overrides=("Stage=dev", "ParameterKey=Table,ParameterValue=t"),
    )
    assert argv == [
        "sam", "local", "invoke", "HelloFunction",
        "--template", "/p/.aws-sam/build/template.yaml",
        "--mount-symlinks",
        "--event", "events/event.json",
        "--env-vars", "env.json",
        "--parameter-overrides", "Stage=dev", "ParameterKey=Table,ParameterValue=t",
    ]  # fmt: skip
    minimal = sam_local_invoke_argv(
        "F", template=Path("t.yaml"), event=None, env_vars=None, parameter_overrides=(),
        sam="/venv/bin/sam",
    )  # fmt: skip
    assert minimal == ["/venv/bin/sam", "local", "invoke", "F", "--template", "t.yaml",
                       "--mount-symlinks"]  # fmt: skip


def test_built_template_preferred(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "sam" / "template.yaml"
    source.parent.mkdir()
    source.write_text("Resources: {}\n")
    monkeypatch.chdir(tmp_path)  # `sam build -t sam/template.yaml` ran here
    assert built_template(source) == source
    built = tmp_path / ".aws-sam" / "build" / "template.yaml"
    built.parent.mkdir(parents=True)
    built.write_text("Resources: {}\n")
    assert built_template(source) == built  # under the current directory, as SAM writes it
    other = tmp_path / "elsewhere"
    assert built_template(source, other) == source
    (other / "template.yaml").parent.mkdir()
    (other / "template.yaml").write_text("Resources: {}\n")
    assert built_template(source, other) == other / "template.yaml"


def test_error_payloads_as_sam_prints_them() -> None:
    raised = (
        '{"errorMessage": "boom", "errorType": "ValueError", "requestId": "r", "stackTrace": []}'
    )
    assert is_error_payload(raised)
    assert is_error_payload('{"errorMessage": "x", "errorType": "Runtime.ImportModuleError"}')
    timeout = '{"errorMessage": "2024-05-01T12:30:05Z r Task timed out after 3.00 seconds"}'
    assert is_error_payload(timeout)
    assert not is_error_payload('{"statusCode": 200, "body": "{}"}')
    assert not is_error_payload('{"errorMessage": "a handler may return this", "status": 1}')
    assert not is_error_payload("not json")


def test_engine_endpoints_follow_sam() -> None:
    assert engine_endpoints({}, "linux") == [
        "unix:///var/run/docker.sock",
        "unix:///var/run/finch.sock",
    ]
    assert engine_endpoints({"DOCKER_HOST": "tcp://10.0.0.2:2376"}, "darwin") == [
        "tcp://10.0.0.2:2376",
        "unix:///Applications/Finch/lima/data/finch/sock/finch.sock",
    ]


@pytest.fixture
def fake_engine() -> Iterator[str]:
    """A stand-in for a Docker engine socket: it answers /_ping like dockerd (no engine in CI)."""
    folder = tempfile.mkdtemp(prefix="eng-")  # AF_UNIX paths must stay short
    path = os.path.join(folder, "docker.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen()
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.recv(4096)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"unix://{path}"
    finally:
        stop.set()
        thread.join()
        server.close()
        shutil.rmtree(folder)


def test_engine_probe_asks_the_engine(fake_engine: str, tmp_path: Path) -> None:
    assert ping(fake_engine) is True
    assert engine_available({"DOCKER_HOST": fake_engine}) is True
    # A socket file nobody listens on is not an engine, nor is a missing one.
    dead = tmp_path / "dead.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(dead))
    sock.close()
    assert ping(f"unix://{dead}") is False
    assert ping("unix:///nonexistent/docker.sock") is False
    assert ping("ssh://user@host") is None


def test_no_engine_on_this_machine_unless_one_answers() -> None:
    answers = [ping(endpoint) for endpoint in engine_endpoints(os.environ, sys.platform)]
    assert engine_available() is any(answers)


def test_installed_sam_has_mount_symlinks() -> None:
    sam = Path(sys.executable).parent / "sam"
    if not sam.exists():
        pytest.skip("SAM CLI is not installed in this virtualenv")
    assert check_sam_version(str(sam)) >= MIN_SAM
    assert parse_sam_version("SAM CLI, version 1.133.9") == (1, 133, 9)
    assert parse_sam_version("nonsense") is None


def test_run_sam_local_invoke_exit_code_from_output(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    # A stand-in for `sam` that prints what SAM prints and exits 0, as SAM does on a handler error.
    fake = tmp_path / "sam"
    fake.write_text(
        "#!/bin/sh\n"
        'echo "START RequestId: r Version: \\$LATEST" >&2\n'
        'if [ "$3" = Bad ]; then\n'
        '  echo \'{"errorMessage": "boom", "errorType": "ValueError", "stackTrace": []}\'\n'
        "else\n"
        "  echo '{\"statusCode\": 200}'\n"
        "fi\n"
    )
    fake.chmod(0o755)
    argv = sam_local_invoke_argv(
        "Good", template=Path("t.yaml"), event=None, env_vars=None, parameter_overrides=(),
        sam=str(fake),
    )  # fmt: skip
    assert run_sam_local_invoke(argv) == 0
    assert run_sam_local_invoke([*argv[:3], "Bad", *argv[4:]]) == 1
    out, err = capfd.readouterr()
    assert '{"statusCode": 200}' in out
    assert '"errorType": "ValueError"' in out
    assert "START RequestId" in err


def test_container_options_are_forwarded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    options = ContainerOptions(
        config_file=Path("samconfig.toml"),
        config_env="dev",
        skip_pull_image=True,
        docker_network="lambda-net",
        container_env_vars=Path("debug-env.json"),
        add_host=("db.local:10.0.0.5", "cache.local:10.0.0.6"),
        invoke_image=("F=my/image:tag",),
        debug_port=(5858,),
    )
    argv = sam_local_invoke_argv(
        "F", template=Path("t.yaml"), event=None, env_vars=None, parameter_overrides=(),
        options=options,
    )  # fmt: skip
    assert argv[7:] == [
        # Absolute: SAM would read a relative one from the built template's folder.
        "--config-file", str(tmp_path / "samconfig.toml"),
        "--config-env", "dev",
        "--skip-pull-image",
        "--docker-network", "lambda-net",
        "--container-env-vars", "debug-env.json",
        "--add-host", "db.local:10.0.0.5", "--add-host", "cache.local:10.0.0.6",
        "--invoke-image", "F=my/image:tag",
        "--debug-port", "5858",
    ]  # fmt: skip


def test_emulation_missing_reads_binfmt(tmp_path: Path) -> None:
    # A stand-in for /proc/sys/fs/binfmt_misc: registering a real handler would change the host.
    binfmt = tmp_path / "binfmt_misc"
    binfmt.mkdir()
    local = {"DOCKER_HOST": "unix:///run/x.sock"}

    def missing(arch: str, machine: str, env: dict[str, str] = local, platform: str = "linux"):  # type: ignore[no-untyped-def]
        return emulation_missing(arch, env, machine=machine, platform=platform, binfmt=binfmt)

    assert missing("x86_64", "x86_64") is None
    assert missing("arm64", "aarch64") is None
    why = missing("arm64", "x86_64")
    assert why is not None and "qemu-aarch64" in why and "x86_64 machine" in why
    assert missing("x86_64", "aarch64") is not None  # the other way round needs qemu-x86_64
    (binfmt / "qemu-aarch64").write_text("disabled\ninterpreter /usr/bin/qemu-aarch64-static\n")
    assert missing("arm64", "x86_64") is not None
    (binfmt / "qemu-aarch64").write_text("enabled\ninterpreter /usr/bin/qemu-aarch64-static\n")
    assert missing("arm64", "x86_64") is None
    (binfmt / "qemu-aarch64").unlink()
    # Engines on another kernel (a VM, a remote host) have their own emulation: not ours to judge.
    assert missing("arm64", "x86_64", {"DOCKER_HOST": "tcp://10.0.0.2:2376"}) is None
    assert missing("arm64", "x86_64", local, "darwin") is None
    assert "tonistiigi/binfmt --install arm64" in emulation_hint("arm64")


def test_what_sam_says_without_a_result(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    # A stand-in for `sam` printing what SAM 1.170 printed on a real engine (tests/container runs
    # the real thing): a timeout, an emulator of the wrong architecture, and silence.
    fake = tmp_path / "sam"
    fake.write_text(
        "#!/bin/sh\n"
        'case "$1" in\n'
        "  slow) echo \"Function 'Slow' timed out after 1 seconds\" >&2\n"
        '        echo "END RequestId: 419076eb-4e37-47e4-9a08-27acd0d77542" >&2\n'
        '        echo "No response from invoke container for Slow" >&2 ;;\n'
        '  arm) echo "exec /var/rapid/aws-lambda-rie: exec format error" >&2\n'
        '       echo "No response from invoke container for Arm" >&2 ;;\n'
        "esac\n"
    )
    fake.chmod(0o755)
    assert run_sam_local_invoke([str(fake), "slow"], timeout=1) == 1
    out, err = capfd.readouterr()
    assert "No response from invoke container" in err  # SAM's words still reach the user
    assert set(json.loads(out)) == {"errorMessage"}  # Lambda's timeout shape: the message alone
    assert re.fullmatch(
        r"\S+Z 419076eb-4e37-47e4-9a08-27acd0d77542 Task timed out after 1\.00 seconds",
        json.loads(out)["errorMessage"],
    )
    with pytest.raises(UsageError, match="cannot run arm64 containers"):
        run_sam_local_invoke([str(fake), "arm"], architecture="arm64")
    assert run_sam_local_invoke([str(fake), "silent"]) == 1
    out, _err = capfd.readouterr()
    assert json.loads(out.splitlines()[-1])["errorType"] == "Runtime.ExitError"


def test_container_options_bad_input_is_refused_before_anything_runs(
    tmp_path: Path, tool_env: dict[str, str]
) -> None:
    (tmp_path / "template.yaml").write_text(
        "Transform: AWS::Serverless-2016-10-31\nResources:\n  F:\n"
        "    Type: AWS::Serverless::Function\n"
        "    Properties: {CodeUri: fn/, Handler: app.handler, Runtime: python3.11}\n"
    )
    samlink = str(Path(sys.executable).parent / "samlink")
    cases = {
        "apply to sam local invoke only": ["--no-docker", "--skip-pull-image"],
        "--config-file nope.toml not found": ["--config-file", "nope.toml"],
        "--container-env-vars file dbg.json not found": ["--container-env-vars", "dbg.json"],
    }
    for words, args in cases.items():
        done = subprocess.run(
            [samlink, "invoke", "F", *args], cwd=tmp_path, env=tool_env,
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 2, done.stderr
        assert words in done.stderr and "hint:" in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["template.yaml"]  # nothing built
