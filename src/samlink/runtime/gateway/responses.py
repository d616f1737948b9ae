"""What API Gateway answers: a function's response mapped to HTTP, and its own error answers."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from samlink.runtime.gateway.events import matches_media_type

_V1_KEYS = frozenset({"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"})


@dataclass(frozen=True)
class Reply:
    """An HTTP response: status, headers in order (repeats allowed), body."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


def message(status: int, text: str | None, key: str = "message") -> Reply:
    """API Gateway's own JSON answer: {"message": ...}."""
    body = json.dumps({key: text}).encode()
    return Reply(status, (("Content-Type", "application/json"),), body)


def internal_error() -> Reply:
    """A handler error, a function timeout or a malformed response."""
    return message(502, "Internal server error")


def not_found(kind: str) -> Reply:
    """No route: REST APIs answer 403 Missing Authentication Token, HTTP APIs 404 Not Found."""
    if kind == "rest":
        return message(403, "Missing Authentication Token")
    return message(404, "Not Found")


def integration_timeout(kind: str) -> Reply:
    """The function outlived the integration timeout (29 s for REST unless TimeoutInMillis)."""
    return message(504, "Endpoint request timed out" if kind == "rest" else "Gateway Timeout")


class Malformed(ValueError):
    """The function's response is not one API Gateway can map."""


def reply_v1(
    payload: bytes, *, strict: bool, binary_media_types: tuple[str, ...] | None, accept: str | None
) -> Reply:
    """Map a payload 1.0 response. `strict` (REST) refuses keys API Gateway does not know;
    `binary_media_types` None means an HTTP API (base64 bodies are always decoded)."""
    try:
        response = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise Malformed("not JSON") from None
    if not isinstance(response, dict):
        raise Malformed("not a JSON object")
    if strict and not set(response) <= _V1_KEYS:
        raise Malformed(f"unknown keys {sorted(set(response) - _V1_KEYS)}")
    status = _status(response.get("statusCode"))
    headers: list[tuple[str, str]] = []
    multi = response.get("multiValueHeaders") or {}
    single = response.get("headers") or {}
    if not isinstance(multi, dict) or not isinstance(single, dict):
        raise Malformed("headers are not an object")
    for name, values in multi.items():
        if not isinstance(values, list):
            raise Malformed(f"multiValueHeaders[{name}] is not a list")
        headers += [(str(name), _header_value(v)) for v in values]
    for name, value in single.items():
        text = _header_value(value)
        if name in multi and text in [_header_value(v) for v in multi[name]]:
            continue  # the same pair in both: API Gateway keeps multiValueHeaders' copy
        headers.append((str(name), text))
    body = response.get("body")
    if body is not None and not isinstance(body, str):
        raise Malformed("body is not a string")
    data = (body or "").encode()
    if response.get("isBase64Encoded") and body:
        content_type = _find(headers, "Content-Type")
        if binary_media_types is None or (
            matches_media_type(content_type, binary_media_types)
            or matches_media_type(accept, binary_media_types)
        ):
            data = _b64(body)
    return Reply(status, _with_content_type(headers), data)


def reply_v2(payload: bytes) -> Reply:
    """Map a payload 2.0 response, including the simple form (anything without statusCode)."""
    try:
        response = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise Malformed("not JSON") from None
    if not (isinstance(response, dict) and "statusCode" in response):
        # The simple form: the function's JSON itself, 200, as JSON.
        return Reply(200, (("Content-Type", "application/json"),), payload)
    status = _status(response.get("statusCode"))
    raw_headers = response.get("headers") or {}
    if not isinstance(raw_headers, dict):
        raise Malformed("headers are not an object")
    headers = [(str(k), _header_value(v)) for k, v in raw_headers.items()]
    cookies = response.get("cookies") or []
    if not isinstance(cookies, list):
        raise Malformed("cookies are not a list")
    headers += [("Set-Cookie", str(c)) for c in cookies]
    body = response.get("body")
    if body is not None and not isinstance(body, str):
        raise Malformed("body is not a string")
    data = (body or "").encode()
    if response.get("isBase64Encoded") and body:
        data = _b64(body)
    return Reply(status, _with_content_type(headers), data)


def _status(value: object) -> int:
    if isinstance(value, bool):
        raise Malformed("statusCode is not a number")
    if isinstance(value, int):
        status = value
    elif isinstance(value, str) and value.isdigit():
        status = int(value)
    else:
        raise Malformed("statusCode missing or not a number")
    if not 100 <= status <= 599:
        raise Malformed(f"statusCode {status} out of range")
    return status


def _header_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise Malformed("a header value is not a string")


def _b64(body: str) -> bytes:
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise Malformed("isBase64Encoded but the body is not base64") from None


def _find(headers: list[tuple[str, str]], name: str) -> str | None:
    found = [v for k, v in headers if k.lower() == name.lower()]
    return found[-1] if found else None


def _with_content_type(headers: list[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    if _find(headers, "Content-Type") is None:
        headers = [("Content-Type", "application/json"), *headers]
    return tuple(headers)
