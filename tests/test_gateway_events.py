"""Events and responses of the local API Gateway, checked against the real SAM CLI's samples.

`sam local generate-event apigateway aws-proxy` / `http-api-proxy` print AWS's sample events; every
key of a sample must be in ours with the same JSON type (values too where they are not specific to
the sample's request). No server is needed here: events and responses are pure functions.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from conftest import BIN, run
from samlink.runtime.gateway import authorizers, cors, events, responses
from samlink.runtime.gateway.routes import HTTP, REST, Api, Authorizer, Cors, Route

pytestmark = pytest.mark.sam


def _sample(kind: str, tmp_path: Path, env: dict[str, str]) -> dict[str, Any]:
    out = run([BIN / "sam", "local", "generate-event", "apigateway", kind], tmp_path, env)
    return json.loads(out.stdout)  # type: ignore[no-any-return]


_EXAMPLE_MAPS = {
    "headers",
    "multiValueHeaders",
    "queryStringParameters",
    "multiValueQueryStringParameters",
    "pathParameters",
    "stageVariables",
    "authentication",  # mutual TLS only
    "authorizer",
    "clientCert",
}


def _same_shape(sample: object, ours: object, where: str = "") -> None:
    """Every key of `sample` is in `ours`, with a value of the same JSON type (null fits any)."""
    if isinstance(sample, dict):
        assert isinstance(ours, dict), where
        for key, value in sample.items():
            # Samples' headers and query maps are examples of a request, not fixed keys.
            if key in _EXAMPLE_MAPS:
                assert isinstance(ours.get(key), dict | None), f"{where}.{key}"
                continue
            assert key in ours, f"{where}.{key} missing"
            _same_shape(value, ours[key], f"{where}.{key}")
    elif sample is not None and ours is not None:
        kind = (int, float) if isinstance(sample, int | float) else type(sample)
        assert isinstance(ours, kind), f"{where}: {type(ours).__name__} for {sample!r}"


def _request(**changes: Any) -> events.Request:
    base = events.Request(
        method="POST",
        path="/path/to/resource",
        raw_path="/path/to/resource",
        raw_query="foo=bar&parameter1=value1&parameter1=value2",
        headers=(
            ("Accept", "*/*"),
            ("User-Agent", "Custom User Agent String"),
            ("Cookie", "cookie1; cookie2"),
            ("X-Multi", "a"),
            ("x-multi", "b"),
            ("Content-Type", "application/octet-stream"),
        ),
        body=b'{"test":"body"}',
        source_ip="127.0.0.1",
        host="localhost:3000",
    )
    from dataclasses import replace

    return events.fresh(replace(base, **changes))


def test_payload_1_0_matches_aws_sample(tmp_path: Path, tool_env: dict[str, str]) -> None:
    sample = _sample("aws-proxy", tmp_path, tool_env)
    api = Api("ServerlessRestApi", REST, "Prod", {"baz": "qux"}, ("application/octet-stream",))
    route = Route(api, "ANY", "/{proxy+}", "F", "1.0", 29_000)
    request = _request()
    ours = events.event_v1(request, route, {"proxy": "path/to/resource"})
    _same_shape(sample, ours)
    assert set(ours) == set(sample)  # REST events carry no `version`
    assert ours["resource"] == sample["resource"] and ours["path"] == sample["path"]
    assert ours["httpMethod"] == "POST" and ours["isBase64Encoded"] is True
    assert base64.b64decode(str(ours["body"])) == b'{"test":"body"}'
    assert ours["queryStringParameters"] == {"foo": "bar", "parameter1": "value2"}  # last wins
    assert ours["multiValueQueryStringParameters"] == {
        "foo": ["bar"],
        "parameter1": ["value1", "value2"],
    }
    assert ours["stageVariables"] == sample["stageVariables"]
    assert ours["headers"]["x-multi"] == "b"  # type: ignore[index]
    assert ours["multiValueHeaders"]["X-Multi"] == ["a"]  # type: ignore[index]
    context = ours["requestContext"]
    assert isinstance(context, dict)
    assert context["stage"] == "Prod" and context["resourcePath"] == "/{proxy+}"
    assert context["path"] == "/Prod/path/to/resource" and context["accountId"] == "123456789012"
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert context["identity"]["userAgent"] == "Custom User Agent String"
    assert abs(context["requestTimeEpoch"] - request.time * 1000) < 1  # ms, not s
    # A fresh requestId per request (SAM keeps one per process).
    other = events.event_v1(_request(), route, {})
    assert other["requestContext"]["requestId"] != context["requestId"]  # type: ignore[index]

    text = events.event_v1(_request(headers=(("Content-Type", "text/plain"),)), route, {})
    assert (text["body"], text["isBase64Encoded"]) == ('{"test":"body"}', False)
    empty = events.event_v1(_request(body=b"", raw_query=""), route, {})
    assert empty["body"] is None and empty["queryStringParameters"] is None
    assert empty["pathParameters"] is None


def test_payload_2_0_matches_aws_sample(tmp_path: Path, tool_env: dict[str, str]) -> None:
    sample = _sample("http-api-proxy", tmp_path, tool_env)
    api = Api("ServerlessHttpApi", HTTP, "$default", {"stageVariable1": "value1"})
    route = Route(api, "POST", "/path/{parameter1}", "F", "2.0", 30_000)
    request = _request()
    ours = events.route_event(request, route, {"parameter1": "value1"})
    _same_shape(sample, ours)
    assert ours["version"] == "2.0" and ours["routeKey"] == "POST /path/{parameter1}"
    assert ours["rawPath"] == "/path/to/resource"
    assert ours["rawQueryString"] == "foo=bar&parameter1=value1&parameter1=value2"
    assert ours["cookies"] == sample["cookies"]
    assert ours["queryStringParameters"] == {"foo": "bar", "parameter1": "value1,value2"}
    headers = ours["headers"]
    assert isinstance(headers, dict)
    assert headers["x-multi"] == "a,b" and "cookie" not in headers  # lower-case, comma-joined
    assert ours["isBase64Encoded"] is True  # octet-stream is not text
    context = ours["requestContext"]
    assert isinstance(context, dict)
    assert context["http"] == {
        "method": "POST",
        "path": "/path/to/resource",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "Custom User Agent String",
    }
    assert context["routeKey"] == "POST /path/{parameter1}" and context["stage"] == "$default"
    assert abs(context["timeEpoch"] - request.time * 1000) < 1
    default = events.route_event(
        _request(headers=(("Content-Type", "application/json"),)),
        Route(api, "ANY", "$default", "F", "2.0", 30_000),
        {},
    )
    assert default["routeKey"] == "$default" and default["isBase64Encoded"] is False
    assert default["body"] == '{"test":"body"}' and "cookies" not in default

    url = events.url_event(request, "F")
    _same_shape(sample, {**url, "pathParameters": {}, "stageVariables": {}})
    assert url["routeKey"] == "$default"
    assert str(url["requestContext"]["domainName"]).endswith(".lambda-url.us-east-1.on.aws")  # type: ignore[index]


def test_authorizer_events_match_aws_samples(tmp_path: Path, tool_env: dict[str, str]) -> None:
    token_sample = _sample("authorizer", tmp_path, tool_env)
    request_sample = _sample("request-authorizer", tmp_path, tool_env)
    api = Api("Secured", REST, "test")
    token = Authorizer("T", "Auth", "TOKEN", "1.0")
    route = Route(api, "GET", "/request", "F", "1.0", 29_000, token)
    request = _request(method="GET", path="/request", raw_path="/request")
    ours = authorizers.authorizer_event(token, request, route, {}, ["tok"])
    assert set(ours) == set(token_sample) and ours["authorizationToken"] == "tok"
    assert str(ours["methodArn"]).endswith("/test/GET/request")
    req = Authorizer("R", "Auth", "REQUEST", "1.0", identity_headers=("User-Agent",))
    ours = authorizers.authorizer_event(req, request, route, {}, ["x"])
    _same_shape(request_sample, ours)
    assert "body" not in ours and ours["type"] == "REQUEST"


def _policy(effect: str, resource: str = "*") -> bytes:
    return json.dumps(
        {
            "principalId": "me",
            "policyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}
                ],
            },
            "context": {"team": "core"},
        }
    ).encode()


def test_authorizer_verdicts() -> None:
    rest = Route(Api("A", REST, "Prod"), "GET", "/x", "F", "1.0", 1)
    token = Authorizer("T", "Auth", "TOKEN", "1.0")
    arn = "arn:aws:execute-api:us-east-1:123456789012:abc/Prod/GET/x"
    allowed = authorizers.verdict(token, rest, "ok", _policy("Allow", "arn:aws:*/Prod/GET/*"), arn)
    assert allowed.reply is None and allowed.context == {"principalId": "me", "team": "core"}
    denied = authorizers.verdict(token, rest, "ok", _policy("Deny"), arn)
    assert denied.reply is not None and denied.reply.status == 403
    assert b"explicit deny" in denied.reply.body
    other = authorizers.verdict(token, rest, "ok", _policy("Allow", "arn:aws:*/POST/*"), arn)
    assert other.reply is not None and other.reply.status == 403
    raised = authorizers.verdict(token, rest, "error", b'{"errorMessage": "Unauthorized"}', arn)
    assert raised.reply is not None and raised.reply.status == 401
    crashed = authorizers.verdict(token, rest, "error", b'{"errorMessage": "boom"}', arn)
    assert crashed.reply is not None and crashed.reply.status == 500

    http = Route(Api("H", HTTP, "$default"), "GET", "/x", "F", "2.0", 1)
    simple = Authorizer("S", "Auth", "REQUEST", "2.0", simple_responses=True)
    yes = authorizers.verdict(
        simple, http, "ok", b'{"isAuthorized": true, "context": {"a": 1}}', arn
    )
    assert yes.reply is None and yes.context == {"lambda": {"a": 1}}
    no = authorizers.verdict(simple, http, "ok", b'{"isAuthorized": false}', arn)
    assert no.reply is not None and (no.reply.status, no.reply.body) == (
        403,
        b'{"message": "Forbidden"}',
    )
    policy = Authorizer("P", "Auth", "REQUEST", "2.0")
    assert authorizers.verdict(policy, http, "ok", _policy("Allow"), arn).reply is None

    request = _request(headers=(("X-Token", "tok-1"),), raw_query="q=")
    assert authorizers.identity(
        Authorizer("T", "A", "TOKEN", "1.0", token_header="x-token", validation="tok-.*"), request
    ) == ["tok-1"]
    assert (
        authorizers.identity(Authorizer("T", "A", "TOKEN", "1.0", validation="x"), request) is None
    )
    assert (
        authorizers.identity(
            Authorizer("R", "A", "REQUEST", "1.0", identity_queries=("q",)), request
        )
        is None
    )


def test_v1_responses() -> None:
    reply = responses.reply_v1(
        json.dumps(
            {
                "statusCode": 201,
                "headers": {"X-One": "1", "X-Both": "b"},
                "multiValueHeaders": {"X-Both": ["a", "b"], "Set-Cookie": ["c=1", "d=2"]},
                "body": "hi",
            }
        ).encode(),
        strict=True,
        binary_media_types=(),
        accept=None,
    )
    assert reply.status == 201 and reply.body == b"hi"
    assert [v for k, v in reply.headers if k == "X-Both"] == ["a", "b"]
    assert [v for k, v in reply.headers if k == "Set-Cookie"] == ["c=1", "d=2"]
    assert ("Content-Type", "application/json") in reply.headers
    png = base64.b64encode(b"\x89PNG\x00\xff").decode()
    binary = {
        "statusCode": 200,
        "headers": {"Content-Type": "image/png"},
        "body": png,
        "isBase64Encoded": True,
    }
    raw = json.dumps(binary).encode()
    assert (
        responses.reply_v1(raw, strict=True, binary_media_types=("image/png",), accept=None).body
        == b"\x89PNG\x00\xff"
    )
    # Not a binary media type of the API: API Gateway passes the base64 text through.
    assert (
        responses.reply_v1(raw, strict=True, binary_media_types=(), accept=None).body
        == png.encode()
    )
    assert (
        responses.reply_v1(raw, strict=False, binary_media_types=None, accept=None).body
        == b"\x89PNG\x00\xff"
    )
    for bad in (
        b"not json",
        b"[]",
        b'{"body": "x"}',
        b'{"statusCode": 200, "body": {}}',
        b'{"statusCode": 200, "extra": 1}',
    ):
        with pytest.raises(responses.Malformed):
            responses.reply_v1(bad, strict=True, binary_media_types=(), accept=None)


def test_v2_responses() -> None:
    simple = responses.reply_v2(b'{"hello": "world"}')
    assert (simple.status, simple.body) == (200, b'{"hello": "world"}')
    assert ("Content-Type", "application/json") in simple.headers
    assert responses.reply_v2(b'"text"').body == b'"text"'
    full = responses.reply_v2(
        json.dumps(
            {"statusCode": 418, "cookies": ["a=1", "b=2"], "headers": {"X": "y"}, "body": "t"}
        ).encode()
    )
    assert full.status == 418 and full.body == b"t"
    assert [v for k, v in full.headers if k == "Set-Cookie"] == ["a=1", "b=2"]
    with pytest.raises(responses.Malformed):
        responses.reply_v2(b"{not json")
    assert responses.not_found(REST).status == 403
    assert responses.not_found(REST).body == b'{"message": "Missing Authentication Token"}'
    assert responses.not_found(HTTP).status == 404
    assert responses.internal_error().body == b'{"message": "Internal server error"}'


def test_cors() -> None:
    rest = Cors(allow_origins=("*",), allow_methods=None, allow_headers=("X-A",), max_age=60)
    reply = cors.rest_preflight(rest, ["GET", "POST"])
    headers = dict(reply.headers)
    assert reply.status == 200 and headers["Access-Control-Allow-Methods"] == "GET,OPTIONS,POST"
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert headers["Access-Control-Max-Age"] == "60"
    http = Cors(
        allow_origins=("https://a.example",), allow_methods=("GET",), expose_headers=("X-E",)
    )
    ok = cors.http_preflight(http, "https://a.example", "GET", None)
    assert (
        ok.status == 204 and dict(ok.headers)["Access-Control-Allow-Origin"] == "https://a.example"
    )
    assert cors.http_preflight(http, "https://evil.example", "GET", None).headers == ()
    assert cors.http_preflight(http, "https://a.example", "DELETE", None).headers == ()
    added = cors.with_cors(
        responses.Reply(200, (("Access-Control-Allow-Origin", "x"),), b""),
        http,
        "https://a.example",
    )
    assert dict(added.headers) == {
        "Access-Control-Allow-Origin": "https://a.example",
        "Access-Control-Expose-Headers": "X-E",
    }
