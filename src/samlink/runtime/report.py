"""Lambda's words: the START/END/REPORT log lines and the payloads Lambda itself makes up."""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone


def start_line(request_id: str) -> str:
    """`START RequestId: ... Version: $LATEST`."""
    return f"START RequestId: {request_id} Version: $LATEST\n"


def end_lines(
    request_id: str,
    *,
    duration_ms: float,
    memory_size: int,
    max_memory_mb: int,
    init_ms: float | None,
    timed_out: bool = False,
) -> str:
    """END and REPORT lines, fields tab-separated in Lambda's order."""
    fields = [
        f"REPORT RequestId: {request_id}",
        f"Duration: {duration_ms:.2f} ms",
        f"Billed Duration: {math.ceil(duration_ms)} ms",
        f"Memory Size: {memory_size} MB",
        f"Max Memory Used: {max_memory_mb} MB",
    ]
    if init_ms is not None:
        fields.append(f"Init Duration: {init_ms:.2f} ms")
    if timed_out:
        fields.append("Status: timeout")
    return f"END RequestId: {request_id}\n" + "\t".join(fields) + "\t\n"


def timeout_message(request_id: str, timeout: int, now: datetime | None = None) -> str:
    """`<UTC time> <request id> Task timed out after N.NN seconds`, as Lambda's emulator says."""
    when = (now or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{when} {request_id} Task timed out after {timeout:.2f} seconds"


def timeout_payload(message: str) -> bytes:
    """The invoke result of a timed-out function: the message alone."""
    return json.dumps({"errorMessage": message}).encode()


def exit_error_payload(request_id: str, returncode: int) -> bytes:
    """What Lambda answers when the runtime process dies before it responds."""
    status = (
        f"signal: {_signal_name(-returncode)}" if returncode < 0 else f"exit status {returncode}"
    )
    return json.dumps(
        {
            "errorType": "Runtime.ExitError",
            "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: {status}",
        }
    ).encode()


def _signal_name(number: int) -> str:
    import signal

    try:
        name = signal.Signals(number).name
    except ValueError:
        return str(number)
    # Go's wording, which Lambda's messages use: "signal: killed", "signal: segmentation fault".
    words = {
        "SIGKILL": "killed",
        "SIGSEGV": "segmentation fault",
        "SIGABRT": "aborted",
        "SIGTERM": "terminated",
        "SIGBUS": "bus error",
    }
    return words.get(name, name)
