"""The container path: `sam local invoke --mount-symlinks`, when an engine answers."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlparse

from samlink.errors import UsageError

# `--mount-symlinks` (bind each top-level link's target at its name) came with SAM 1.134.
MIN_SAM = (1, 134, 0)
_PING = b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n"
_VERSION = re.compile(r"(\d+)\.(\d+)\.(\d+)")


def engine_endpoints(environ: Mapping[str, str], platform: str) -> list[str]:
    """Where SAM looks for an engine, in order: DOCKER_HOST or Docker's socket, then Finch."""
    docker = environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    finch = (
        "unix:///Applications/Finch/lima/data/finch/sock/finch.sock"
        if platform == "darwin"
        else "unix:///var/run/finch.sock"
    )
    return [docker] if docker == finch else [docker, finch]


def engine_available(environ: Mapping[str, str] | None = None) -> bool:
    """Whether a container engine answers (not merely whether a `docker` binary exists)."""
    env = os.environ if environ is None else environ
    for endpoint in engine_endpoints(env, sys.platform):
        answer = ping(endpoint)
        if answer is None:
            answer = _docker_info(env) if not endpoint.startswith(("unix:", "tcp:")) else False
        if answer:
            return True
    return False


def ping(endpoint: str, timeout: float = 2.0) -> bool | None:
    """GET /_ping on a unix:// or tcp:// engine endpoint; None for schemes only a CLI can reach."""
    url = urlparse(endpoint)
    try:
        if url.scheme == "unix":
            path = endpoint[len("unix://") :]
            if not os.path.exists(path):
                return False
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            sock.connect(path)
        elif url.scheme == "tcp":
            sock = socket.create_connection(
                (url.hostname or "localhost", url.port or 2375), timeout=timeout
            )
        else:
            return None
        with sock:
            sock.sendall(_PING)
            answer = sock.recv(4096)
    except OSError:
        return False
    status = answer.split(b"\r\n", 1)[0].split()
    return len(status) >= 2 and status[1] == b"200"


def _docker_info(environ: Mapping[str, str]) -> bool:
    # ssh:// and other transports: let the docker CLI ask the engine.
    try:
        result = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            env=dict(environ),
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0 and bool(result.stdout.strip())


def sam_local_invoke_argv(
    function_id: str,
    *,
    template: Path,
    event: str | None,
    env_vars: Path | None,
    parameter_overrides: tuple[str, ...],
    sam: str = "sam",
) -> list[str]:
    """The `sam local invoke` command line for a function, with each top-level link mounted.

    `template` should be the built template (`.aws-sam/build/template.yaml`, see `built_template`):
    given the source template, SAM would run the unbuilt CodeUri.
    """
    argv = [sam, "local", "invoke", function_id, "--template", str(template), "--mount-symlinks"]
    if event is not None:
        argv += ["--event", event]
    if env_vars is not None:
        argv += ["--env-vars", str(env_vars)]
    if parameter_overrides:
        # SAM's option takes every following word up to the next option.
        argv += ["--parameter-overrides", *parameter_overrides]
    return argv


def built_template(template: Path) -> Path:
    """The template `sam build` wrote next to the source one, which SAM itself prefers."""
    built = template.parent / ".aws-sam" / "build" / "template.yaml"
    return built if built.is_file() else template


def parse_sam_version(text: str) -> tuple[int, int, int] | None:
    """`SAM CLI, version 1.170.0` -> (1, 170, 0)."""
    match = _VERSION.search(text)
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


def check_sam_version(sam: str = "sam") -> tuple[int, int, int]:
    """The installed SAM's version; a UsageError when it is missing or lacks --mount-symlinks."""
    hint = "pip install -U aws-sam-cli (1.134 or newer)"
    try:
        result = subprocess.run(
            [sam, "--version"], capture_output=True, text=True, timeout=120, check=False
        )
    except OSError as exc:
        raise UsageError(f"cannot run {sam}: {exc.strerror}", hint) from exc
    version = parse_sam_version(result.stdout + result.stderr)
    if result.returncode != 0 or version is None:
        raise UsageError(f"`{sam} --version` did not say its version", hint)
    if version < MIN_SAM:
        shown = ".".join(map(str, version))
        raise UsageError(f"SAM CLI {shown} has no --mount-symlinks for local invoke", hint)
    return version


def is_error_payload(text: str) -> bool:
    """Whether `sam local invoke`'s stdout is Lambda's error shape (SAM itself still exits 0)."""
    try:
        data = json.loads(text)
    except ValueError:
        return False
    if not isinstance(data, dict) or "errorMessage" not in data:
        return False
    # A timeout carries errorMessage alone; a raised exception adds errorType and maybe more of
    # Lambda's own keys. Anything else is a handler that returned a dict that happens to look alike.
    if set(data) == {"errorMessage"}:
        return "Task timed out after" in str(data["errorMessage"])
    return "errorType" in data and set(data) <= {
        "errorMessage",
        "errorType",
        "stackTrace",
        "requestId",
        "cause",
    }


def run_sam_local_invoke(argv: list[str]) -> int:
    """Run SAM, streaming its output; 1 when the handler raised, timed out or failed to load."""
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE)
    except OSError as exc:
        raise UsageError(
            f"cannot run {argv[0]}: {exc.strerror}", "pip install aws-sam-cli"
        ) from exc
    assert proc.stdout is not None
    source = proc.stdout.fileno()
    captured: list[bytes] = []

    def copy() -> None:
        while chunk := os.read(source, 65536):
            captured.append(chunk)
            _write_stdout(chunk)

    thread = threading.Thread(target=copy, daemon=True)
    thread.start()
    returncode = proc.wait()
    thread.join()
    if returncode != 0:
        return returncode
    output = b"".join(captured).decode(errors="replace").strip()
    # SAM prints the payload last; earlier lines (rare) are the function's own stdout.
    last = output.splitlines()[-1] if output else ""
    return 1 if is_error_payload(output) or is_error_payload(last) else 0


def _write_stdout(chunk: bytes) -> None:
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is not None:
        buffer.write(chunk)
        buffer.flush()
    else:
        sys.stdout.write(chunk.decode(errors="replace"))
        sys.stdout.flush()
