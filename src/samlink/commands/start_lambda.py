"""`samlink start-lambda`: the Lambda Invoke API on a local port, over warm, live environments.

boto3 or the AWS CLI with `endpoint_url` call `POST /2015-03-31/functions/{name}/invocations`
as they would call Lambda; the functions run in samlink's engine (samlink.runtime.engine).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import signal
import sys
from collections.abc import Mapping
from pathlib import Path

from aiohttp import web

from samlink.commands.invoke import parse_parameter_overrides
from samlink.errors import UsageError
from samlink.model.samconfig import ServerOptions, server_options
from samlink.runtime import report
from samlink.runtime.engine import Engine, Result, UnknownFunction
from samlink.runtime.environment import ACCOUNT_ID, default_region

_INVOKE_PATH = "/2015-03-31/functions/{name}/invocations"


def run(
    template_path: Path,
    *,
    host: str,
    port: int,
    env_vars: Path | None,
    parameter_overrides: tuple[str, ...],
    no_build: bool,
    max_concurrency: int,
    debug_port: int | None,
    build_dir: Path | None,
    given: frozenset[str] = frozenset(),
) -> int:
    """Serve until SIGINT/SIGTERM (exit 0); `given` names the options typed on the command line
    (they win over the SAM config's local_start_lambda settings, as in SAM). Stopped during the
    start-up build, it ends the build and exits 128 + the signal (130, 143), as a shell reports."""
    chosen = server_options(
        template_path.parent,
        "local_start_lambda",
        ServerOptions(host, port, env_vars, parameter_overrides, debug_port),
        given,
    )
    host, port, env_vars = chosen.host, chosen.port, chosen.env_vars
    parameter_overrides, debug_port = chosen.parameter_overrides, chosen.debug_port
    overrides = parse_parameter_overrides(parameter_overrides)
    engine = Engine(
        template_path,
        build_dir=build_dir,
        env_vars=env_vars,
        parameter_overrides=overrides,
        build=not no_build,
        max_concurrency=max_concurrency,
        debug_port=debug_port,
        log=_log,
    )
    if not engine.function_ids():
        raise UsageError(
            f"{template_path}: no Python functions to serve", "samlink runs python3.x Zip functions"
        )
    return asyncio.run(_serve(engine, host, port))


async def _serve(engine: Engine, host: str, port: int) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals: list[int] = []

    def stopping(signum: int) -> None:
        signals.append(signum)
        stop.set()

    # Our own handlers: a background job of a non-interactive shell starts with SIGINT ignored.
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping, signum)
    api = InvokeAPI(engine)
    runner = web.AppRunner(api.app(), access_log=None, handle_signals=False, shutdown_timeout=1.0)
    try:
        if not await engine.start_unless(stop):
            _log("samlink start-lambda: stopped during the start-up build")
            return 128 + signals[0]
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as err:
            raise UsageError(
                f"cannot listen on {host}:{port}: {err.strerror or err}",
                "pick another --port (or stop what uses it)",
            ) from None
        for function_id in engine.function_ids():
            print(f"{function_id} http://{host}:{port}{_INVOKE_PATH.format(name=function_id)}")
        sys.stdout.flush()
        _log(
            f"samlink start-lambda: serving the Lambda Invoke API on http://{host}:{port}/ "
            "(Ctrl-C to stop; edits to code, linked libraries and the template are picked up live)"
        )
        await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        await api.cancel_background()
        await runner.cleanup()
        await engine.close()
    _log("samlink start-lambda: stopped")
    return 0


class InvokeAPI:
    """The Invoke operation of Lambda's API, answered as Lambda answers it."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._background: set[asyncio.Task[Result]] = set()

    def app(self) -> web.Application:
        # Lambda's own limits are checked below (413 as Lambda words it), not by aiohttp.
        app = web.Application(client_max_size=report.SYNC_REQUEST_LIMIT * 2)
        app.router.add_post(_INVOKE_PATH, self.invoke)
        return app

    async def cancel_background(self) -> None:
        tasks = list(self._background)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def invoke(self, request: web.Request) -> web.StreamResponse:
        function_id = function_name(request.match_info["name"])
        invocation_type = request.headers.get("X-Amz-Invocation-Type", "RequestResponse")
        if invocation_type not in ("RequestResponse", "Event", "DryRun"):
            return _error(
                400,
                "InvalidParameterValueException",
                f"1 validation error detected: Value '{invocation_type}' at 'invocationType' "
                "failed to satisfy constraint: Member must satisfy enum value set: "
                "[Event, RequestResponse, DryRun]",
            )
        if function_id not in self.engine.function_ids():
            arn = f"arn:aws:lambda:{default_region()}:{ACCOUNT_ID}:function:{function_id}"
            return _error(404, "ResourceNotFoundException", f"Function not found: {arn}")
        payload = await request.read()
        try:
            report.check_request(payload, invocation_type)
        except report.RequestTooLarge as err:
            return web.Response(status=err.status, body=err.body(), headers=err.headers)
        if not payload.strip():
            payload = b"{}"  # boto3 without Payload sends nothing; Lambda hands the handler {}
        try:
            json.loads(payload)
        except ValueError as err:
            return _error(
                400,
                "InvalidRequestContentException",
                f"Could not parse request body into json: Could not parse payload into json: {err}",
            )
        if invocation_type == "DryRun":
            return web.Response(status=204)
        if invocation_type == "Event":
            task = asyncio.ensure_future(self._call(function_id, payload, invocation_type))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
            return web.Response(status=202)
        try:
            result = await self._call(function_id, payload, invocation_type)
        except UnknownFunction:
            # The template was reloaded while the request waited.
            arn = f"arn:aws:lambda:{default_region()}:{ACCOUNT_ID}:function:{function_id}"
            return _error(404, "ResourceNotFoundException", f"Function not found: {arn}")
        headers = {"Content-Type": "application/json", "X-Amz-Executed-Version": "$LATEST"}
        if result.status != "ok":
            headers["X-Amz-Function-Error"] = "Unhandled"
        if request.headers.get("X-Amz-Log-Type") == "Tail":
            headers["X-Amz-Log-Result"] = base64.b64encode(result.log_tail.encode()).decode()
        return web.Response(status=200, body=result.payload, headers=headers)

    async def _call(self, function_id: str, payload: bytes, invocation_type: str) -> Result:
        return await self.engine.invoke(function_id, payload, invocation_type=invocation_type)


def function_name(given: str) -> str:
    """A function's logical ID from what a client names it by: the name, an ARN (with or
    without a version or alias), or `name:qualifier`."""
    if given.startswith("arn:"):
        parts = given.split(":")
        # arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]
        if len(parts) >= 7 and parts[5] == "function":
            return parts[6]
        return given
    return given.split(":", 1)[0]


def _error(status: int, error_type: str, message: str) -> web.Response:
    body = json.dumps({"Type": "User", "message": message}).encode()
    headers: Mapping[str, str] = {
        "Content-Type": "application/json",
        "x-amzn-ErrorType": error_type,
    }
    return web.Response(status=status, body=body, headers=dict(headers))


def _log(line: str) -> None:
    with contextlib.suppress(OSError):
        print(line, file=sys.stderr, flush=True)
