"""Run a built function once, as Lambda lays it out, without a container engine."""

from __future__ import annotations

import codecs
import json
import math
import os
import platform
import secrets
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from samlink import reaper
from samlink.errors import BuildError, UsageError
from samlink.runtime import report, sandbox
from samlink.runtime.api import Invocation, Outcome, RuntimeAPI
from samlink.runtime.environment import ACCOUNT_ID, runtime_variables, sam_variables
from samlink.runtime.python import (
    Interpreter,
    choose_interpreter,
    ensure_runtime_dir,
    runtime_version,
)

BOOTSTRAP = Path(__file__).with_name("bootstrap.py")
ISOLATIONS = ("auto", "namespace", "host")
# Lambda gives the init phase 10 s before it retries it inside the invoke's own timeout.
_INIT_LIMIT = 10.0
_SANDBOX_FAILED = 97
_MACHINES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}


@dataclass(frozen=True)
class InvokeSpec:
    """One function to run: where its build is and how the template configures it."""

    function_name: str  # logical ID
    code_dir: Path  # the built dir, e.g. <project>/.aws-sam/build/<Id>
    layer_dirs: tuple[Path, ...]  # built layer dirs in template order (each has python/)
    handler: str  # "app.lambda_handler"
    runtime: str  # "python3.12"
    architecture: str  # "x86_64" | "arm64"
    environment: dict[str, str] = field(default_factory=dict)  # resolved and overridden
    timeout: int = 3
    memory_size: int = 128
    region: str = "us-east-1"


@dataclass(frozen=True)
class InvokeResult:
    """The exit code (0 ok; 1 function error, timeout or init error) and the stdout payload."""

    exit_code: int
    payload: bytes


def invoke(spec: InvokeSpec, event: bytes, *, isolation: str = "auto") -> InvokeResult:
    """Run `spec` once on `event` like Lambda; logs go to sys.stderr, the payload is returned.

    An event over Lambda's synchronous limit raises report.RequestTooLarge before anything runs.
    """
    report.check_request(event)
    ready = prepare(spec, isolation)
    request_id = str(uuid.uuid4())
    invocation = Invocation(
        request_id=request_id,
        event=event,
        function_arn=f"arn:aws:lambda:{spec.region}:{ACCOUNT_ID}:function:{spec.function_name}",
        timeout=spec.timeout,
        trace_id=trace_id(),
    )
    with RuntimeAPI(invocation) as api:
        plan, env = plan_sandbox(spec, ready, api.address)
        return _run(spec, ready.interpreter, plan, env, api)


@dataclass(frozen=True)
class Prepared:
    """What a sandbox for one function needs, checked once: how it is isolated, which
    interpreter runs it, where its runtime client is installed."""

    mode: str  # "auto" | "namespace" | "host"
    interpreter: Interpreter
    runtime_dir: Path


def prepare(spec: InvokeSpec, isolation: str = "auto") -> Prepared:
    """Check that `spec` can run here and find what runs it; warnings go to sys.stderr."""
    mode = _isolation(isolation)
    version = runtime_version(spec.runtime)
    _check_built(spec)
    cross = check_architecture(
        spec.architecture, host_architecture(), [spec.code_dir, *spec.layer_dirs]
    )
    if cross:
        _log(cross + "\n")
    interpreter, warning = choose_interpreter(version, [spec.code_dir, *spec.layer_dirs])
    if warning:
        _log(warning + "\n")
    runtime_dir = ensure_runtime_dir(interpreter)
    if mode != "host" and not sys.platform.startswith("linux"):
        if mode == "namespace":
            raise UsageError(
                f"a mount namespace needs Linux, this is {sys.platform}",
                "use --docker, or SAMLINK_SANDBOX=host",
            )
        _log(
            f"samlink: no mount namespace on {sys.platform}; running the function at host "
            f"paths with Lambda's import rules: task root {spec.code_dir}\n"
        )
        mode = "host"
    return Prepared(mode, interpreter, runtime_dir)


def host_architecture() -> str:
    """This machine in Lambda's words: x86_64 or arm64."""
    machine = platform.machine().lower()
    return _MACHINES.get(machine, machine)


def check_architecture(wanted: str, host: str, roots: Iterable[Path]) -> str | None:
    """Refuse a cross-architecture run when the build holds compiled code that could not load;
    else, for a cross-architecture run, the warning to print that it runs on this machine's."""
    if wanted == host:
        return None
    found = find_compiled_extension(roots)
    if found is not None:
        raise UsageError(
            f"this function is {wanted}, this machine is {host}, and its build holds compiled "
            f"code that cannot load here ({found})",
            f"run it with --docker (an engine with {wanted} emulation), or set Architectures: "
            f"[{host}] while testing locally",
        )
    return (
        f"samlink: this function is {wanted}, this machine is {host}: it runs here on {host} "
        "(its build holds no compiled code); only --docker runs it as Lambda would"
    )


def find_compiled_extension(roots: Iterable[Path]) -> Path | None:
    """The first `.so` file in the build dirs (following their top-level links), if any."""
    for root in roots:
        if not root.is_dir():
            continue
        for entry in sorted(root.iterdir()):
            top = entry.resolve() if entry.is_symlink() else entry
            if top.is_file() and _is_shared_object(top.name):
                return entry
            if top.is_dir():
                for folder, _dirs, files in os.walk(top):
                    for name in sorted(files):
                        if _is_shared_object(name):
                            return Path(folder) / name
    return None


def _is_shared_object(name: str) -> bool:
    return name.endswith(".so") or ".so." in name


def _isolation(isolation: str) -> str:
    chosen = isolation
    if isolation == "auto":
        chosen = os.environ.get("SAMLINK_SANDBOX", "").strip() or "auto"
    if chosen not in ISOLATIONS:
        raise UsageError(
            f"unknown sandbox mode {chosen!r}",
            f"use one of {', '.join(ISOLATIONS)} (SAMLINK_SANDBOX)",
        )
    return chosen


def _check_built(spec: InvokeSpec) -> None:
    for folder in (spec.code_dir, *spec.layer_dirs):
        if not folder.is_dir():
            raise UsageError(
                f"{folder} does not exist: {spec.function_name} is not built",
                "run `sam build` first",
            )


def trace_id() -> str:
    """A fresh X-Ray trace header, as Lambda hands the runtime."""
    return (
        f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)};"
        f"Parent={secrets.token_hex(8)};Sampled=0"
    )


def plan_sandbox(
    spec: InvokeSpec, ready: Prepared, api_address: str
) -> tuple[dict[str, object], dict[str, str]]:
    """The bootstrap's plan (one JSON line on its stdin) and the environment it starts with."""
    mode, interpreter, runtime_dir = ready.mode, ready.interpreter, ready.runtime_dir
    code_dir = Path(os.path.realpath(spec.code_dir))
    host_opt = [
        d
        for layer in reversed(spec.layer_dirs)
        for d in sandbox.opt_site_dirs(os.path.realpath(layer), interpreter.version)
    ]
    host_layout: dict[str, object] = {
        "task_root": str(code_dir),
        "runtime_dir": str(runtime_dir),
        "opt_dirs": host_opt,
    }
    host_env = _environment(
        spec,
        interpreter,
        api_address,
        task_root=str(code_dir),
        runtime_dir=str(runtime_dir),
        opt=None,
    )
    plan: dict[str, object] = {
        "mode": mode,
        "handler": spec.handler,
        "host": host_layout,
        "namespace": None,
    }
    if mode == "host":
        return plan, host_env
    layout = sandbox.plan_layout(spec.code_dir, spec.layer_dirs, runtime_dir, interpreter.prefixes)
    for note in layout.notes:
        _log(f"samlink: {note}\n")
    plan["namespace"] = {
        "ops": sandbox.layout_ops(layout),
        "task_root": sandbox.TASK_ROOT,
        "runtime_dir": sandbox.RUNTIME_DIR,
        "opt_dirs": sandbox.opt_site_dirs(sandbox.OPT, interpreter.version),
    }
    env = _environment(
        spec,
        interpreter,
        api_address,
        task_root=sandbox.TASK_ROOT,
        runtime_dir=sandbox.RUNTIME_DIR,
        opt=sandbox.OPT,
    )
    # Only what differs goes to the host fallback (on its command line: no credentials there).
    host_layout["env"] = {k: v for k, v in host_env.items() if env.get(k) != v}
    return plan, env


# Lambda reserves these: a function's own variables cannot replace them.
_RESERVED = (
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
    "_HANDLER",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_RUNTIME_API",
)


def _environment(
    spec: InvokeSpec,
    interpreter: Interpreter,
    api_address: str,
    *,
    task_root: str,
    runtime_dir: str,
    opt: str | None,
) -> dict[str, str]:
    runtime = runtime_variables(
        runtime=spec.runtime,
        handler=spec.handler,
        api_address=api_address,
        task_root=task_root,
        runtime_dir=runtime_dir,
        opt=opt,
        interpreter_bin=str(interpreter.executable.parent),
    )
    env = dict(runtime)
    env.update(
        sam_variables(
            function_name=spec.function_name,
            handler=spec.handler,
            memory_size=spec.memory_size,
            timeout=spec.timeout,
            region=spec.region,
        )
    )
    env.update(spec.environment)
    env.update({name: runtime[name] for name in _RESERVED})
    return env


def _run(
    spec: InvokeSpec,
    interpreter: Interpreter,
    plan: Mapping[str, object],
    env: dict[str, str],
    api: RuntimeAPI,
) -> InvokeResult:
    request_id = api.invocation.request_id
    _log(report.start_line(request_id))
    started = time.monotonic()
    proc = subprocess.Popen(
        [str(interpreter.executable), "-S", "-s", "-B", str(BOOTSTRAP)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        cwd="/",
        start_new_session=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    pump = threading.Thread(target=_pump, args=(proc.stdout,), name="function-logs", daemon=True)
    pump.start()
    exited = threading.Thread(target=_watch_exit, args=(proc, api), daemon=True)
    exited.start()
    try:
        # One line, and stdin stays open: it is the sandbox's lifeline (reaper.py).
        proc.stdin.write(json.dumps(plan).encode() + b"\n")
        proc.stdin.flush()
    except BrokenPipeError:
        pass
    try:
        outcome, timed_out = _wait(spec, proc, api, started)
        memory = peak_memory_mb(proc.pid)
    finally:
        _stop(proc)
        pump.join(timeout=5)
    return _finish(spec, api, outcome, timed_out, proc, started, memory)


def _wait(
    spec: InvokeSpec, proc: subprocess.Popen[bytes], api: RuntimeAPI, started: float
) -> tuple[Outcome | None, bool]:
    while True:
        api.changed.clear()
        outcome = api.outcome
        if outcome is not None:
            return outcome, False
        if proc.poll() is not None:
            # The API records a post before it answers, so an exit after a post is seen above.
            return api.outcome, False
        begun = api.next_at if api.next_at is not None else started + _INIT_LIMIT
        remaining = begun + spec.timeout - time.monotonic()
        if remaining <= 0:
            return None, True
        api.changed.wait(remaining)


def _watch_exit(proc: subprocess.Popen[bytes], api: RuntimeAPI) -> None:
    proc.wait()
    api.changed.set()


def _finish(
    spec: InvokeSpec,
    api: RuntimeAPI,
    outcome: Outcome | None,
    timed_out: bool,
    proc: subprocess.Popen[bytes],
    started: float,
    memory: int,
) -> InvokeResult:
    request_id = api.invocation.request_id
    if outcome is not None and outcome.kind == "sandbox_error":
        raise BuildError(
            f"samlink could not set up the sandbox: {outcome.body.decode(errors='replace')}",
            "set SAMLINK_SANDBOX=host to run at host paths, or use --docker",
        )
    now = time.monotonic()
    init_ms = ((api.next_at or now) - started) * 1000
    invoke_start = api.next_at or now
    end = api.outcome_at if outcome is not None and api.outcome_at is not None else now
    duration_ms = max(0.0, (end - invoke_start) * 1000)
    if timed_out:
        duration_ms = min(duration_ms, spec.timeout * 1000.0) if api.next_at else 0.0
        message = report.timeout_message(request_id, spec.timeout)
        _log(f"{message}\n")
        payload, code = report.timeout_payload(message), 1
    elif outcome is None:
        returncode = proc.returncode if proc.returncode is not None else -signal.SIGKILL
        payload, code = report.exit_error_payload(request_id, returncode), 1
    elif outcome.kind == "response":
        payload, code = outcome.body, 0
    else:
        payload, code = outcome.body, 1
    _log(
        report.end_lines(
            request_id,
            duration_ms=duration_ms,
            memory_size=spec.memory_size,
            max_memory_mb=memory,
            init_ms=init_ms,
            timed_out=timed_out,
        )
    )
    return InvokeResult(code, payload)


def peak_memory_mb(pid: int) -> int:
    """Max Memory Used of a sandbox whose bootstrap is `pid`, in MB."""
    # The function runs below the bootstrap's supervisor: the largest process of the tree.
    peak = 0
    for each in _process_tree(pid):
        try:
            with open(f"/proc/{each}/status", encoding="ascii", errors="replace") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, math.ceil(int(line.split()[1]) / 1024))
        except OSError:
            pass
    return peak


def _process_tree(pid: int) -> list[int]:
    """`pid` and the processes below it; Linux's per-task children lists are read (a warm
    engine asks after every request, and reading every process of the machine costs ms)."""
    if not os.path.exists(f"/proc/{pid}/task/{pid}/children"):
        return [pid, *reaper.descendants(pid)]
    found = [pid]
    for each in found:  # grows while it is walked
        try:
            tasks = os.listdir(f"/proc/{each}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{each}/task/{task}/children", encoding="ascii") as children:
                    found.extend(int(child) for child in children.read().split())
            except OSError:
                pass
    return found


def _stop(proc: subprocess.Popen[bytes]) -> None:
    # Closing the lifeline makes the supervisor kill the function and all it started.
    reaper.stop(proc)


def _pump(stream: IO[bytes]) -> None:
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    held = ""
    while True:
        chunk = os.read(stream.fileno(), 65536)
        text = held + decoder.decode(chunk, final=not chunk)
        # A "\r" at the end may be half of a "\r\n" split across reads.
        held = "\r" if chunk and text.endswith("\r") else ""
        text = text[: len(text) - len(held)]
        if text:
            # awslambdaric joins a traceback's lines with "\r" (one CloudWatch event); on a
            # terminal that would overwrite itself, so show them as lines.
            _log(text.replace("\r\n", "\n").replace("\r", "\n"))
        if not chunk:
            break
    stream.close()


def _log(text: str) -> None:
    sys.stderr.write(text)
    sys.stderr.flush()
