"""The container path: `sam local invoke --mount-symlinks`, when an engine answers."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from samlink import reaper
from samlink.build import location
from samlink.errors import UsageError
from samlink.runtime import report

# `--mount-symlinks` (bind each top-level link's target at its name) came with SAM 1.134.
MIN_SAM = (1, 134, 0)
_PING = b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n"
_VERSION = re.compile(r"(\d+)\.(\d+)\.(\d+)")
# What SAM logs when the container gave no answer: its own timer stopped it (a timeout), or the
# runtime never came up (e.g. an emulator of the wrong architecture).
_NO_RESPONSE = "No response from invoke container"
_TIMED_OUT = re.compile(r"Function '[^']*' timed out after \d+ seconds")
_REQUEST = re.compile(r"(?:START|END) RequestId: ([0-9a-fA-F-]+)")
# binfmt_misc handler names that qemu-user-static/binfmt-support and tonistiigi/binfmt register.
_QEMU = {"arm64": "qemu-aarch64", "x86_64": "qemu-x86_64"}
_MACHINES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}
BINFMT_DIR = Path("/proc/sys/fs/binfmt_misc")


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


@dataclass(frozen=True)
class ContainerOptions:
    """What `samlink invoke --docker` hands on to `sam local invoke` besides the function.

    `config_file` is the project's SAM config: SAM reads the config next to the template it is
    given, and that is the built template here, whose folder has none.
    """

    config_file: Path | None = None
    config_env: str | None = None
    skip_pull_image: bool = False
    docker_network: str | None = None
    container_env_vars: Path | None = None
    add_host: tuple[str, ...] = ()
    invoke_image: tuple[str, ...] = ()
    debug_port: tuple[int, ...] = ()


def emulation_missing(
    architecture: str,
    environ: Mapping[str, str] | None = None,
    *,
    machine: str | None = None,
    platform: str = sys.platform,
    binfmt: Path = BINFMT_DIR,
) -> str | None:
    """Why the local engine cannot run `architecture` containers here; None when it can (or
    when the engine is not this kernel: a VM, a remote host, whose emulation we cannot see)."""
    env = os.environ if environ is None else environ
    host = _MACHINES.get((machine or os.uname().machine).lower())
    if host is None or host == architecture or architecture not in _QEMU:
        return None
    endpoint = env.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    if platform != "linux" or not endpoint.startswith("unix://"):
        return None
    # A container's emulator runs on this kernel: it needs a binfmt_misc handler for the
    # foreign ELF (SAM adds aws-lambda-rie-<arch>, which fails with "exec format error").
    handler = binfmt / _QEMU[architecture]
    try:
        enabled = handler.read_text().splitlines()[:1] == ["enabled"]
    except OSError:
        enabled = False
    if enabled:
        return None
    return (
        f"this {host} machine cannot run {architecture} containers: no {_QEMU[architecture]} "
        f"handler in {binfmt}"
    )


def emulation_hint(architecture: str) -> str:
    """How to get a local engine to run `architecture` containers, or do without."""
    return (
        f"register {architecture} emulation (Debian/Ubuntu: apt-get install qemu-user-static "
        f"binfmt-support; any engine: docker run --privileged --rm tonistiigi/binfmt --install "
        f"{'arm64' if architecture == 'arm64' else 'amd64'}), or run it without Docker: "
        "samlink invoke --no-docker"
    )


def sam_local_invoke_argv(
    function_id: str,
    *,
    template: Path,
    event: str | None,
    env_vars: Path | None,
    parameter_overrides: tuple[str, ...],
    sam: str = "sam",
    options: ContainerOptions | None = None,
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
    return argv + _option_args(options or ContainerOptions())


def _option_args(options: ContainerOptions) -> list[str]:
    args: list[str] = []
    if options.config_file is not None:
        # Absolute: SAM reads a relative --config-file from the (built) template's folder.
        args += ["--config-file", str(options.config_file.resolve())]
    if options.config_env is not None:
        args += ["--config-env", options.config_env]
    if options.skip_pull_image:
        args.append("--skip-pull-image")
    if options.docker_network is not None:
        args += ["--docker-network", options.docker_network]
    if options.container_env_vars is not None:
        args += ["--container-env-vars", str(options.container_env_vars)]
    for mapping in options.add_host:
        args += ["--add-host", mapping]
    for image in options.invoke_image:
        args += ["--invoke-image", image]
    for port in options.debug_port:
        args += ["--debug-port", str(port)]
    return args


def built_template(template: Path, root: Path | None = None) -> Path:
    """The template `sam build` wrote into the build dir `root` (where `sam build` writes it
    when None), which SAM itself prefers; else the source one."""
    found = location.find_build_dir(template=template) if root is None else root
    built = location.built_template(found)
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


def run_sam_local_invoke(
    argv: list[str], *, timeout: int = 3, architecture: str | None = None
) -> int:
    """Run SAM, streaming its output; exit codes as the sandbox's.

    0 with the result on stdout; 1 when the handler raised, failed to load or timed out (SAM
    exits 0 for all three, and prints nothing on stdout for a timeout: the timeout payload is
    made here, from the function's `timeout`); a UsageError when the engine could not start a
    container of the function's `architecture`.
    """
    if shutil.which(argv[0]) is None:
        raise UsageError(f"cannot run {argv[0]}: not found", "pip install aws-sam-cli")
    # SAM runs below the supervisor: a samlink killed outright takes it along (issue 11).
    lifeline, hold = os.pipe()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-I", reaper.__file__, "--lifeline", str(lifeline), "--", *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=(lifeline,),
        )
    finally:
        os.close(lifeline)
    try:
        return _stream(proc, timeout, architecture)
    finally:
        os.close(hold)
        proc.wait()


def _stream(proc: subprocess.Popen[bytes], timeout: int, architecture: str | None) -> int:
    assert proc.stdout is not None and proc.stderr is not None
    out: list[bytes] = []
    err: list[bytes] = []
    threads = [
        threading.Thread(target=_pump, args=(proc.stdout.fileno(), out, _write_stdout)),
        threading.Thread(target=_pump, args=(proc.stderr.fileno(), err, _write_stderr)),
    ]
    for thread in threads:
        thread.start()
    returncode = proc.wait()
    for thread in threads:
        thread.join()
    proc.stdout.close()
    proc.stderr.close()
    if returncode != 0:
        return returncode
    output = b"".join(out).decode(errors="replace").strip()
    if out and not out[-1].endswith(b"\n"):
        _write_stdout(b"\n")  # SAM ends the payload without one; the sandbox prints one
    if output:
        # SAM prints the payload last; earlier lines (rare) are the function's own stdout.
        last = output.splitlines()[-1]
        return 1 if is_error_payload(output) or is_error_payload(last) else 0
    logs = b"".join(err).decode(errors="replace")
    if "exec format error" in logs and architecture is not None:
        raise UsageError(
            f"the container engine cannot run {architecture} containers (exec format error)",
            emulation_hint(architecture),
        )
    if _NO_RESPONSE in logs or _TIMED_OUT.search(logs):
        request_id = _request_id(logs)
        _write_stdout(report.timeout_payload(report.timeout_message(request_id, timeout)) + b"\n")
        return 1
    # No result and no reason: never pass that off as a success.
    _write_stdout(report.exit_error_payload(_request_id(logs), 1) + b"\n")
    return 1


def _pump(source: int, captured: list[bytes], write: Callable[[bytes], None]) -> None:
    while chunk := os.read(source, 65536):
        captured.append(chunk)
        write(chunk)


def _request_id(logs: str) -> str:
    match = _REQUEST.search(logs)
    return match[1] if match else str(uuid.uuid4())


def _write_stdout(chunk: bytes) -> None:
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is not None:
        buffer.write(chunk)
        buffer.flush()
    else:
        sys.stdout.write(chunk.decode(errors="replace"))
        sys.stdout.flush()


def _write_stderr(chunk: bytes) -> None:
    buffer = getattr(sys.stderr, "buffer", None)
    if buffer is not None:
        buffer.write(chunk)
        buffer.flush()
    else:
        sys.stderr.write(chunk.decode(errors="replace"))
        sys.stderr.flush()
