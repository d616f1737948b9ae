"""CORS as API Gateway applies it: REST preflights from `Cors`, HTTP API and function URL CORS."""

from __future__ import annotations

from collections.abc import Iterable

from samlink.runtime.gateway.responses import Reply
from samlink.runtime.gateway.routes import METHODS, Cors


def rest_preflight(cors: Cors, path_methods: Iterable[str]) -> Reply:
    """The mock OPTIONS method SAM adds to each path of a REST API with `Cors`: 200, the
    configured headers as written; methods default to the path's own plus OPTIONS."""
    if cors.allow_methods is not None:
        methods = list(cors.allow_methods)
    else:
        found: set[str] = {"OPTIONS"}
        for method in path_methods:
            found.update(METHODS if method == "ANY" else (method,))
        methods = sorted(found)
    headers = [("Access-Control-Allow-Methods", ",".join(methods))]
    if cors.allow_origins:
        headers.append(("Access-Control-Allow-Origin", ",".join(cors.allow_origins)))
    if cors.allow_headers:
        headers.append(("Access-Control-Allow-Headers", ",".join(cors.allow_headers)))
    if cors.max_age is not None:
        headers.append(("Access-Control-Max-Age", str(cors.max_age)))
    if cors.allow_credentials:
        headers.append(("Access-Control-Allow-Credentials", "true"))
    return Reply(200, (("Content-Type", "application/json"), *headers), b"")


def allowed_origin(cors: Cors, origin: str | None) -> str | None:
    """The Access-Control-Allow-Origin value for `origin`, or None when it is not allowed."""
    if origin is None:
        return None
    if "*" in cors.allow_origins:
        return origin if cors.allow_credentials else "*"
    lowered = origin.lower()
    return origin if any(o.lower() == lowered for o in cors.allow_origins) else None


def http_preflight(
    cors: Cors, origin: str | None, request_method: str | None, request_headers: str | None
) -> Reply:
    """An HTTP API's (or function URL's) own answer to a preflight: 204, CORS headers only
    when the origin, method and headers are allowed."""
    allow = allowed_origin(cors, origin)
    methods = cors.allow_methods or ()
    if allow is None or (
        # No AllowMethods configured: no method check (browsers allow the simple ones).
        request_method and methods and "*" not in methods and request_method.upper() not in methods
    ):
        return Reply(204, (), b"")
    headers = [("Access-Control-Allow-Origin", allow)]
    if methods:
        headers.append(("Access-Control-Allow-Methods", ",".join(methods)))
    if cors.allow_headers:
        wanted = request_headers or ""
        value = wanted if "*" in cors.allow_headers and wanted else ",".join(cors.allow_headers)
        headers.append(("Access-Control-Allow-Headers", value))
    if cors.max_age is not None:
        headers.append(("Access-Control-Max-Age", str(cors.max_age)))
    if cors.allow_credentials:
        headers.append(("Access-Control-Allow-Credentials", "true"))
    return Reply(204, tuple(headers), b"")


def response_headers(cors: Cors, origin: str | None) -> list[tuple[str, str]]:
    """Headers an HTTP API (or function URL) adds to a response for a CORS request, replacing
    the function's own CORS headers."""
    allow = allowed_origin(cors, origin)
    if allow is None:
        return []
    headers = [("Access-Control-Allow-Origin", allow)]
    if cors.expose_headers:
        headers.append(("Access-Control-Expose-Headers", ",".join(cors.expose_headers)))
    if cors.allow_credentials:
        headers.append(("Access-Control-Allow-Credentials", "true"))
    return headers


def with_cors(reply: Reply, cors: Cors, origin: str | None) -> Reply:
    extra = response_headers(cors, origin)
    if not extra:
        return reply
    kept = tuple((k, v) for k, v in reply.headers if not k.lower().startswith("access-control-"))
    return Reply(reply.status, (*kept, *extra), reply.body)
