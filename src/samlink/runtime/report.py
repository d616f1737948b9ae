"""Lambda's words: the START/END/REPORT log lines, the payloads Lambda itself makes up, and
its payload limits with the errors that enforce them (one place for every engine that invokes)."""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone

from samlink.errors import UsageError

# Lambda's payload limits (AWS Invoke API reference). The response figure is the one Lambda's own
# error message names; it is 100 bytes over 6 MiB.
SYNC_REQUEST_LIMIT = 6_291_456  # InvocationType RequestResponse: 6 MiB
ASYNC_REQUEST_LIMIT = 1_048_576  # InvocationType Event: 1 MiB (256 KiB before October 2025)
INVOKE_ASYNC_REQUEST_LIMIT = 262_144  # the deprecated InvokeAsync operation keeps 256 KiB
RESPONSE_LIMIT = 6_291_556
RESPONSE_TOO_LARGE = "Function.ResponseSizeTooLarge"
_REQUEST_LIMITS = {
    "RequestResponse": SYNC_REQUEST_LIMIT,
    "DryRun": SYNC_REQUEST_LIMIT,
    "Event": ASYNC_REQUEST_LIMIT,
    "InvokeAsync": INVOKE_ASYNC_REQUEST_LIMIT,
}


class RequestTooLarge(UsageError):
    """An event over Lambda's request limit: Lambda refuses the invoke before any code runs.

    `samlink invoke` prints it as one line and exits 1; an HTTP engine answers `status` with
    `headers` and `body()`, as Lambda's Invoke API does.
    """

    exit_code = 1
    status = 413
    error_type = "RequestEntityTooLargeException"

    def __init__(self, size: int, limit: int, invocation_type: str) -> None:
        self.size = size
        self.limit = limit
        self.invocation_type = invocation_type
        self.lambda_message = (
            f"Request must be smaller than {limit} bytes for the InvokeFunction operation"
        )
        super().__init__(
            f"{self.error_type}: {self.lambda_message}",
            f"the event is {size} bytes; Lambda refuses a {invocation_type} invoke over "
            f"{limit} bytes: pass large data by reference (an S3 object, say)",
        )

    @property
    def headers(self) -> dict[str, str]:
        return {"Content-Type": "application/json", "x-amzn-ErrorType": self.error_type}

    def body(self) -> bytes:
        return json.dumps({"Type": "User", "message": self.lambda_message}).encode()


def request_limit(invocation_type: str = "RequestResponse") -> int:
    """Lambda's request payload limit, in bytes, for an invocation type."""
    try:
        return _REQUEST_LIMITS[invocation_type]
    except KeyError:
        raise UsageError(
            f"unknown invocation type {invocation_type!r}",
            f"use one of {', '.join(_REQUEST_LIMITS)}",
        ) from None


def check_request(event: bytes, invocation_type: str = "RequestResponse") -> None:
    """Raise RequestTooLarge when Lambda would refuse this event."""
    limit = request_limit(invocation_type)
    if len(event) > limit:
        raise RequestTooLarge(len(event), limit, invocation_type)


def response_too_large(size: int) -> bool:
    """Whether Lambda would replace a function's response of `size` bytes by an error."""
    return size > RESPONSE_LIMIT


def response_too_large_payload() -> bytes:
    """The invoke result Lambda gives instead of an oversized response (a function error)."""
    return json.dumps(
        {
            "errorMessage": "Response payload size exceeded maximum allowed payload size "
            f"({RESPONSE_LIMIT} bytes).",
            "errorType": RESPONSE_TOO_LARGE,
        }
    ).encode()


def runtime_too_large_reply() -> dict[str, str]:
    """What the Runtime API answers (HTTP 413) to a runtime posting an oversized response."""
    return {
        "errorMessage": f"Exceeded maximum allowed payload size ({RESPONSE_LIMIT} bytes).",
        "errorType": "RequestEntityTooLarge",
    }


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
