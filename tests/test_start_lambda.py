"""`samlink start-lambda` as a real server: a real `sam build` of the example, a real boto3 client.

The server runs as a subprocess on a free port; its processes are found afterwards by a unique
token (the `Target` parameter, which becomes a variable of every environment) in /proc.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.config as botocore_config
import pytest

from conftest import BIN, copy_example, free_port, run, sam_build
from test_processes import gone, with_token

pytestmark = [
    pytest.mark.sam,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux sandbox, /proc"),
]

BOOM = '''

def boom(event, context):
    """Fails on purpose; sleeps first when asked (to time out)."""
    import time

    time.sleep(event.get("sleep", 0))
    raise ValueError("boom")
'''

BOOM_FUNCTION = """
  BoomFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: hello_world/
      Handler: app.boom
      Runtime: python3.12
      Timeout: 1
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, tool_env: dict[str, str]) -> Path:
    """The example with a second function that fails, initialized, linked and built for real."""
    project = copy_example(tmp_path_factory.mktemp("start-lambda") / "proj", tool_env)
    app = project / "hello_world" / "app.py"
    app.write_text(app.read_text() + BOOM)
    template = project / "template.yaml"
    text = template.read_text()
    template.write_text(text.replace("\nParameters:", BOOM_FUNCTION + "\nParameters:"))
    run([BIN / "samlink", "init"], project, tool_env)
    run([BIN / "samlink", "link", "./sam-sync-test-upstream"], project, tool_env)
    sam_build(project, tool_env)
    return project


@pytest.fixture
def token() -> Iterator[str]:
    value = f"samlinkstartlambda{uuid.uuid4().hex}"
    yield value
    for pid in with_token(value):  # never leave a failed test's processes behind
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


class Server:
    """`samlink start-lambda` in a subprocess, started as a background job of a script is:
    with SIGINT ignored (it must install its own handler)."""

    def __init__(self, project: Path, env: dict[str, str], args: list[str], port: int) -> None:
        self.port = port
        # The log goes to a file: a pipe nobody drains would block the server once full.
        self.log = project.parent / f"start-lambda-{port}.log"
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [str(BIN / "samlink"), "start-lambda", *args],
                cwd=project,
                env=env,
                stdout=subprocess.PIPE,
                stderr=log,
                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
            )
        self.stdout: list[str] = []
        self._held = b""

    def wait_ready(self, names: list[str], within: float = 180.0) -> None:
        """Until one start line per function is printed (a first build may run before)."""
        assert self.proc.stdout is not None
        selector = selectors.DefaultSelector()
        selector.register(self.proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + within
        while not all(any(line.startswith(f"{n} ") for line in self.stdout) for n in names):
            assert self.proc.poll() is None, self.stop_and_read()
            assert time.monotonic() < deadline, self.stop_and_read()
            if selector.select(timeout=1.0):
                # Raw reads: a buffered readline would keep later lines where select cannot see.
                data = self._held + os.read(self.proc.stdout.fileno(), 65536)
                *lines, self._held = data.split(b"\n")
                self.stdout.extend(line.decode() for line in lines)

    def client(self) -> Any:
        config = botocore_config.Config(
            retries={"max_attempts": 0}, read_timeout=60, connect_timeout=5
        )
        return boto3.client(
            "lambda",
            endpoint_url=f"http://127.0.0.1:{self.port}",
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=config,
        )

    def stop(self, signum: int, within: float = 10.0) -> tuple[int, str]:
        """Send `signum`; the exit code and stderr (it must be gone within `within`)."""
        self.proc.send_signal(signum)
        try:
            self.proc.communicate(timeout=within)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            raise AssertionError(f"still running {within} s after signal {signum}") from None
        return self.proc.returncode, self.log.read_text(errors="replace")

    def stop_and_read(self) -> str:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate()
        return self.log.read_text(errors="replace")


def until(check: Callable[[], bool], within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "the edit was not served"
        time.sleep(0.3)


def port_is_free(port: int) -> bool:
    """A new server could listen there (as servers do, past the client side's TIME_WAIT)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def message(client: Any, name: str = "HelloWorldFunction") -> tuple[int, str]:
    answer = client.invoke(FunctionName=name, Payload=b"{}")
    assert answer["StatusCode"] == 200 and "FunctionError" not in answer, answer
    payload = json.loads(answer["Payload"].read())
    return int(payload["statusCode"]), str(json.loads(payload["body"])["message"])


def test_boto3_against_start_lambda(project: Path, tool_env: dict[str, str], token: str) -> None:
    port = free_port()
    server = Server(
        project, tool_env, ["--port", str(port), "--parameter-overrides", f"Target={token}"], port
    )
    server.wait_ready(["HelloWorldFunction", "BoomFunction"])
    client = server.client()

    assert message(client) == (200, f"hello {token} from sam-sync-test-upstream 1.1.0.dev0")
    arn = "arn:aws:lambda:us-east-1:123456789012:function:HelloWorldFunction"
    tailed = client.invoke(FunctionName=arn, Payload=b'{"a": 1}', LogType="Tail")
    log = base64.b64decode(tailed["LogResult"]).decode()
    assert log.startswith("START RequestId: ") and "\nREPORT RequestId: " in log

    failed = client.invoke(FunctionName="BoomFunction", Payload=b"{}")
    assert (failed["StatusCode"], failed["FunctionError"]) == (200, "Unhandled")
    error = json.loads(failed["Payload"].read())
    assert (error["errorType"], error["errorMessage"]) == ("ValueError", "boom")
    assert isinstance(error["stackTrace"], list)

    late = client.invoke(FunctionName="BoomFunction", Payload=b'{"sleep": 10}')
    assert late["FunctionError"] == "Unhandled"
    assert json.loads(late["Payload"].read())["errorMessage"].endswith(
        "Task timed out after 1.00 seconds"
    )
    again = client.invoke(FunctionName="BoomFunction", Payload=b"{}")  # a fresh environment
    assert json.loads(again["Payload"].read())["errorType"] == "ValueError"

    queued = client.invoke(FunctionName="HelloWorldFunction", InvocationType="Event", Payload=b"{}")
    assert queued["StatusCode"] == 202
    dry = client.invoke(FunctionName="HelloWorldFunction", InvocationType="DryRun", Payload=b"{}")
    assert dry["StatusCode"] == 204

    with pytest.raises(client.exceptions.ResourceNotFoundException) as missing:
        client.invoke(FunctionName="NoSuchFunction", Payload=b"{}")
    assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert "NoSuchFunction" in missing.value.response["Error"]["Message"]
    with pytest.raises(client.exceptions.InvalidRequestContentException) as bad:
        client.invoke(FunctionName="HelloWorldFunction", Payload=b"{not json")
    assert bad.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400

    # Live: the linked library and the handler, with no restart.
    upstream = project / "sam-sync-test-upstream" / "src" / "sam_sync_test_upstream" / "__init__.py"
    upstream.write_text(upstream.read_text().replace('f"hello {target}', 'f"howdy {target}'))
    until(lambda: message(client)[1].startswith("howdy "))
    app = project / "hello_world" / "app.py"
    app.write_text(app.read_text().replace('"statusCode": 200', '"statusCode": 201'))
    until(lambda: message(client)[0] == 201)
    # A requirements change rebuilds that function (not the whole template) before it is served.
    requirements = project / "hello_world" / "requirements.txt"
    requirements.write_text(requirements.read_text() + "# edited\n")
    until(lambda: "rebuilding HelloWorldFunction (" in server.log.read_text(), within=120)
    until(lambda: "rebuilt (" in server.log.read_text(), within=120)
    assert message(client) == (201, f"howdy {token} from sam-sync-test-upstream 1.1.0.dev0")
    assert "running sam build" not in server.log.read_text()

    assert with_token(token), "the environments carry the token"
    code, err = server.stop(signal.SIGINT)
    assert code == 0, err
    assert "REPORT RequestId:" in err and "samlink start-lambda: stopped" in err
    assert gone(token) == []
    assert port_is_free(port)


def test_sigterm_and_sam_config(project: Path, tool_env: dict[str, str], token: str) -> None:
    port = free_port()
    config = project / "samconfig.toml"
    before = config.read_text()
    config.write_text(
        before
        + f"\n[default.local_start_lambda.parameters]\nport = {port}\n"
        + f'parameter_overrides = "Target={token}"\n'
    )
    try:
        server = Server(project, tool_env, ["--no-build"], port)
        server.wait_ready(["HelloWorldFunction"])
        client = server.client()
        assert token in message(client)[1]
        code, err = server.stop(signal.SIGTERM)
    finally:
        config.write_text(before)
    assert code == 0, err
    assert gone(token) == []
    assert port_is_free(port)
