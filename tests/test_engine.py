"""The warm engine end to end: real awslambdaric processes, real watchers, hand-made build dirs.

The build dir is laid out by hand as a dev build is (top-level links to the function's source and
to a linked library), so no `sam build` runs here; tests/test_start_lambda.py uses a real one.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from samlink.model.template import Template
from samlink.runtime.engine import Engine, Result, UnknownFunction
from test_processes import gone, with_token

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux sandbox")

APP = """
import json, os, subprocess, sys, threading, time, uuid

import greet

COUNT = 0
# Which environment answered (pids are all 2 inside PID namespaces).
ENVIRONMENT = uuid.uuid4().hex

def handler(event, context):
    global COUNT
    COUNT += 1
    print("count", COUNT)
    if event.get("sleep"):
        time.sleep(event["sleep"])
    if event.get("boom"):
        raise ValueError("boom " + str(COUNT))
    if event.get("exit"):
        os._exit(3)
    if event.get("big"):
        return "x" * event["big"]
    if event.get("die_later"):
        threading.Timer(0.2, os._exit, [1]).start()  # dies while idle, after answering
    if event.get("spawn"):
        # A detached child: it must not outlive the environment.
        subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(300)"], start_new_session=True
        )
    return {
        "count": COUNT,
        "greet": greet.VALUE,
        "version": "v1",
        "env": ENVIRONMENT,
        "mode": os.environ.get("MODE"),
    }
"""

TEMPLATE = """
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.handler
      Runtime: python3.12
      Timeout: {timeout}
      Environment:
        Variables:
          MODE: {mode}
          TOKEN: {token}
{extra}
"""


@pytest.fixture(scope="session")
def runtime_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("samlink-cache")


@pytest.fixture(autouse=True)
def _private_cache(runtime_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAMLINK_CACHE_DIR", str(runtime_cache))
    monkeypatch.delenv("SAMLINK_SANDBOX", raising=False)


@pytest.fixture
def token() -> Iterator[str]:
    value = f"samlink-engine-{uuid.uuid4().hex}"
    yield value
    assert gone(value) == [], "an environment outlived the engine"


def make_project(root: Path, token: str, *, timeout: int = 3, extra: str = "") -> Path:
    """template.yaml, src/app.py, lib/greet, and a dev build linking both."""
    (root / "src").mkdir(parents=True)
    (root / "lib" / "greet").mkdir(parents=True)
    write_template(root, token, timeout=timeout, extra=extra)
    (root / "src" / "app.py").write_text(APP)
    (root / "lib" / "greet" / "__init__.py").write_text('VALUE = "hello"\n')
    build = root / ".aws-sam" / "build" / "Fn"
    build.mkdir(parents=True)
    (build / "app.py").symlink_to(root / "src" / "app.py")
    (build / "greet").symlink_to(root / "lib" / "greet")
    return root / "template.yaml"


def write_template(
    root: Path, token: str, *, timeout: int = 3, mode: str = "one", extra: str = ""
) -> None:
    text = TEMPLATE.format(timeout=timeout, mode=mode, token=token, extra=extra)
    (root / "template.yaml").write_text(text)


def serve(template: Path, body: Callable[[Engine], Awaitable[None]], **options: Any) -> list[str]:
    """Run `body` against a started engine; its log lines."""
    lines: list[str] = []

    async def main() -> None:
        engine = Engine(
            template,
            build_dir=template.parent / ".aws-sam" / "build",
            build=False,
            log=lines.append,
            **options,
        )
        await engine.start()
        try:
            await body(engine)
        finally:
            await engine.close()

    asyncio.run(main())
    return lines


async def call(engine: Engine, event: dict[str, object] | None = None) -> dict[str, Any]:
    result = await engine.invoke("Fn", json.dumps(event or {}).encode())
    assert result.status == "ok", result
    found: dict[str, Any] = json.loads(result.payload)
    return found


async def until(check: Callable[[], Awaitable[bool]], within: float = 15.0) -> None:
    """Poll `check` until it holds (the watcher debounces; the machine may be busy)."""
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "the change was not picked up"
        await asyncio.sleep(0.2)


def test_state_persists_errors_and_logs(tmp_path: Path, token: str) -> None:
    template = make_project(tmp_path, token)
    results: list[Result] = []

    async def body(engine: Engine) -> None:
        assert engine.function_ids() == ["Fn"]
        first = await call(engine)
        second = await call(engine)
        assert (first["count"], second["count"]) == (1, 2)  # module state kept: one warm init
        assert first["env"] == second["env"]
        results.append(await engine.invoke("Fn", b'{"boom": true}'))
        results.append(await engine.invoke("Fn", b"{}"))
        with pytest.raises(UnknownFunction):
            await engine.invoke("Nope", b"{}")

    lines = serve(template, body)
    failed, after = results
    assert failed.status == "error"
    error = json.loads(failed.payload)
    assert (error["errorType"], error["errorMessage"]) == ("ValueError", "boom 3")
    assert "stackTrace" in error
    # A handler error keeps the environment: state goes on.
    assert json.loads(after.payload)["count"] == 4
    assert failed.log_tail.startswith(f"START RequestId: {failed.request_id}")
    assert f"REPORT RequestId: {failed.request_id}" in failed.log_tail
    assert "[ERROR] ValueError: boom 3" in failed.log_tail
    reports = [line for line in lines if line.startswith("REPORT RequestId:")]
    assert len(reports) == 4
    assert "Init Duration:" in reports[0]
    assert not any("Init Duration:" in line for line in reports[1:])
    assert all("Duration:" in line and "Max Memory Used:" in line for line in reports)
    # The function's process is found below the sandbox's supervisor: never 0 MB.
    assert all("\tMax Memory Used: 0 MB" not in line for line in reports), reports


def test_timeout_and_crash_get_a_fresh_environment(tmp_path: Path, token: str) -> None:
    template = make_project(tmp_path, token, timeout=1)
    seen: list[Result] = []

    async def body(engine: Engine) -> None:
        await call(engine)
        seen.append(await engine.invoke("Fn", b'{"sleep": 30}'))
        seen.append(await engine.invoke("Fn", b"{}"))
        seen.append(await engine.invoke("Fn", b'{"exit": true}'))
        seen.append(await engine.invoke("Fn", b"{}"))
        # Responses over Lambda's 6 MB, a little and far (past what the server reads at all).
        seen.append(await engine.invoke("Fn", b'{"big": 6300000}'))
        seen.append(await engine.invoke("Fn", b'{"big": 9000000}'))

    started = time.monotonic()
    serve(template, body)
    assert time.monotonic() - started < 25  # the 30 s sleep was cut short
    timed_out, after_timeout, crashed, after_crash, *large = seen
    assert timed_out.status == "timeout"
    assert json.loads(timed_out.payload)["errorMessage"].endswith(
        f"{timed_out.request_id} Task timed out after 1.00 seconds"
    )
    assert json.loads(after_timeout.payload)["count"] == 1  # a fresh environment
    assert crashed.status == "error"
    assert json.loads(crashed.payload)["errorType"] == "Runtime.ExitError"
    assert json.loads(after_crash.payload)["count"] == 1
    for result in large:
        assert result.status == "error"
        assert json.loads(result.payload)["errorType"] == "Function.ResponseSizeTooLarge"


def test_concurrent_requests_get_their_own_environments(tmp_path: Path, token: str) -> None:
    template = make_project(tmp_path, token)
    took: list[float] = []
    pids: list[set[str]] = []

    async def body(engine: Engine) -> None:
        await asyncio.gather(*(call(engine) for _ in range(4)))  # warm four up
        started = time.monotonic()
        answers = await asyncio.gather(*(call(engine, {"sleep": 1}) for _ in range(4)))
        took.append(time.monotonic() - started)
        pids.append({a["env"] for a in answers})

    serve(template, body, max_concurrency=4)
    # A behaviour check with a wide margin, not a benchmark: side by side, not one after another.
    assert took[0] < 3.0
    assert len(pids[0]) == 4


def test_reserved_concurrency_caps_the_pool(tmp_path: Path, token: str) -> None:
    template = make_project(tmp_path, token)
    text = template.read_text().replace(
        "      Timeout: 3\n", "      Timeout: 3\n      ReservedConcurrentExecutions: 2\n"
    )
    template.write_text(text)
    pids: list[str] = []

    async def body(engine: Engine) -> None:
        answers = await asyncio.gather(*(call(engine, {"sleep": 0.3}) for _ in range(5)))
        pids.extend(a["env"] for a in answers)

    serve(template, body, max_concurrency=4)
    assert len(pids) == 5 and len(set(pids)) <= 2  # the rest queued


def test_live_edits_need_no_restart(tmp_path: Path, token: str) -> None:
    template = make_project(tmp_path, token)
    env_vars = tmp_path / "env.json"
    env_vars.write_text(json.dumps({"Fn": {"MODE": "from-file"}}))
    reloads: list[Template] = []

    async def body(engine: Engine) -> None:
        engine.on_reload(reloads.append)
        assert (await call(engine))["mode"] == "from-file"
        warm = await call(engine)
        assert warm["count"] == 2
        # A linked library's edit: the next request runs in a fresh environment.
        (tmp_path / "lib" / "greet" / "__init__.py").write_text('VALUE = "howdy"\n')

        async def library() -> bool:
            return bool((await call(engine))["greet"] == "howdy")

        await until(library)
        # The handler's own code.
        app = tmp_path / "src" / "app.py"
        app.write_text(APP.replace('"version": "v1"', '"version": "v2"'))

        async def handler() -> bool:
            return bool((await call(engine))["version"] == "v2")

        await until(handler)
        # The --env-vars file.
        env_vars.write_text(json.dumps({"Fn": {"MODE": "edited"}}))

        async def variables() -> bool:
            return bool((await call(engine))["mode"] == "edited")

        await until(variables)
        # The template: the function table is read again and the callback told.
        env_vars.write_text("{}")
        await asyncio.sleep(1.0)
        write_template(tmp_path, token, mode="two")

        async def table() -> bool:
            return bool((await call(engine))["mode"] == "two")

        await until(table)
        assert reloads and reloads[-1].resources["Fn"].environment["MODE"] == "two"

    lines = serve(template, body, env_vars=env_vars)
    reload_lines = [line for line in lines if line.startswith("samlink:")]
    assert any("greet/__init__.py changed" in line for line in reload_lines), reload_lines
    assert any("app.py changed" in line for line in reload_lines), reload_lines
    assert any("env.json changed" in line for line in reload_lines), reload_lines
    assert any("template.yaml changed" in line for line in reload_lines), reload_lines


def test_close_leaves_no_process(tmp_path: Path, token: str) -> None:
    template = make_project(tmp_path, token)

    async def body(engine: Engine) -> None:
        await asyncio.gather(*(call(engine, {"spawn": True, "sleep": 0.2}) for _ in range(3)))
        # A request still running when the engine closes.
        running = asyncio.ensure_future(engine.invoke("Fn", b'{"sleep": 30}'))
        await asyncio.sleep(0.5)
        assert not running.done()
        assert with_token(token), "the environments carry the token"

    started = time.monotonic()
    serve(template, body)
    assert gone(token, within=10.0) == []
    assert time.monotonic() - started < 20
    assert not [p for p in with_token(token) if p != os.getpid()]


def test_debug_port_listens_and_waits_for_the_debugger(tmp_path: Path, token: str) -> None:
    """debugpy (installed into the runtime dir) listens on the port and holds the function until
    a client attaches; no real debugger attaches here, a socket connect proves the listener."""
    import socket

    template = make_project(tmp_path, token)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    listening: list[bool] = []

    async def body(engine: Engine) -> None:
        waiting = asyncio.ensure_future(engine.invoke("Fn", b"{}"))
        deadline = time.monotonic() + 120  # a first run installs debugpy
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    listening.append(True)
                    break
            except OSError:
                await asyncio.sleep(0.3)
        await asyncio.sleep(0.5)
        assert not waiting.done(), "the function ran without waiting for a debugger"
        waiting.cancel()

    lines = serve(template, body, debug_port=port)
    assert listening, "\n".join(lines)
    assert any(f"debugpy listens on 127.0.0.1:{port}" in line for line in lines)


LAYER = """
      Layers:
        - !Ref Shared
  Shared:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: layer/
      CompatibleRuntimes: [python3.12]
"""


def test_layer_edit_needs_no_restart(tmp_path: Path, token: str) -> None:
    template = make_project(tmp_path, token, extra=LAYER)
    source = tmp_path / "layer" / "shared"
    source.mkdir(parents=True)
    (source / "__init__.py").write_text('VALUE = "layer one"\n')
    built = tmp_path / ".aws-sam" / "build" / "Shared" / "python"
    built.mkdir(parents=True)
    (built / "shared").symlink_to(source)  # a dev build of the layer links its package
    app = tmp_path / "src" / "app.py"
    app.write_text(APP.replace('"version": "v1"', '"version": __import__("shared").VALUE'))

    async def body(engine: Engine) -> None:
        assert (await call(engine))["version"] == "layer one"
        (source / "__init__.py").write_text('VALUE = "layer two"\n')

        async def layer() -> bool:
            return bool((await call(engine))["version"] == "layer two")

        await until(layer)

    lines = serve(template, body)
    assert any("shared/__init__.py changed" in line for line in lines), lines


def test_a_build_dir_replaced_under_the_engine_is_served(tmp_path: Path, token: str) -> None:
    """As `sam build` in another terminal does: a new dir at the build dir's path."""
    template = make_project(tmp_path, token)
    build = tmp_path / ".aws-sam" / "build" / "Fn"
    fresh = build.with_name("Fn.new")
    fresh.mkdir()
    (fresh / "app.py").write_text(APP.replace('"version": "v1"', '"version": "v3"'))
    (fresh / "greet").symlink_to(tmp_path / "lib" / "greet")

    async def body(engine: Engine) -> None:
        assert (await call(engine))["version"] == "v1"
        build.rename(build.with_name("Fn.old"))
        fresh.rename(build)
        served = await call(engine)  # no watcher involved: the very next request
        assert (served["version"], served["count"]) == ("v3", 1)

    lines = serve(template, body)
    assert "samlink: its build dir was replaced: Fn gets a fresh environment" in lines


def test_a_broken_handler_fails_init_then_its_fix_is_served(tmp_path: Path, token: str) -> None:
    template = make_project(tmp_path, token)
    app = tmp_path / "src" / "app.py"
    app.write_text("import greet\ndef handler(event, context) return 1\n")  # a syntax error
    seen: list[Result] = []

    async def body(engine: Engine) -> None:
        seen.append(await engine.invoke("Fn", b"{}"))
        seen.append(await engine.invoke("Fn", b"{}"))  # init fails again in a fresh environment
        app.write_text(APP)

        async def fixed() -> bool:
            return (await engine.invoke("Fn", b"{}")).status == "ok"

        await until(fixed)

    serve(template, body)
    for failed in seen:
        assert failed.status == "error"
        assert json.loads(failed.payload)["errorType"] == "Runtime.UserCodeSyntaxError"


def test_a_template_edit_lets_running_requests_finish(tmp_path: Path, token: str) -> None:
    template = make_project(tmp_path, token)
    seen: list[dict[str, Any]] = []

    async def body(engine: Engine) -> None:
        running = asyncio.ensure_future(call(engine, {"sleep": 2}))
        await asyncio.sleep(0.5)
        write_template(tmp_path, token, mode="three")

        async def reloaded() -> bool:
            return bool((await call(engine))["mode"] == "three")

        await until(reloaded)
        seen.append(await running)

    serve(template, body)
    assert seen[0]["mode"] == "one"  # it ran to its end in the environment it started in


def test_an_environment_that_died_idle_is_replaced_unseen(tmp_path: Path, token: str) -> None:
    template = make_project(tmp_path, token)
    seen: list[dict[str, Any]] = []

    async def body(engine: Engine) -> None:
        seen.append(await call(engine, {"die_later": True}))
        await asyncio.sleep(1.0)
        seen.append(await call(engine))  # served by a fresh environment, no error

    serve(template, body)
    assert [s["count"] for s in seen] == [1, 1]
