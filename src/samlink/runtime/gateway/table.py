"""Which route serves a request: API Gateway's precedence, and routes that would collide."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from samlink.errors import UsageError
from samlink.runtime.gateway.routes import DEFAULT_ROUTE, REST, Route

_LITERAL, _PARAM, _GREEDY, _DEFAULT = 0, 1, 2, 3
_SEGMENT = re.compile(r"\{([^{}+]+)(\+?)\}")


@dataclass(frozen=True)
class Match:
    """A route and the path parameters the request gave it."""

    route: Route
    path_parameters: dict[str, str] = field(hash=False)


def describe(route: Route) -> str:
    kind = "REST API" if route.api.kind == REST else "HTTP API"
    where = f"{route.method} {route.path}" if route.path != DEFAULT_ROUTE else DEFAULT_ROUTE
    return f"{where} -> {route.function_id} ({kind} {route.api.logical_id})"


class RouteTable:
    """All routes served on one port; built once per template read."""

    def __init__(self, routes: Iterable[Route]) -> None:
        self.routes = tuple(routes)
        seen: dict[tuple[str, str], Route] = {}
        for route in self.routes:
            key = (route.method, _shape(route.path))
            if key in seen:
                raise UsageError(
                    f"two routes collide: {describe(seen[key])} and {describe(route)}",
                    "one port serves every API of the template (as with sam local start-api): "
                    "change the path or method of one of them",
                )
            seen[key] = route
        self._ordered = sorted(self.routes, key=lambda r: _specificity(r.path))

    def match(self, method: str, path: str) -> Match | None:
        """The route API Gateway would choose: most specific path (exact, then parameters,
        then greedy), then the method over ANY. A REST resource that matches the path but not the
        method ends the search (REST resolves the resource first); HTTP APIs look further."""
        method = method.upper()
        groups: dict[str, list[tuple[Route, dict[str, str]]]] = {}
        for route in self._ordered:
            params = match_path(route.path, path)
            if params is not None:
                groups.setdefault(route.path, []).append((route, params))
        for candidates in groups.values():
            for wanted in (method, "ANY"):
                for route, params in candidates:
                    if route.method == wanted:
                        return Match(route, params)
            if all(route.api.kind == REST for route, _ in candidates):
                return None
        return None

    def at_path(self, path: str) -> list[Route]:
        """Every route whose path matches `path` (for CORS preflights and error answers)."""
        return [r for r in self._ordered if match_path(r.path, path) is not None]


def match_path(template: str, path: str) -> dict[str, str] | None:
    """The path parameters when `path` matches the route path `template`, else None."""
    if template == DEFAULT_ROUTE:
        return {}
    want = [s for s in template.split("/") if s]
    have = path.split("/")[1:] if path.startswith("/") else path.split("/")
    if have == [""]:
        have = []
    params: dict[str, str] = {}
    for index, segment in enumerate(want):
        found = _SEGMENT.fullmatch(segment)
        if found and found.group(2):  # greedy: one or more of the remaining segments
            rest = have[index:]
            if not rest or rest == [""]:
                return None
            params[found.group(1)] = "/".join(rest)
            return params
        if index >= len(have):
            return None
        if found:
            if not have[index]:
                return None
            params[found.group(1)] = have[index]
        elif segment != have[index]:
            return None
    # A trailing slash is the same resource to API Gateway.
    if len(have) != len(want) and not (len(have) == len(want) + 1 and have[-1] == ""):
        return None
    return params


def _shape(path: str) -> str:
    return _SEGMENT.sub(lambda m: "{+}" if m.group(2) else "{}", path)


def _specificity(path: str) -> tuple[int, ...]:
    if path == DEFAULT_ROUTE:
        return (_DEFAULT,)
    kinds = []
    for segment in (s for s in path.split("/") if s):
        found = _SEGMENT.fullmatch(segment)
        kinds.append(_LITERAL if not found else _GREEDY if found.group(2) else _PARAM)
    return tuple(kinds)
