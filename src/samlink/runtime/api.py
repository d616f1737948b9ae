"""A one-invocation Lambda Runtime API on 127.0.0.1, for the real awslambdaric client."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

from samlink.runtime import report

PREFIX = "/2018-06-01/runtime"
SANDBOX_ERROR = "/samlink/sandbox/error"


@dataclass(frozen=True)
class Invocation:
    """What the runtime client is handed by `GET .../invocation/next`."""

    request_id: str
    event: bytes
    function_arn: str
    timeout: int  # seconds
    trace_id: str


@dataclass(frozen=True)
class Outcome:
    """How it ended: a response, a function error, an init error, or a sandbox failure."""

    kind: str  # "response" | "error" | "init_error" | "sandbox_error"
    body: bytes
    error_type: str | None = None


class RuntimeAPI:
    """Serve one invocation; record when it was picked up and how it ended."""

    def __init__(self, invocation: Invocation) -> None:
        self.invocation = invocation
        self.changed = threading.Event()  # set on every state change the caller waits for
        self.next_at: float | None = None  # time.monotonic() when the event was handed out
        self.outcome_at: float | None = None
        self._outcome: Outcome | None = None
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _handler_for(self))
        # A short poll keeps close() quick: shutdown() waits for the serving loop to look up.
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.02,), name="runtime-api", daemon=True
        )

    @property
    def address(self) -> str:
        """host:port for AWS_LAMBDA_RUNTIME_API."""
        host, port = self._server.server_address[:2]
        return f"{host!s}:{port}"

    @property
    def outcome(self) -> Outcome | None:
        """How the invocation ended, once it has."""
        with self._lock:
            return self._outcome

    def __enter__(self) -> RuntimeAPI:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop serving; release a client still waiting for a second event."""
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()

    def _hand_out(self) -> tuple[bytes, dict[str, str]] | None:
        with self._lock:
            if self.next_at is not None:
                return None
            self.next_at = time.monotonic()
        inv = self.invocation
        deadline_ms = int(time.time() * 1000) + inv.timeout * 1000
        headers = {
            "Content-Type": "application/json",
            "Lambda-Runtime-Aws-Request-Id": inv.request_id,
            "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
            "Lambda-Runtime-Invoked-Function-Arn": inv.function_arn,
            "Lambda-Runtime-Trace-Id": inv.trace_id,
        }
        self.changed.set()
        return inv.event, headers

    def _record(self, outcome: Outcome) -> bool:
        with self._lock:
            if self._outcome is not None:
                return False
            self._outcome = outcome
            self.outcome_at = time.monotonic()
        self.changed.set()
        return True


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client stopped mid-request (we stop it once it has answered) is no news


def _handler_for(api: RuntimeAPI) -> type[BaseHTTPRequestHandler]:
    invocation_path = f"{PREFIX}/invocation/{api.invocation.request_id}"

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass  # the runtime's own logs are what the user reads

        def do_GET(self) -> None:
            if self.path != f"{PREFIX}/invocation/next":
                self._reply(404, {"errorType": "NotFound", "errorMessage": self.path})
                return
            handed = api._hand_out()
            if handed is None:
                # One invocation only: the client is stopped once it has answered, so a second
                # poll just waits (as Lambda freezes the sandbox between events).
                api._closing.wait()
                self._reply(410, {"errorType": "Gone", "errorMessage": "samlink is done"})
                return
            body, headers = handed
            self.send_response(200)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            body = self._body()
            error_type = self.headers.get("Lambda-Runtime-Function-Error-Type")
            if self.path == f"{invocation_path}/response":
                if report.response_too_large(len(body)):
                    # Lambda turns the response into a function error and tells the runtime so.
                    api._record(
                        Outcome(
                            "error", report.response_too_large_payload(), report.RESPONSE_TOO_LARGE
                        )
                    )
                    self._reply(413, report.runtime_too_large_reply())
                    return
                outcome = Outcome("response", body)
            elif self.path == f"{invocation_path}/error":
                outcome = Outcome("error", body, error_type)
            elif self.path == f"{PREFIX}/init/error":
                outcome = Outcome("init_error", body, error_type)
            elif self.path == SANDBOX_ERROR:
                outcome = Outcome("sandbox_error", body)
            elif self.path.startswith(f"{PREFIX}/invocation/"):
                self._reply(
                    400, {"errorType": "InvalidRequestID", "errorMessage": "Invalid request ID"}
                )
                return
            else:
                self._reply(404, {"errorType": "NotFound", "errorMessage": self.path})
                return
            api._record(outcome)
            self._reply(202, {"status": "OK"})

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks: list[bytes] = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _reply(self, status: int, payload: dict[str, str]) -> None:
            data = json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                pass  # the client was stopped while we answered

    return Handler
