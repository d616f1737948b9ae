"""Warm execution environments: one sandboxed awslambdaric process kept alive across requests.

An `Environment` is `samlink invoke`'s sandbox (same plan, bootstrap, interpreter and runtime
client) whose Runtime API serves many invocations: init runs once, module state persists, one
request at a time. A `Pool` holds a function's environments: up to its concurrency limit, then
requests queue. A timeout kills that environment (the next request gets a fresh one), a dead
process is replaced, and `retire()` makes the next request start fresh (old environments finish
their current request first). Every environment is the bootstrap's supervised process group:
closing its stdin (the lifeline, see reaper.py) ends it and everything its handler started.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import json
import os
import signal
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from samlink.errors import BuildError
from samlink.runtime import report
from samlink.runtime.api import Invocation
from samlink.runtime.environment import ACCOUNT_ID
from samlink.runtime.invoke import (
    BOOTSTRAP,
    InvokeSpec,
    Prepared,
    peak_memory_mb,
    plan_sandbox,
    trace_id,
)
from samlink.runtime.runtime_server import RuntimeServer

# Lambda gives the init phase 10 s before the invoke's own timeout starts counting.
INIT_LIMIT = 10.0
TAIL_BYTES = 4096
_STOP_GRACE = 3.0
_FIRST = asyncio.FIRST_COMPLETED

Log = Callable[[str], None]


@dataclass(frozen=True)
class Result:
    """How one request ended.

    `status`: "ok", "error" (the handler raised, init failed, the runtime died) or "timeout";
    `payload`: the function's response bytes, or Lambda's error JSON; `log_tail`: the last 4 KB
    of this request's log, START to REPORT (for LogType: Tail).
    """

    status: str
    payload: bytes
    request_id: str
    duration_ms: float
    log_tail: str = ""


class EnvironmentGone(Exception):
    """The environment's process had ended before it took the request (nothing of it ran)."""


class Environment:
    """One live sandbox process and its Runtime API."""

    def __init__(self, spec: InvokeSpec, ready: Prepared, log: Log, debug_port: int | None) -> None:
        self.spec = spec
        self._ready = ready
        self._log = log
        self._debug_port = debug_port
        self._server = RuntimeServer()
        self._proc: asyncio.subprocess.Process | None = None
        self._pump: asyncio.Task[None] | None = None
        self._started = 0.0
        self._capture: list[str] | None = None
        self.served = 0
        self.dead = False

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    async def start(self) -> None:
        await self._server.start()
        plan, env = plan_sandbox(self.spec, self._ready, self._server.address)
        if self._debug_port is not None:
            plan["debug_port"] = self._debug_port
        exe = self._ready.interpreter.executable
        self._started = time.monotonic()
        self._proc = await asyncio.create_subprocess_exec(
            str(exe),
            "-S",
            "-s",
            "-B",
            str(BOOTSTRAP),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
            cwd="/",
            start_new_session=True,
        )
        assert self._proc.stdin is not None and self._proc.stdout is not None
        # One line, and stdin stays open: it is the sandbox's lifeline (reaper.py).
        self._proc.stdin.write(json.dumps(plan).encode() + b"\n")
        with contextlib.suppress(ConnectionError):
            await self._proc.stdin.drain()
        self._pump = asyncio.ensure_future(self._read_logs(self._proc.stdout))

    async def run(self, event: bytes) -> Result:
        """One request, start to REPORT; the environment is `dead` after a timeout or a crash."""
        assert self._proc is not None
        spec = self.spec
        request_id = str(uuid.uuid4())
        invocation = Invocation(
            request_id=request_id,
            event=event,
            function_arn=f"arn:aws:lambda:{spec.region}:{ACCOUNT_ID}:function:{spec.function_name}",
            timeout=spec.timeout,
            trace_id=trace_id(),
        )
        self._capture = []
        first = self.served == 0
        self.served += 1
        pending = self._server.submit(invocation)
        # START when the runtime takes the event, as Lambda logs it: after the init's output.
        started: list[bool] = []

        def start_line(_picked: object = None) -> None:
            if not started:
                started.append(True)
                self._write(report.start_line(request_id))

        pending.picked.add_done_callback(start_line)
        exited = asyncio.ensure_future(self._proc.wait())
        try:
            # Not picked up yet: init (first request) may take up to INIT_LIMIT on top. A
            # debugger holds the process at will: no timeout then, as with `sam local -d`.
            debugging = self._debug_port is not None
            limit = None if debugging else (INIT_LIMIT if first else 0.0) + spec.timeout
            waiting: set[asyncio.Future[Any]] = {pending.picked, pending.done, exited}
            await asyncio.wait(waiting, timeout=limit, return_when=_FIRST)
            if pending.picked.done() and not pending.done.done() and not exited.done():
                then: set[asyncio.Future[Any]] = {pending.done, exited}
                left = None if debugging else pending.picked.result() + spec.timeout
                wait = None if left is None else max(0.0, left - time.monotonic())
                await asyncio.wait(then, timeout=wait, return_when=_FIRST)
        finally:
            exited.cancel()
        outcome = pending.done.result() if pending.done.done() else None
        timed_out = outcome is None and self._proc.returncode is None
        if outcome is None and not timed_out and not first and not pending.picked.done():
            # A warm process that died while idle: this request never reached it.
            self.dead = True
            raise EnvironmentGone
        start_line()
        # Let the pump read what the handler printed before it answered.
        for _ in range(3):
            await asyncio.sleep(0)
        memory = peak_memory_mb(self._proc.pid)
        picked = pending.picked.result() if pending.picked.done() else None
        end = pending.done_at if pending.done_at is not None else time.monotonic()
        duration_ms = max(0.0, (end - picked) * 1000) if picked is not None else 0.0
        init_ms = None
        if first:
            polled = self._server.first_poll_at or picked or end
            init_ms = max(0.0, (polled - self._started) * 1000)
        if timed_out:
            duration_ms = min(duration_ms, spec.timeout * 1000.0) if picked else 0.0
            message = report.timeout_message(request_id, spec.timeout)
            self._write(message + "\n")
            status, payload = "timeout", report.timeout_payload(message)
            self.dead = True
        elif outcome is None:
            await self._proc.wait()
            code = self._proc.returncode
            returncode = code if code is not None else -signal.SIGKILL
            status, payload = "error", report.exit_error_payload(request_id, returncode)
            self.dead = True
        elif outcome.kind == "sandbox_error":
            self.dead = True
            raise BuildError(
                f"samlink could not set up the sandbox: {outcome.body.decode(errors='replace')}",
                "set SAMLINK_SANDBOX=host to run at host paths, or use --docker",
            )
        elif outcome.kind == "response":
            status, payload = "ok", outcome.body
        else:
            status, payload = "error", outcome.body
            # awslambdaric exits after an init error and after the 413 of an oversized response.
            ending = outcome.kind == "init_error" or outcome.error_type == report.RESPONSE_TOO_LARGE
            self.dead = self.dead or ending
        self._write(
            report.end_lines(
                request_id,
                duration_ms=duration_ms,
                memory_size=spec.memory_size,
                max_memory_mb=memory,
                init_ms=init_ms,
                timed_out=timed_out,
            )
        )
        tail = "".join(self._capture)
        self._capture = None
        if self._proc.returncode is not None:
            self.dead = True
        return Result(status, payload, request_id, duration_ms, _last_bytes(tail, TAIL_BYTES))

    async def close(self) -> None:
        """End the sandbox and everything it started; stop its Runtime API."""
        self.dead = True
        proc = self._proc
        if proc is not None:
            if proc.stdin is not None and not proc.stdin.is_closing():
                proc.stdin.close()
            try:
                await asyncio.wait_for(proc.wait(), _STOP_GRACE)
            except asyncio.TimeoutError:
                with contextlib.suppress(OSError):
                    os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
        if self._pump is not None:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self._pump, 2.0)
        await self._server.close()

    async def _read_logs(self, stream: asyncio.StreamReader) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        held = ""
        while True:
            chunk = await stream.read(65536)
            text = held + decoder.decode(chunk, final=not chunk)
            if not chunk:
                if text:
                    self._write(text if text.endswith("\n") else text + "\n")
                return
            # awslambdaric joins a traceback's lines with "\r" (one CloudWatch event): lines here.
            text = text.replace("\r\n", "\n").replace("\r", "\n")
            cut = text.rfind("\n") + 1
            held = text[cut:]
            if cut:
                self._write(text[:cut])

    def _write(self, text: str) -> None:
        if self._capture is not None:
            self._capture.append(text)
        for line in text.splitlines():
            self._log(line)


def _last_bytes(text: str, limit: int) -> str:
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[-limit:].decode("utf-8", errors="ignore")


class Pool:
    """A function's warm environments: at most `limit` at once, one request each; then a queue."""

    def __init__(
        self,
        spec: InvokeSpec,
        ready: Prepared,
        *,
        limit: int,
        log: Log,
        debug_port: int | None = None,
    ) -> None:
        self.spec = spec
        self.ready = ready
        self.limit = limit
        self._log = log
        self._debug_port = debug_port
        self._slots = asyncio.Semaphore(limit)
        self._idle: list[Environment] = []
        self._busy: set[Environment] = set()
        self._generation = 0
        self._closed = False
        self._closing: set[asyncio.Task[None]] = set()

    @property
    def environments(self) -> int:
        """How many environments are alive now."""
        return len(self._idle) + len(self._busy)

    async def invoke(self, event: bytes) -> Result:
        async with self._slots:
            if self._closed:
                raise RuntimeError("the pool is closed")
            generation = self._generation
            for attempt in (1, 2):
                env = await self._take()
                self._busy.add(env)
                try:
                    return await env.run(event)
                except EnvironmentGone:
                    if attempt == 2:
                        raise
                except BaseException:
                    env.dead = True
                    raise
                finally:
                    self._busy.discard(env)
                    if env.dead or generation != self._generation or self._closed:
                        self._close_later(env)
                    else:
                        self._idle.append(env)
            raise AssertionError("unreachable")

    def retire(self, spec: InvokeSpec | None = None, ready: Prepared | None = None) -> None:
        """The next request starts a fresh environment (with `spec` when given); idle ones go now,
        busy ones after their current request."""
        if spec is not None:
            self.spec = spec
        if ready is not None:
            self.ready = ready
        self._generation += 1
        idle, self._idle = self._idle, []
        for env in idle:
            self._close_later(env)

    async def close(self) -> None:
        """End every environment, busy or idle."""
        self._closed = True
        everything = [*self._idle, *self._busy]
        self._idle = []
        await asyncio.gather(*(env.close() for env in everything), return_exceptions=True)
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    async def _take(self) -> Environment:
        while self._idle:
            env = self._idle.pop()
            if env.dead or env.pid is None or _exited(env):
                self._close_later(env)
                continue
            return env
        env = Environment(self.spec, self.ready, self._log, self._debug_port)
        try:
            await env.start()
        except BaseException:
            await env.close()
            raise
        return env

    def _close_later(self, env: Environment) -> None:
        task = asyncio.ensure_future(env.close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)


def _exited(env: Environment) -> bool:
    proc = env._proc
    return proc is None or proc.returncode is not None
