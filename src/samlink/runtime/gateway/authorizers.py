"""Lambda authorizers: the event an authorizer gets, and what API Gateway makes of its answer.

REST APIs: TOKEN and REQUEST authorizers answering an IAM policy. HTTP APIs: REQUEST authorizers,
payload 1.0 or 2.0, answering a policy or (2.0 with EnableSimpleResponses) `isAuthorized`.
Results are not cached (every request calls the authorizer), as with `sam local start-api`.
"""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass, field

from samlink.runtime.gateway.events import ACCOUNT_ID, REGION, Request, api_id, route_event
from samlink.runtime.gateway.responses import Reply, message
from samlink.runtime.gateway.routes import REST, Authorizer, Route


@dataclass(frozen=True)
class Verdict:
    """`reply` None: allowed, with `context` for the event's requestContext.authorizer."""

    reply: Reply | None
    context: dict[str, object] = field(default_factory=dict, hash=False)


def unauthorized() -> Reply:
    return message(401, "Unauthorized")


def method_arn(route: Route, request: Request) -> str:
    """The methodArn / routeArn an authorizer is asked about."""
    api = route.api
    return (
        f"arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:{api_id(api.logical_id)}/{api.stage}/"
        f"{request.method}{request.path}"
    )


def identity(authorizer: Authorizer, request: Request) -> list[str] | None:
    """The identity source values in order, or None when one is missing (API Gateway answers
    401 without calling the authorizer)."""
    values: list[str] = []
    if authorizer.kind == "TOKEN":
        token = request.header(authorizer.token_header)
        if not token:
            return None
        if authorizer.validation and not re.fullmatch(authorizer.validation, token):
            return None
        return [token]
    query = dict(request.query())
    for name in authorizer.identity_headers:
        value = request.header(name)
        if not value:
            return None
        values.append(value)
    for name in authorizer.identity_queries:
        if not query.get(name):
            return None
        values.append(query[name])
    return values


def authorizer_event(
    authorizer: Authorizer,
    request: Request,
    route: Route,
    path_parameters: dict[str, str],
    values: list[str],
) -> dict[str, object]:
    """The event the authorizer function receives."""
    arn = method_arn(route, request)
    if authorizer.kind == "TOKEN":
        return {"type": "TOKEN", "authorizationToken": values[0], "methodArn": arn}
    as_route = Route(
        route.api,
        route.method,
        route.path,
        route.function_id,
        authorizer.payload_version,
        route.timeout_ms,
    )
    event = route_event(request, as_route, path_parameters)
    event.pop("body", None)
    event.pop("isBase64Encoded", None)
    if authorizer.payload_version == "2.0":
        return {
            "version": "2.0",
            "type": "REQUEST",
            "routeArn": arn,
            "identitySource": values,
            **{k: v for k, v in event.items() if k != "version"},
        }
    head: dict[str, object] = {"type": "REQUEST", "methodArn": arn}
    if route.api.kind != REST:
        head = {"version": "1.0", **head, "identitySource": ",".join(values)}
    return head | {k: v for k, v in event.items() if k != "version"}


def verdict(authorizer: Authorizer, route: Route, status: str, payload: bytes, arn: str) -> Verdict:
    """What API Gateway does with the authorizer's result (`status` as the engine reports it)."""
    http = route.api.kind != REST
    if status != "ok":
        try:
            error = json.loads(payload)
        except ValueError:
            error = {}
        if isinstance(error, dict) and error.get("errorMessage") == "Unauthorized":
            return Verdict(unauthorized())
        return Verdict(message(500, None if not http else "Internal Server Error"))
    try:
        answer = json.loads(payload)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        return Verdict(message(500, None if not http else "Internal Server Error"))
    raw_context = answer.get("context")
    context: dict[str, object] = raw_context if isinstance(raw_context, dict) else {}
    if http and authorizer.payload_version == "2.0" and authorizer.simple_responses:
        if answer.get("isAuthorized") is True:
            return Verdict(None, {"lambda": context})
        return Verdict(message(403, "Forbidden"))
    effect = _policy_effect(answer.get("policyDocument"), arn)
    if effect != "Allow":
        if http:
            return Verdict(message(403, "Forbidden"))
        text = "User is not authorized to access this resource"
        if effect == "Deny":
            text += " with an explicit deny"
        return Verdict(message(403, text, key="Message"))
    principal = answer.get("principalId")
    if http and route.payload_version == "2.0":
        return Verdict(None, {"lambda": context})
    return Verdict(None, {"principalId": principal, **context})


def _policy_effect(policy: object, arn: str) -> str | None:
    """ "Deny" when a statement denies `arn`, "Allow" when one allows it, else None."""
    if not isinstance(policy, dict):
        return None
    statements = policy.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list):
        return None
    allowed = False
    for statement in statements:
        if not isinstance(statement, dict):
            continue
        if not _any_matches(statement.get("Action"), "execute-api:Invoke"):
            continue
        if not _any_matches(statement.get("Resource"), arn):
            continue
        effect = str(statement.get("Effect", "")).capitalize()
        if effect == "Deny":
            return "Deny"
        allowed = allowed or effect == "Allow"
    return "Allow" if allowed else None


def _any_matches(patterns: object, value: str) -> bool:
    items = patterns if isinstance(patterns, list) else [patterns]
    return any(
        isinstance(p, str) and fnmatch.fnmatchcase(value, p.replace("[", "[[]")) for p in items
    )
