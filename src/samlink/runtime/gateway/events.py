"""The events API Gateway and function URLs send a function: payload 1.0 and 2.0."""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from dataclasses import dataclass
from urllib.parse import parse_qsl

from samlink.runtime.gateway.routes import DEFAULT_ROUTE, REST, Route

ACCOUNT_ID = "123456789012"  # what `sam local` uses for AWS::AccountId
REGION = "us-east-1"
_TEXT_TYPES = (
    "application/json",
    "application/javascript",
    "application/xml",
    "application/x-www-form-urlencoded",
    "application/graphql",
)


@dataclass(frozen=True)
class Request:
    """An HTTP request as the gateway received it (no server library types)."""

    method: str
    path: str  # percent-decoded, without the query
    raw_path: str  # as sent, without the query
    raw_query: str
    headers: tuple[tuple[str, str], ...]  # in order, names as sent
    body: bytes
    source_ip: str
    protocol: str = "HTTP/1.1"
    host: str = "localhost"
    time: float = 0.0  # epoch seconds; 0 means now
    request_id: str = ""  # empty means a fresh one

    def header(self, name: str) -> str | None:
        """The last value of header `name` (any case), or None."""
        lower = name.lower()
        found = [v for k, v in self.headers if k.lower() == lower]
        return found[-1] if found else None

    def query(self) -> list[tuple[str, str]]:
        return parse_qsl(self.raw_query, keep_blank_values=True)


def fresh(request: Request) -> Request:
    """The request with its own request ID and time (every request gets new ones, as in AWS)."""
    from dataclasses import replace

    return replace(
        request,
        time=request.time or time.time(),
        request_id=request.request_id or str(uuid.uuid4()),
    )


def api_id(logical_id: str) -> str:
    """A stable, API Gateway-shaped ID (10 lower-case characters) for an API's logical ID."""
    return hashlib.sha256(logical_id.encode()).hexdigest()[:10]


def matches_media_type(content_type: str | None, patterns: tuple[str, ...]) -> bool:
    """Whether `content_type` matches one of `patterns` (`image/png`, `image/*`, `*/*`)."""
    if not content_type or not patterns:
        return False
    mime = content_type.split(";")[0].strip().lower()
    major = mime.split("/")[0]
    for pattern in patterns:
        wanted = pattern.strip().lower()
        if wanted in ("*/*", mime) or wanted == f"{major}/*":
            return True
    return False


def is_text(content_type: str | None) -> bool:
    """Whether an HTTP API passes a body of this type as text (else it is base64)."""
    if content_type is None:
        return True
    mime = content_type.split(";")[0].strip().lower()
    return (
        mime.startswith("text/")
        or mime in _TEXT_TYPES
        or mime.endswith("+json")
        or mime.endswith("+xml")
    )


def _body(request: Request, binary: bool) -> tuple[str | None, bool]:
    if not request.body:
        return None, False
    if binary:
        return base64.b64encode(request.body).decode("ascii"), True
    try:
        return request.body.decode("utf-8"), False
    except UnicodeDecodeError:
        return base64.b64encode(request.body).decode("ascii"), True


def _request_time(epoch: float) -> str:
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(epoch))


def event_v1(
    request: Request,
    route: Route,
    path_parameters: dict[str, str],
    authorizer: dict[str, object] | None = None,
) -> dict[str, object]:
    """Payload format 1.0 (REST APIs, and HTTP APIs that ask for it)."""
    headers: dict[str, str] = {}
    multi_headers: dict[str, list[str]] = {}
    for name, value in request.headers:
        headers[name] = value  # the last value wins
        multi_headers.setdefault(name, []).append(value)
    query: dict[str, str] = {}
    multi_query: dict[str, list[str]] = {}
    for name, value in request.query():
        query[name] = value
        multi_query.setdefault(name, []).append(value)
    api = route.api
    if api.kind == REST:
        binary = matches_media_type(request.header("Content-Type"), api.binary_media_types)
    else:
        binary = not is_text(request.header("Content-Type"))
    body, encoded = _body(request, binary)
    user_agent = request.header("User-Agent")
    context: dict[str, object] = {
        "accountId": ACCOUNT_ID,
        "apiId": api_id(api.logical_id),
        "domainName": request.host,
        "domainPrefix": request.host.split(".")[0].split(":")[0],
        "extendedRequestId": request.request_id,
        "httpMethod": request.method,
        "identity": {
            "accessKey": None,
            "accountId": None,
            "apiKey": None,
            "apiKeyId": None,
            "caller": None,
            "cognitoAuthenticationProvider": None,
            "cognitoAuthenticationType": None,
            "cognitoIdentityId": None,
            "cognitoIdentityPoolId": None,
            "principalOrgId": None,
            "sourceIp": request.source_ip,
            "user": None,
            "userAgent": user_agent,
            "userArn": None,
        },
        "path": f"/{api.stage}{request.path}" if api.kind == REST else request.path,
        "protocol": request.protocol,
        "requestId": request.request_id,
        "requestTime": _request_time(request.time),
        "requestTimeEpoch": int(request.time * 1000),
        "resourceId": api_id(route.path)[:6],
        "resourcePath": route.path,
        "stage": api.stage,
    }
    if authorizer is not None:
        context["authorizer"] = authorizer
    event: dict[str, object] = {} if api.kind == REST else {"version": "1.0"}
    return event | {
        "resource": route.path,
        "path": request.path,
        "httpMethod": request.method,
        "headers": headers or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": path_parameters or None,
        "stageVariables": api.stage_variables or None,
        "requestContext": context,
        "body": body,
        "isBase64Encoded": encoded,
    }


def event_v2(
    request: Request,
    *,
    route_key: str,
    stage: str,
    api: str,
    path_parameters: dict[str, str] | None = None,
    stage_variables: dict[str, str] | None = None,
    authorizer: dict[str, object] | None = None,
    domain: str | None = None,
) -> dict[str, object]:
    """Payload format 2.0 (HTTP APIs and function URLs)."""
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in request.headers:
        lower = name.lower()
        if lower == "cookie":
            cookies += [c.strip() for c in value.split(";") if c.strip()]
            continue
        headers[lower] = f"{headers[lower]},{value}" if lower in headers else value
    query: dict[str, str] = {}
    for name, value in request.query():
        query[name] = f"{query[name]},{value}" if name in query else value
    body, encoded = _body(request, not is_text(request.header("Content-Type")))
    domain = domain or request.host
    context: dict[str, object] = {
        "accountId": ACCOUNT_ID,
        "apiId": api,
        "domainName": domain,
        "domainPrefix": domain.split(".")[0].split(":")[0],
        "http": {
            "method": request.method,
            "path": request.path,
            "protocol": request.protocol,
            "sourceIp": request.source_ip,
            "userAgent": request.header("User-Agent") or "",
        },
        "requestId": request.request_id,
        "routeKey": route_key,
        "stage": stage,
        "time": _request_time(request.time),
        "timeEpoch": int(request.time * 1000),
    }
    if authorizer is not None:
        context["authorizer"] = authorizer
    event: dict[str, object] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": request.raw_path,
        "rawQueryString": request.raw_query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    if query:
        event["queryStringParameters"] = query
    event["requestContext"] = context
    if body is not None:
        event["body"] = body
    if path_parameters:
        event["pathParameters"] = path_parameters
    event["isBase64Encoded"] = encoded
    if stage_variables:
        event["stageVariables"] = stage_variables
    return event


def route_event(
    request: Request,
    route: Route,
    path_parameters: dict[str, str],
    authorizer: dict[str, object] | None = None,
) -> dict[str, object]:
    """The event `route` sends its function, in the route's payload format."""
    if route.payload_version == "1.0":
        return event_v1(request, route, path_parameters, authorizer)
    return event_v2(
        request,
        route_key=route.key if route.path != DEFAULT_ROUTE else DEFAULT_ROUTE,
        stage=route.api.stage,
        api=api_id(route.api.logical_id),
        path_parameters=path_parameters,
        stage_variables=route.api.stage_variables,
        authorizer=authorizer,
    )


def url_event(
    request: Request, function_id: str, authorizer: dict[str, object] | None = None
) -> dict[str, object]:
    """The event a function URL sends (payload 2.0, route `$default`)."""
    url_id = hashlib.sha256(function_id.encode()).hexdigest()[:32]
    return event_v2(
        request,
        route_key=DEFAULT_ROUTE,
        stage=DEFAULT_ROUTE,
        api=url_id,
        authorizer=authorizer,
        domain=f"{url_id}.lambda-url.{REGION}.on.aws",
    )
