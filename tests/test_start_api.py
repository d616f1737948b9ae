"""`samlink start-api` end to end: a real server process, real HTTP, a real `sam build`.

The project is the hello-world example (its library linked) with the template and tool handlers
of tests/fixtures/gateway: REST (payload 1.0), HTTP API (2.0), a function URL, CORS, binary
media types, a TOKEN authorizer, errors and timeouts. Nothing is mocked.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import BIN, FIXTURES, copy_example, free_port, run, sam_build
from test_watch import Live, processes_with, wait_until

pytestmark = [
    pytest.mark.sam,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux sandbox"),
]

UPSTREAM_INIT = Path("sam-sync-test-upstream/src/sam_sync_test_upstream/__init__.py")


@dataclass
class Server:
    project: Path
    live: Live
    base: str  # http://127.0.0.1:PORT
    url: str  # the function URL of HelloWorldFunction
    tools_url: str  # ToolsFunction's (AWS_IAM)
    url_port: int  # --function-url-port


@dataclass
class Answer:
    status: int
    headers: dict[str, list[str]]
    body: bytes

    def json(self) -> object:
        return json.loads(self.body)


def request(
    url: str, method: str = "GET", body: bytes | None = None, headers: dict[str, str] | None = None
) -> Answer:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            status, raw, data = resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        status, raw, data = err.code, err.headers, err.read()
    found: dict[str, list[str]] = {}
    for name, value in raw.items():
        found.setdefault(name.lower(), []).append(value)
    return Answer(status, found, data)


def make_project(root: Path, env: dict[str, str]) -> Path:
    project = copy_example(root / "api project", env)  # a space in the path, on purpose
    shutil.copy(FIXTURES / "gateway" / "template.yaml", project / "template.yaml")
    shutil.copytree(FIXTURES / "gateway" / "tools", project / "tools")
    run([BIN / "samlink", "init"], project, env)
    run([BIN / "samlink", "link", "./sam-sync-test-upstream"], project, env)
    sam_build(project, env)
    return project


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, tool_env: dict[str, str]) -> Iterator[Server]:
    project = make_project(tmp_path_factory.mktemp("start-api"), tool_env)
    port, url_port = free_port(), free_port()
    # The API port comes from the SAM config, as `sam local start-api` would read it.
    with open(project / "samconfig.toml", "a") as f:
        f.write(f"\n[default.local_start_api.parameters]\nport = {port}\n")
    live = Live(
        [BIN / "samlink", "start-api", "--function-url-port", str(url_port)], project, tool_env
    )
    try:
        found = live.wait_for(r"^HelloWorldFunction URL (http://\S+)$", timeout=300)
        tools = live.wait_for(r"^ToolsFunction URL (http://\S+)$")
        live.wait_for(r"serving on")
        base = f"http://127.0.0.1:{port}"
        yield Server(project, live, base, found.group(1), tools.group(1), url_port)
    finally:
        live.kill()


def test_prints_routes_and_urls(server: Server) -> None:
    lines = server.live.lines
    for expected in (
        "GET /hello -> HelloWorldFunction",
        "GET /v2/hello -> HelloWorldFunction",
        "ANY /tools/{proxy+} -> ToolsFunction",
        "POST /v2/echo/{name} -> ToolsFunction",
        "GET /secret -> ToolsFunction",
    ):
        assert expected in lines
    port = int(server.url.rsplit(":", 1)[1].strip("/"))
    assert server.url == f"http://127.0.0.1:{port}/" and f":{port}" not in server.base


def test_rest_http_and_function_url(server: Server) -> None:
    expected = {"message": "hello world from sam-sync-test-upstream 1.1.0.dev0"}
    for url in (f"{server.base}/hello", f"{server.base}/v2/hello", f"{server.url}any/path?x=1"):
        answer = request(url)
        assert (answer.status, answer.json()) == (200, expected), url

    first = request(f"{server.base}/tools/echo/?a=1&a=2", headers={"X-Multi": "one"}).json()
    second = request(f"{server.base}/tools/echo").json()
    assert isinstance(first, dict) and isinstance(second, dict)
    assert first["resource"] == "/tools/{proxy+}" and first["path"] == "/tools/echo/"
    assert first["pathParameters"] == {"proxy": "echo/"}
    assert first["queryStringParameters"] == {"a": "2"}
    assert first["multiValueQueryStringParameters"] == {"a": ["1", "2"]}
    assert first["multiValueHeaders"]["X-Multi"] == ["one"]
    context = first["requestContext"]
    assert context["stage"] == "Prod" and context["resourcePath"] == "/tools/{proxy+}"
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    # Milliseconds of this request (a sanity bound, not a timing assert), and a fresh ID.
    assert abs(context["requestTimeEpoch"] - time.time() * 1000) < 600_000
    assert context["requestId"] != second["requestContext"]["requestId"]

    v2 = request(
        f"{server.base}/v2/echo/bob?a=1&a=2",
        "POST",
        b'{"x": 1}',
        {"Content-Type": "application/json", "Cookie": "c1=x; c2=y"},
    ).json()
    assert isinstance(v2, dict)
    assert v2["version"] == "2.0" and v2["routeKey"] == "POST /v2/echo/{name}"
    assert v2["rawPath"] == "/v2/echo/bob" and v2["rawQueryString"] == "a=1&a=2"
    assert v2["cookies"] == ["c1=x", "c2=y"] and v2["pathParameters"] == {"name": "bob"}
    assert v2["queryStringParameters"] == {"a": "1,2"}
    assert v2["body"] == '{"x": 1}' and v2["isBase64Encoded"] is False
    assert v2["requestContext"]["http"]["method"] == "POST"
    assert v2["requestContext"]["stage"] == "$default"


def test_cors_preflight(server: Server) -> None:
    answer = request(
        f"{server.base}/hello",
        "OPTIONS",
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "GET"},
    )
    assert answer.status == 200
    assert answer.headers["access-control-allow-origin"] == ["https://app.example"]
    assert answer.headers["access-control-allow-methods"] == ["GET,OPTIONS"]
    assert answer.headers["access-control-allow-headers"] == ["Content-Type,X-Token"]
    assert answer.headers["access-control-max-age"] == ["600"]


def test_binary_body_round_trip(server: Server) -> None:
    data = bytes(range(256))
    answer = request(
        f"{server.base}/tools/binary",
        "POST",
        data,
        {"Content-Type": "image/png", "Accept": "image/png"},
    )
    assert answer.status == 200 and answer.headers["content-type"] == ["image/png"]
    assert answer.body == data + b"\x89PNG\r\n\x1a\n\x00\xff binary"


def test_authorizer(server: Server) -> None:
    allowed = request(f"{server.base}/secret", headers={"X-Token": "allow"})
    assert (allowed.status, allowed.json()) == (200, {"principalId": "tester", "team": "core"})
    denied = request(f"{server.base}/secret", headers={"X-Token": "deny"})
    assert denied.status == 403
    assert denied.json() == {
        "Message": "User is not authorized to access this resource with an explicit deny"
    }
    assert request(f"{server.base}/secret", headers={"X-Token": "nope"}).status == 401
    missing = request(f"{server.base}/secret")
    assert (missing.status, missing.json()) == (401, {"message": "Unauthorized"})

    # HTTP API, a REQUEST authorizer with simple responses (payload 2.0).
    http_allowed = request(f"{server.base}/v2/secret", headers={"X-Token": "allow"})
    assert (http_allowed.status, http_allowed.json()) == (200, {"lambda": {"who": "tester"}})
    http_denied = request(f"{server.base}/v2/secret", headers={"X-Token": "no"})
    assert (http_denied.status, http_denied.json()) == (403, {"message": "Forbidden"})
    assert request(f"{server.base}/v2/secret").status == 401


def test_unknown_route_and_errors(server: Server) -> None:
    unknown = request(f"{server.base}/nowhere")
    assert (unknown.status, unknown.json()) == (403, {"message": "Missing Authentication Token"})
    for path in ("/tools/boom", "/tools/malformed"):
        answer = request(server.base + path)
        assert (answer.status, answer.json()) == (502, {"message": "Internal server error"}), path
    simple = request(f"{server.base}/tools/simple")  # payload 1.0 has no simple form
    assert simple.status == 502


def test_timeouts(server: Server) -> None:
    # The function's own timeout (2 s) is a function error: 502.
    timed_out = request(f"{server.base}/tools/sleep?s=5")
    assert (timed_out.status, timed_out.json()) == (502, {"message": "Internal server error"})
    # Over the route's TimeoutInMillis (1000) but inside the function's: API Gateway's 504.
    slow = request(f"{server.base}/v2/slow?s=1.8")
    assert slow.status == 504


def _message(url: str) -> tuple[int, str]:
    answer = request(url)
    body = answer.json()
    return answer.status, str(body.get("message") if isinstance(body, dict) else body)


def test_live_edits_without_restart(server: Server) -> None:
    pid = server.live.proc.pid
    url = f"{server.base}/hello"
    assert _message(url) == (200, "hello world from sam-sync-test-upstream 1.1.0.dev0")
    init_py = server.project / UPSTREAM_INIT
    app = server.project / "hello_world" / "app.py"
    lib_text, app_text = init_py.read_text(), app.read_text()
    try:
        init_py.write_text(lib_text.replace('f"hello {target}', 'f"howdy {target}'))
        wanted = (200, "howdy world from sam-sync-test-upstream 1.1.0.dev0")
        wait_until(lambda: _message(url) == wanted, 60, "the library edit to be served")
        app.write_text(app_text.replace('"statusCode": 200', '"statusCode": 201'))
        wanted = (201, "howdy world from sam-sync-test-upstream 1.1.0.dev0")
        wait_until(lambda: _message(url) == wanted, 60, "the handler edit to be served")
        wait_until(lambda: _message(server.url) == wanted, 60, "the function URL to serve it")
    finally:
        init_py.write_text(lib_text)
        app.write_text(app_text)
    assert server.live.proc.poll() is None and server.live.proc.pid == pid


def test_route_collision_is_a_usage_error(tmp_path: Path, tool_env: dict[str, str]) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "template.yaml").write_text(
        "Transform: AWS::Serverless-2016-10-31\n"
        "Resources:\n"
        "  A:\n"
        "    Type: AWS::Serverless::Function\n"
        "    Properties: {Runtime: python3.12, CodeUri: a/, Handler: app.h,\n"
        "      Events: {E: {Type: Api, Properties: {Path: /x, Method: get}}}}\n"
        "  B:\n"
        "    Type: AWS::Serverless::Function\n"
        "    Properties: {Runtime: python3.12, CodeUri: a/, Handler: app.h,\n"
        "      Events: {E: {Type: HttpApi, Properties: {Path: /x, Method: GET}}}}\n"
    )
    port = free_port()
    result = run(
        [BIN / "samlink", "start-api", "--no-build", "--port", str(port)],
        tmp_path,
        tool_env,
        check=False,
    )
    assert result.returncode == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "GET /x -> A (REST API ServerlessRestApi)" in lines[0]
    assert "GET /x -> B (HTTP API ServerlessHttpApi)" in lines[0]


def test_sigint_leaves_nothing_behind(
    tmp_path_factory: pytest.TempPathFactory, server: Server, tool_env: dict[str, str]
) -> None:
    token = uuid.uuid4().hex
    port = free_port()
    env = {**tool_env, "SAMLINK_TEST_TOKEN": token}
    # Started as a background job of a non-interactive shell is: SIGINT ignored on entry.
    proc = subprocess.Popen(
        [str(BIN / "samlink"), "start-api", "--port", str(port), "--no-build"],
        cwd=server.project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("HelloWorldFunction URL"):
                break
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: request(f"{base}/hello").status == 200, 60, "the server to answer")
        request(f"{base}/v2/hello")
        request(f"{base}/secret", headers={"X-Token": "allow"})
        assert processes_with(token)  # the server (and its environments)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        wait_until(lambda: not processes_with(token), 10, "every process to be gone")
        with pytest.raises(urllib.error.URLError):
            urllib.request.urlopen(f"{base}/hello", timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in processes_with(token):
            os.kill(pid, signal.SIGKILL)


def test_request_body_is_base64_for_binary_types(server: Server) -> None:
    data = b"\x00\x01binary"
    echo = request(f"{server.base}/tools/echo", "POST", data, {"Content-Type": "image/png"}).json()
    assert isinstance(echo, dict) and echo["isBase64Encoded"] is True
    assert base64.b64decode(echo["body"]) == data


def test_template_edit_reloads_routes(server: Server) -> None:
    template = server.project / "template.yaml"
    original = template.read_text()
    url = f"{server.base}/v2/added"
    assert request(url).status == 403  # no such route yet (REST's answer: the template has both)
    mark = server.live.mark()
    anchor = "        Slow:\n"
    added = "        Added:\n          Type: HttpApi\n          Properties: {Path: /v2/added, Method: GET}\n"  # noqa: E501
    try:
        template.write_text(original.replace(anchor, added + anchor, 1))
        wait_until(lambda: request(url).body == b"no such tool", 120, "the new route")
        server.live.wait_for(r"template changed: \d+ routes", start=mark, timeout=30)
    finally:
        template.write_text(original)
    wait_until(lambda: request(url).status == 403, 120, "the route to go again")
    assert server.live.proc.poll() is None


def test_function_url_ports_and_iam(server: Server) -> None:
    # Consecutive from --function-url-port, in function order, skipping ports in use.
    assert server.url == f"http://127.0.0.1:{server.url_port}/"
    assert int(server.tools_url.rsplit(":", 1)[1].strip("/")) > server.url_port
    unsigned = request(f"{server.tools_url}echo")
    assert (unsigned.status, unsigned.json()) == (403, {"Message": "Forbidden"})
    # AWS_IAM: a SigV4-looking request is let in; the signature itself is not checked locally.
    signed = request(
        f"{server.tools_url}echo?q=1",
        headers={
            "Authorization": "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/"
            "lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc123",
            "Origin": "https://app.example",
        },
    )
    assert signed.status == 200
    assert signed.headers["access-control-allow-origin"] == ["https://app.example"]
    assert signed.headers["access-control-expose-headers"] == ["X-Trace"]
    event = signed.json()
    assert isinstance(event, dict)
    assert event["routeKey"] == "$default" and event["rawPath"] == "/echo"
    assert event["queryStringParameters"] == {"q": "1"}
    context = event["requestContext"]
    assert context["authorizer"]["iam"]["accessKey"] == "AKIDEXAMPLE"
    assert context["domainName"].endswith(".lambda-url.us-east-1.on.aws")
    preflight = request(
        server.tools_url,
        "OPTIONS",
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "GET"},
    )
    assert preflight.status == 204
    assert preflight.headers["access-control-allow-origin"] == ["https://app.example"]
