"""A Lambda Runtime API that serves many invocations, one after another, to one long-lived runtime.

A warm execution environment's awslambdaric client polls `GET .../invocation/next` for as long as
the environment lives: the poll waits (as Lambda freezes the sandbox between events) until the
next invocation is handed in, then the client posts that invocation's response or error. aiohttp
serves it: an asyncio server holds many idle long polls (one per warm environment) without a
thread each, and it is the same library the start-lambda and start-api front ends use.
"""

from __future__ import annotations

import asyncio
import json
import time

from aiohttp import web

from samlink.runtime import report
from samlink.runtime.api import PREFIX, SANDBOX_ERROR, Invocation, Outcome


class Pending:
    """One invocation handed to the environment: when it was picked up and how it ended."""

    def __init__(self, invocation: Invocation) -> None:
        loop = asyncio.get_running_loop()
        self.invocation = invocation
        self.picked: asyncio.Future[float] = loop.create_future()  # time.monotonic() then
        self.done: asyncio.Future[Outcome] = loop.create_future()
        self.done_at: float | None = None


class RuntimeServer:
    """The Runtime API of one environment on 127.0.0.1 (a free port), until `close()`."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[Pending] = asyncio.Queue()
        self._current: Pending | None = None
        self._waiting: Pending | None = None  # submitted, not yet picked up
        self.failure: Outcome | None = None  # an init or sandbox error: the environment is done
        self.first_poll_at: float | None = None  # time.monotonic() of the first GET next
        self._runner: web.AppRunner | None = None
        self._closing = asyncio.Event()
        self._address = ""

    @property
    def address(self) -> str:
        """host:port for AWS_LAMBDA_RUNTIME_API."""
        return self._address

    async def start(self) -> None:
        # Responses are read whole and checked against Lambda's limit here, so the runtime gets
        # Lambda's 413; only a runaway beyond this cap is cut off by aiohttp (and answered too).
        app = web.Application(client_max_size=_READ_CAP)
        app.router.add_get(f"{PREFIX}/invocation/next", self._next)
        app.router.add_post(f"{PREFIX}/invocation/{{request_id}}/response", self._response)
        app.router.add_post(f"{PREFIX}/invocation/{{request_id}}/error", self._error)
        app.router.add_post(f"{PREFIX}/init/error", self._init_error)
        app.router.add_post(SANDBOX_ERROR, self._sandbox_error)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.1)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner = runner
        host, port = runner.addresses[0][:2]
        self._address = f"{host}:{port}"

    async def close(self) -> None:
        """Stop serving; polls still waiting are answered 410."""
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def submit(self, invocation: Invocation) -> Pending:
        """Hand `invocation` to the next poll (one at a time: the caller waits for `done`)."""
        pending = Pending(invocation)
        if self.failure is not None:
            pending.done.set_result(self.failure)
        self._waiting = pending
        self._queue.put_nowait(pending)
        return pending

    async def _next(self, request: web.Request) -> web.StreamResponse:
        if self.first_poll_at is None:
            self.first_poll_at = time.monotonic()
        getter = asyncio.ensure_future(self._queue.get())
        closing = asyncio.ensure_future(self._closing.wait())
        try:
            await asyncio.wait({getter, closing}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            closing.cancel()
            if not getter.done():
                getter.cancel()
        if not getter.done() or getter.cancelled():
            return _reply(410, {"errorType": "Gone", "errorMessage": "samlink is done"})
        pending = getter.result()
        inv = pending.invocation
        self._current, self._waiting = pending, None
        if not pending.picked.done():
            pending.picked.set_result(time.monotonic())
        deadline_ms = int(time.time() * 1000) + inv.timeout * 1000
        return web.Response(
            body=inv.event,
            headers={
                "Content-Type": "application/json",
                "Lambda-Runtime-Aws-Request-Id": inv.request_id,
                "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
                "Lambda-Runtime-Invoked-Function-Arn": inv.function_arn,
                "Lambda-Runtime-Trace-Id": inv.trace_id,
            },
        )

    async def _response(self, request: web.Request) -> web.StreamResponse:
        pending = self._for(request)
        if pending is None:
            return _invalid_id()
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            body = b""  # far over the limit: aiohttp stopped reading it
            too_large = True
        else:
            too_large = report.response_too_large(len(body))
        if too_large:
            # Lambda turns the response into a function error and tells the runtime so.
            outcome = Outcome(
                "error", report.response_too_large_payload(), report.RESPONSE_TOO_LARGE
            )
            _settle(pending, outcome)
            return _reply(413, report.runtime_too_large_reply())
        _settle(pending, Outcome("response", body))
        return _reply(202, {"status": "OK"})

    async def _error(self, request: web.Request) -> web.StreamResponse:
        pending = self._for(request)
        if pending is None:
            return _invalid_id()
        body = await request.read()
        _settle(pending, Outcome("error", body, request.headers.get(_ERROR_TYPE)))
        return _reply(202, {"status": "OK"})

    async def _init_error(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self._fail(Outcome("init_error", body, request.headers.get(_ERROR_TYPE)))
        return _reply(202, {"status": "OK"})

    async def _sandbox_error(self, request: web.Request) -> web.StreamResponse:
        self._fail(Outcome("sandbox_error", await request.read()))
        return _reply(202, {"status": "OK"})

    def _fail(self, outcome: Outcome) -> None:
        # Init failed: whatever was handed in (or is about to be) ends with that error.
        self.failure = outcome
        for pending in (self._current, self._waiting):
            if pending is not None:
                _settle(pending, outcome)

    def _for(self, request: web.Request) -> Pending | None:
        current = self._current
        if current is None or current.invocation.request_id != request.match_info["request_id"]:
            return None
        return current


_ERROR_TYPE = "Lambda-Runtime-Function-Error-Type"
_READ_CAP = 64 * 1024 * 1024


def _settle(pending: Pending, outcome: Outcome) -> None:
    if not pending.done.done():
        pending.done_at = time.monotonic()
        pending.done.set_result(outcome)


def _invalid_id() -> web.Response:
    return _reply(400, {"errorType": "InvalidRequestID", "errorMessage": "Invalid request ID"})


def _reply(status: int, payload: dict[str, str]) -> web.Response:
    return web.Response(
        status=status, body=json.dumps(payload).encode(), content_type="application/json"
    )
