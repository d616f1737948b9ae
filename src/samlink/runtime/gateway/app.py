"""The local API Gateway server: one port for every API, one port per function URL (aiohttp)."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from aiohttp import web
from multidict import CIMultiDict

from samlink.errors import UsageError
from samlink.runtime.gateway import authorizers, cors, responses
from samlink.runtime.gateway.events import Request, fresh, route_event, url_event
from samlink.runtime.gateway.responses import Malformed, Reply
from samlink.runtime.gateway.routes import HTTP, REST, FunctionUrl, Gateway, Route
from samlink.runtime.gateway.table import RouteTable

# API Gateway's payload quota (10 MB); Lambda's own 6 MB limit is the engine's to apply.
MAX_BODY = 10 * 1024 * 1024


class Outcome(Protocol):
    """What an invoke gives back (samlink.runtime.engine.Result has these)."""

    @property
    def status(self) -> str: ...  # "ok" | "error" | "timeout"

    @property
    def payload(self) -> bytes: ...


Invoke = Callable[[str, bytes], Awaitable[Outcome]]


def route_lines(gateway: Gateway) -> list[str]:
    """`METHOD PATH -> FunctionId`, one per route, as printed at start and on reload."""
    return [f"{r.method} {r.path} -> {r.function_id}" for r in gateway.routes]


class GatewayServer:
    """Serves a Gateway's routes and function URLs, calling functions through `invoke`."""

    def __init__(
        self,
        invoke: Invoke,
        gateway: Gateway,
        *,
        host: str = "127.0.0.1",
        port: int = 3000,
        url_port: int | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.invoke = invoke
        self.host = host
        self.port = port
        self.url_port = url_port
        self.log = log or _stderr
        self.gateway = gateway
        self.table = RouteTable(gateway.routes)  # a collision fails here, before any bind
        self._runners: list[web.BaseRunner] = []
        self._url_runners: dict[str, tuple[web.BaseRunner, int]] = {}
        self._pending: set[asyncio.Future[Outcome]] = set()

    # --- life ------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind the API port and one port per function URL (UsageError when a port is taken)."""
        sock = _bind(self.host, self.port)
        if sock is None:
            raise UsageError(
                f"port {self.port} on {self.host} is in use",
                "stop what listens there, or pass another --port",
            )
        self.port = sock.getsockname()[1]
        self._runners.append(await _serve(self._handle_api, sock))
        await self._start_urls(self.gateway.urls)

    def url_of(self, function_id: str) -> str:
        port = self._url_runners[function_id][1]
        return f"http://{_display_host(self.host)}:{port}/"

    def url_lines(self) -> list[str]:
        return [f"{fid} URL {self.url_of(fid)}" for fid in self._url_runners]

    async def reload(self, gateway: Gateway) -> None:
        """Serve the routes and function URLs of an edited template (old ones on an error)."""
        self.table = RouteTable(gateway.routes)
        self.gateway = gateway
        wanted = {u.function_id for u in gateway.urls}
        for fid in [f for f in self._url_runners if f not in wanted]:
            runner, _ = self._url_runners.pop(fid)
            await runner.cleanup()
        await self._start_urls([u for u in gateway.urls if u.function_id not in self._url_runners])

    async def close(self) -> None:
        for runner in [*self._runners, *(r for r, _ in self._url_runners.values())]:
            await runner.cleanup()
        self._runners.clear()
        self._url_runners.clear()

    async def _start_urls(self, urls: tuple[FunctionUrl, ...] | list[FunctionUrl]) -> None:
        taken = {self.port, *(port for _, port in self._url_runners.values())}
        next_port = self.url_port
        for url in sorted(urls, key=lambda u: u.function_id):
            sock = None
            if next_port is None:
                sock = _bind(self.host, 0)
            else:
                # Consecutive ports from --function-url-port, skipping any that are in use.
                while sock is None and next_port < 65536:
                    if next_port not in taken:
                        sock = _bind(self.host, next_port)
                    next_port += 1
            if sock is None:
                raise UsageError(
                    "no free port for the function URL of " + url.function_id,
                    "pass another --function-url-port",
                )
            port = sock.getsockname()[1]
            taken.add(port)
            runner = await _serve(self._url_handler(url.function_id), sock)
            self._url_runners[url.function_id] = (runner, port)

    # --- requests --------------------------------------------------------------------------------

    async def _handle_api(self, http: web.BaseRequest) -> web.StreamResponse:
        started = time.perf_counter()
        request = await _request(http)
        if isinstance(request, Reply):
            return _response(request)
        reply, function_id = await self._serve_api(request)
        took = (time.perf_counter() - started) * 1000
        self.log(
            f"{request.method} {request.raw_path} -> {function_id or '-'} "
            f"{reply.status} ({took:.1f} ms)"
        )
        return _response(reply)

    async def _serve_api(self, request: Request) -> tuple[Reply, str | None]:
        table = self.table
        origin = request.header("Origin")
        if request.method == "OPTIONS":
            preflight = self._preflight(table, request)
            if preflight is not None:
                return preflight, None
        match = table.match(request.method, request.path)
        if match is None:
            at_path = table.at_path(request.path)
            kinds = {r.api.kind for r in (at_path or table.routes)}
            return responses.not_found(REST if REST in kinds else HTTP), None
        route = match.route
        context: dict[str, object] | None = None
        if route.authorizer is not None:
            verdict = await self._authorize(route, request, match.path_parameters)
            if verdict.reply is not None:
                return verdict.reply, route.authorizer.function_id
            context = verdict.context
        event = route_event(request, route, match.path_parameters, context)
        reply = await self._call(route, event, request)
        if route.api.kind == HTTP and route.api.cors is not None:
            reply = cors.with_cors(reply, route.api.cors, origin)
        return reply, route.function_id

    def _preflight(self, table: RouteTable, request: Request) -> Reply | None:
        at_path = table.at_path(request.path)
        http = next((r.api.cors for r in at_path if r.api.kind == HTTP and r.api.cors), None)
        if http is None and not any(r.api.kind == REST for r in at_path):
            # An HTTP API answers preflights on any path once CORS is configured.
            http = next(
                (r.api.cors for r in table.routes if r.api.kind == HTTP and r.api.cors), None
            )
        if http is not None:
            return cors.http_preflight(
                http,
                request.header("Origin"),
                request.header("Access-Control-Request-Method"),
                request.header("Access-Control-Request-Headers"),
            )
        rest = [r for r in at_path if r.api.kind == REST]
        if rest and not any(r.method == "OPTIONS" for r in rest):
            # SAM adds a mock OPTIONS method to each path of a REST API that has Cors.
            path = rest[0].path
            same = [r for r in rest if r.path == path]
            if same[0].api.cors is not None:
                return cors.rest_preflight(same[0].api.cors, [r.method for r in same])
        return None

    async def _authorize(
        self, route: Route, request: Request, params: dict[str, str]
    ) -> authorizers.Verdict:
        authorizer = route.authorizer
        assert authorizer is not None
        values = authorizers.identity(authorizer, request)
        if values is None:
            return authorizers.Verdict(authorizers.unauthorized())
        event = authorizers.authorizer_event(authorizer, request, route, params, values)
        outcome = await self._invoke(authorizer.function_id, json.dumps(event).encode())
        arn = authorizers.method_arn(route, request)
        verdict = authorizers.verdict(authorizer, route, outcome.status, outcome.payload, arn)
        if verdict.reply is not None and verdict.reply.status >= 500:
            self.log(f"authorizer {authorizer.name} ({authorizer.function_id}) failed: "
                     f"{outcome.payload[:200].decode(errors='replace')}")  # fmt: skip
        return verdict

    async def _invoke(self, function_id: str, payload: bytes) -> Outcome:
        """The engine's answer; a failure to run the function at all (a rebuild that failed, a
        function gone with a template edit) is a failed invoke: logged, and 502 to the client."""
        try:
            return await self.invoke(function_id, payload)
        except Exception as err:
            first = (str(err).splitlines() or [type(err).__name__])[0]
            self.log(f"{function_id}: could not run: {first}")
            return _Failed()

    async def _call(self, route: Route, event: dict[str, object], request: Request) -> Reply:
        task = asyncio.ensure_future(self._invoke(route.function_id, json.dumps(event).encode()))
        # The function keeps running after API Gateway gives up, as in AWS: shield it.
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        done, _ = await asyncio.wait({task}, timeout=route.timeout_ms / 1000)
        if not done:
            self.log(
                f"{route.function_id}: no response within the integration timeout "
                f"({route.timeout_ms} ms): 504"
            )
            return responses.integration_timeout(route.api.kind)
        outcome = task.result()
        if outcome.status != "ok":
            return responses.internal_error()
        try:
            if route.payload_version == "1.0":
                return responses.reply_v1(
                    outcome.payload,
                    strict=route.api.kind == REST,
                    binary_media_types=(
                        route.api.binary_media_types if route.api.kind == REST else None
                    ),
                    accept=request.header("Accept"),
                )
            return responses.reply_v2(outcome.payload)
        except Malformed as err:
            self.log(f"{route.function_id}: malformed Lambda proxy response ({err}): 502")
            return responses.internal_error()

    def _url_handler(
        self, function_id: str
    ) -> Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]:
        async def handle(http: web.BaseRequest) -> web.StreamResponse:
            started = time.perf_counter()
            request = await _request(http)
            if isinstance(request, Reply):
                return _response(request)
            reply = await self._serve_url(function_id, request)
            took = (time.perf_counter() - started) * 1000
            self.log(
                f"URL {request.method} {request.raw_path} -> {function_id} "
                f"{reply.status} ({took:.1f} ms)"
            )
            return _response(reply)

        return handle

    async def _serve_url(self, function_id: str, request: Request) -> Reply:
        url = next((u for u in self.gateway.urls if u.function_id == function_id), None)
        if url is None:
            return responses.message(404, "Not Found", key="Message")
        origin = request.header("Origin")
        if request.method == "OPTIONS" and url.cors is not None and origin:
            return cors.http_preflight(
                url.cors,
                origin,
                request.header("Access-Control-Request-Method"),
                request.header("Access-Control-Request-Headers"),
            )
        context = None
        if url.auth_type == "AWS_IAM":
            context = _iam_context(request.header("Authorization"))
            if context is None:
                return responses.message(403, "Forbidden", key="Message")
        event = url_event(request, function_id, context)
        outcome = await self._invoke(function_id, json.dumps(event).encode())
        if outcome.status != "ok":
            return responses.message(502, "Internal Server Error", key="Message")
        try:
            reply = responses.reply_v2(outcome.payload)
        except Malformed as err:
            self.log(f"{function_id}: malformed function URL response ({err}): 502")
            return responses.message(502, "Internal Server Error", key="Message")
        return cors.with_cors(reply, url.cors, origin) if url.cors is not None else reply


@dataclass(frozen=True)
class _Failed:
    status: str = "error"
    payload: bytes = b"{}"


def _iam_context(authorization: str | None) -> dict[str, object] | None:
    """AWS_IAM function URLs: any request that looks SigV4-signed is let in; the signature is
    not checked (there are no real credentials to check it against locally)."""
    if not authorization or not authorization.startswith("AWS4-HMAC-SHA256 "):
        return None
    fields = dict(
        part.strip().split("=", 1) for part in authorization[17:].split(",") if "=" in part
    )
    if "Credential" not in fields or "Signature" not in fields:
        return None
    access_key = fields["Credential"].split("/")[0]
    return {
        "iam": {
            "accessKey": access_key,
            "accountId": "123456789012",
            "callerId": access_key,
            "cognitoIdentity": None,
            "principalOrgId": None,
            "userArn": "arn:aws:iam::123456789012:user/local",
            "userId": access_key,
        }
    }


async def _request(http: web.BaseRequest) -> Request | Reply:
    body = bytearray()
    while chunk := await http.content.read(65536):
        body += chunk
        if len(body) > MAX_BODY:
            return responses.message(413, "Request Too Long")
    raw_path, _, raw_query = http.raw_path.partition("?")
    peer = http.remote or "127.0.0.1"
    request = Request(
        method=http.method.upper(),
        path=http.path,
        raw_path=raw_path,
        raw_query=raw_query,
        headers=tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in http.raw_headers),
        body=bytes(body),
        source_ip=peer,
        protocol=f"HTTP/{http.version.major}.{http.version.minor}",
        host=http.host,
    )
    return fresh(request)


def _response(reply: Reply) -> web.Response:
    headers: CIMultiDict[str] = CIMultiDict(reply.headers)
    return web.Response(status=reply.status, headers=headers, body=reply.body or None)


async def _serve(
    handler: Callable[[web.BaseRequest], Awaitable[web.StreamResponse]], sock: socket.socket
) -> web.BaseRunner:
    runner = web.ServerRunner(web.Server(handler), handle_signals=False, access_log=None)
    await runner.setup()
    await web.SockSite(runner, sock, shutdown_timeout=1.0).start()
    return runner


def _bind(host: str, port: int) -> socket.socket | None:
    """A listening socket on host:port (port 0: a free one), or None when the port is taken."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    # SO_REUSEADDR lets a restarted server bind while old connections sit in TIME_WAIT; it does
    # not let two listeners share a port on Linux.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(128)
    except OSError:
        sock.close()
        return None
    sock.setblocking(False)
    return sock


def _display_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
