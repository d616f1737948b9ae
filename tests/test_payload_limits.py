"""Lambda's payload limits in the Docker-free sandbox: real awslambdaric, real Runtime API.

The request limit is checked before anything runs (Lambda refuses the invoke); an oversized
response becomes Lambda's `Function.ResponseSizeTooLarge` function error, exit 1.
"""

from __future__ import annotations

import json
import platform
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from conftest import BIN, copy_example, run, sam_build
from samlink.runtime import InvokeSpec, invoke, report

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux sandbox")

SAMLINK = BIN / "samlink"
APP = """
def sized(event, context):
    # A JSON string of n characters is n + 2 bytes on the wire.
    return "x" * (event["bytes"] - 2)

def echo_size(event, context):
    return len(event["data"])
"""


@pytest.fixture
def spec(tmp_path: Path, tool_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> InvokeSpec:
    monkeypatch.setenv("SAMLINK_CACHE_DIR", tool_env["SAMLINK_CACHE_DIR"])
    build = tmp_path / ".aws-sam" / "build" / "BigFunction"
    build.mkdir(parents=True)
    (build / "app.py").write_text(APP)
    machine = platform.machine().lower()
    return InvokeSpec(
        function_name="BigFunction",
        code_dir=build,
        layer_dirs=(),
        handler="app.sized",
        runtime=f"python{sys.version_info[0]}.{sys.version_info[1]}",
        architecture="arm64" if machine in ("aarch64", "arm64") else "x86_64",
        timeout=30,
    )


def test_limits_are_lambdas() -> None:
    assert report.SYNC_REQUEST_LIMIT == 6 * 1024 * 1024 == 6_291_456
    assert report.request_limit("Event") == 1024 * 1024
    assert report.request_limit("InvokeAsync") == 256 * 1024
    assert report.RESPONSE_LIMIT == 6_291_556


def test_response_at_the_limit_passes_one_byte_over_is_lambdas_error(spec: InvokeSpec) -> None:
    at_limit = invoke(spec, json.dumps({"bytes": report.RESPONSE_LIMIT}).encode(), isolation="host")
    assert at_limit.exit_code == 0 and len(at_limit.payload) == report.RESPONSE_LIMIT

    over = invoke(spec, json.dumps({"bytes": report.RESPONSE_LIMIT + 1}).encode(), isolation="host")
    assert over.exit_code == 1
    assert json.loads(over.payload) == {
        "errorMessage": "Response payload size exceeded maximum allowed payload size "
        "(6291556 bytes).",
        "errorType": "Function.ResponseSizeTooLarge",
    }


def test_request_over_the_sync_limit_is_refused_before_the_function_runs(
    spec: InvokeSpec,
) -> None:
    def event(size: int) -> bytes:
        head = b'{"data": "'
        return head + b"y" * (size - len(head) - 2) + b'"}'

    fits = invoke(
        replace(spec, handler="app.echo_size"),
        event(report.SYNC_REQUEST_LIMIT),
        isolation="host",
    )
    assert fits.exit_code == 0
    with pytest.raises(report.RequestTooLarge) as refused:
        invoke(spec, event(report.SYNC_REQUEST_LIMIT + 1), isolation="host")
    error = refused.value
    assert error.exit_code == 1 and error.status == 413
    assert error.headers["x-amzn-ErrorType"] == "RequestEntityTooLargeException"
    assert json.loads(error.body()) == {
        "Type": "User",
        "message": "Request must be smaller than 6291456 bytes for the InvokeFunction operation",
    }
    with pytest.raises(report.RequestTooLarge):
        report.check_request(b"z" * (report.ASYNC_REQUEST_LIMIT + 1), "Event")
    report.check_request(b"z" * report.ASYNC_REQUEST_LIMIT, "Event")


@pytest.mark.sam
def test_samlink_invoke_exits_1_with_lambdas_errors(
    tmp_path: Path, tool_env: dict[str, str]
) -> None:
    project = copy_example(tmp_path / "hello", tool_env)
    big_event = project / "big.json"
    big_event.write_text(json.dumps({"data": "y" * report.SYNC_REQUEST_LIMIT}))
    # Refused before anything else: not even "not built" (nothing is built yet).
    refused = run(
        [SAMLINK, "invoke", "HelloWorldFunction", "-e", big_event], project, tool_env, False
    )
    assert refused.returncode == 1, refused.stderr
    assert refused.stderr.splitlines() == [refused.stderr.strip()]
    assert refused.stderr.startswith(
        "samlink: error: RequestEntityTooLargeException: Request must be smaller than "
        "6291456 bytes for the InvokeFunction operation (hint: "
    )

    run([SAMLINK, "init"], project, tool_env)
    sam_build(project, tool_env)
    app = project / "hello_world" / "app.py"  # linked live into the build dir
    app.write_text(
        app.read_text().replace(
            "def lambda_handler(event, context):\n",
            "def lambda_handler(event, context):\n    return 'x' * 7_000_000\n",
            1,
        )
    )
    result = run([SAMLINK, "invoke", "HelloWorldFunction", "--no-build"], project, tool_env, False)
    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout)["errorType"] == "Function.ResponseSizeTooLarge"
