"""The APIs, routes, authorizers and function URLs a template declares, read as SAM reads them."""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from samlink.model.template import (
    FUNCTION_TYPES,
    SERVERLESS_FUNCTION,
    Template,
    resolve_value,
    stack_parameters,
)

REST = "rest"
HTTP = "http"
DEFAULT_ROUTE = "$default"
IMPLICIT_REST_API = "ServerlessRestApi"
IMPLICIT_HTTP_API = "ServerlessHttpApi"
# API Gateway's integration timeouts: 29 s for REST, 30 s for HTTP APIs.
REST_TIMEOUT_MS = 29_000
HTTP_TIMEOUT_MS = 30_000
METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")
_ANY_METHOD = "x-amazon-apigateway-any-method"
_INTEGRATION = "x-amazon-apigateway-integration"


@dataclass(frozen=True)
class Cors:
    """A CORS configuration: REST `Cors`, HTTP API `CorsConfiguration`, function URL `Cors`."""

    allow_origins: tuple[str, ...]
    allow_methods: tuple[str, ...] | None  # None: the methods of the path (SAM's REST default)
    allow_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    max_age: int | None = None
    allow_credentials: bool = False


@dataclass(frozen=True)
class Authorizer:
    """A Lambda authorizer of an API."""

    name: str
    function_id: str
    kind: str  # "TOKEN" | "REQUEST"
    payload_version: str  # REST: "1.0"; HTTP API: "1.0" | "2.0"
    simple_responses: bool = False
    token_header: str = "Authorization"  # TOKEN: where the token is
    validation: str | None = None  # TOKEN: ValidationExpression
    identity_headers: tuple[str, ...] = ()
    identity_queries: tuple[str, ...] = ()


@dataclass(frozen=True)
class Api:
    """One REST or HTTP API: what every route of it shares."""

    logical_id: str
    kind: str  # REST | HTTP
    stage: str
    stage_variables: dict[str, str] = field(hash=False, default_factory=dict)
    binary_media_types: tuple[str, ...] = ()
    cors: Cors | None = None


@dataclass(frozen=True)
class Route:
    """METHOD PATH of an API and the function that serves it."""

    api: Api
    method: str  # upper case, or "ANY"
    path: str  # "/a/{b}", "/{proxy+}", or "$default"
    function_id: str
    payload_version: str  # "1.0" | "2.0"
    timeout_ms: int
    authorizer: Authorizer | None = None

    @property
    def key(self) -> str:
        """The HTTP API route key: `GET /a/{b}` or `$default`."""
        return DEFAULT_ROUTE if self.path == DEFAULT_ROUTE else f"{self.method} {self.path}"


@dataclass(frozen=True)
class FunctionUrl:
    """A function URL (`FunctionUrlConfig` or `AWS::Lambda::Url`)."""

    function_id: str
    auth_type: str  # "NONE" | "AWS_IAM"
    cors: Cors | None = None


@dataclass(frozen=True)
class Gateway:
    """Everything the template serves over HTTP, and what of it is not emulated."""

    routes: tuple[Route, ...]
    urls: tuple[FunctionUrl, ...]
    notes: tuple[str, ...] = ()


def read_gateway(template: Template, overrides: Mapping[str, str] | None = None) -> Gateway:
    """The routes and function URLs of `template` (parameters as `overrides` set them), and
    of its nested applications, as `sam local start-api` serves them all on one port: their
    functions and APIs by full ID (App/Child/Fn), their parameters as the parents pass them."""
    gateway = _Reader(template.document, {**template.parameters, **(overrides or {})}).read()
    # One child template used by two applications declares its routes twice; on one local port
    # the first application serves them (said once). Routes of different templates that meet
    # still collide (samlink.runtime.gateway.table).
    served: dict[tuple[object, str, str], str] = {}
    for path, stack in template.stacks.items():
        if not path:
            continue
        values: dict[str, str | None] = dict(stack_parameters(template, path, overrides))
        nested = _nested(_Reader(stack.document, values).read(), f"{path}/")
        routes: list[Route] = []
        notes = list(nested.notes)
        for route in nested.routes:
            first = served.setdefault((stack.template_path, route.method, route.path), path)
            if first == path:
                routes.append(route)
            else:
                notes.append(f"{path}: {route.key} is served by {first} (the same template)")
        gateway = Gateway(
            gateway.routes + tuple(routes),
            gateway.urls + nested.urls,
            tuple(dict.fromkeys(gateway.notes + tuple(notes))),
        )
    return gateway


def _nested(gateway: Gateway, prefix: str) -> Gateway:
    """A nested application's gateway with its APIs and functions named by full ID."""
    apis: dict[str, Api] = {}

    def api(item: Api) -> Api:
        return apis.setdefault(
            item.logical_id, dataclasses.replace(item, logical_id=prefix + item.logical_id)
        )

    def authorizer(item: Authorizer | None) -> Authorizer | None:
        if item is None:
            return None
        return dataclasses.replace(item, function_id=prefix + item.function_id)

    routes = tuple(
        dataclasses.replace(
            route,
            api=api(route.api),
            function_id=prefix + route.function_id,
            authorizer=authorizer(route.authorizer),
        )
        for route in gateway.routes
    )
    urls = tuple(
        dataclasses.replace(url, function_id=prefix + url.function_id) for url in gateway.urls
    )
    return Gateway(routes, urls, tuple(f"{prefix}{note}" for note in gateway.notes))


class _Reader:
    def __init__(self, doc: dict[str, Any], parameters: dict[str, str | None]) -> None:
        self.doc = doc
        self.resources: dict[str, Any] = _dict(self.doc.get("Resources"))
        self.parameters: dict[str, str | None] = parameters
        self.functions = {
            lid for lid, res in self.resources.items() if _dict(res).get("Type") in FUNCTION_TYPES
        }
        globals_ = _dict(self.doc.get("Globals"))
        self.globals_api = _dict(globals_.get("Api"))
        self.globals_http = _dict(globals_.get("HttpApi"))
        self.globals_function = _dict(globals_.get("Function"))
        self.apis: dict[str, tuple[Api, dict[str, Authorizer], str | None]] = {}
        self.notes: list[str] = []

    def resolve(self, value: object) -> object:
        return resolve_value(value, self.parameters)

    def read(self) -> Gateway:
        routes: list[Route] = []
        urls: list[FunctionUrl] = []
        for lid, res in self.resources.items():
            rtype = _dict(res).get("Type")
            props = _dict(_dict(res).get("Properties"))
            if rtype in ("AWS::Serverless::Api", "AWS::Serverless::HttpApi"):
                kind = REST if rtype == "AWS::Serverless::Api" else HTTP
                api, authorizers, default = self.api(lid, kind)
                routes += self.definition_routes(api, authorizers, default, props)
            elif rtype == SERVERLESS_FUNCTION:
                for name, event in _dict(props.get("Events")).items():
                    route = self.event_route(lid, str(name), _dict(event))
                    if route is not None:
                        routes.append(route)
                config = props.get(
                    "FunctionUrlConfig", self.globals_function.get("FunctionUrlConfig")
                )
                if isinstance(config, dict):
                    urls.append(self.function_url(lid, config))
            elif rtype == "AWS::Lambda::Url":
                target = self.function_of(props.get("TargetFunctionArn"))
                if target is not None and props.get("Qualifier") is None:
                    urls.append(self.function_url(target, props))
        return Gateway(tuple(routes), tuple(urls), tuple(dict.fromkeys(self.notes)))

    # --- APIs ------------------------------------------------------------------------------------

    def api(self, logical_id: str, kind: str) -> tuple[Api, dict[str, Authorizer], str | None]:
        """An API with Globals applied, its authorizers and default authorizer (cached)."""
        if logical_id in self.apis:
            return self.apis[logical_id]
        glob = self.globals_api if kind == REST else self.globals_http
        res = _dict(self.resources.get(logical_id))
        props = _merge(glob, _dict(res.get("Properties")))
        if kind == REST:
            stage = _text(self.resolve(props.get("StageName")), "Prod")
            variables = props.get("Variables")
            binary = tuple(
                str(t).replace("~1", "/")
                for t in _list(self.resolve(props.get("BinaryMediaTypes")))
                if isinstance(t, str)
            )
            cors = self.rest_cors(props.get("Cors"))
        else:
            stage = _text(self.resolve(props.get("StageName")), DEFAULT_ROUTE)
            variables = props.get("StageVariables")
            binary = ()
            cors = self.http_cors(props.get("CorsConfiguration"))
        stage_variables = {
            str(k): _text(self.resolve(v), "") for k, v in _dict(self.resolve(variables)).items()
        }
        api = Api(logical_id, kind, stage, stage_variables, binary, cors)
        auth = _dict(props.get("Auth"))
        authorizers: dict[str, Authorizer] = {}
        for name, spec in _dict(auth.get("Authorizers")).items():
            authorizer = self.authorizer(str(name), _dict(spec), kind)
            if authorizer is not None:
                authorizers[str(name)] = authorizer
        default = auth.get("DefaultAuthorizer")
        result = (api, authorizers, default if isinstance(default, str) else None)
        self.apis[logical_id] = result
        return result

    def authorizer(self, name: str, spec: dict[str, Any], kind: str) -> Authorizer | None:
        function_id = self.function_of(spec.get("FunctionArn"))
        if function_id is None:
            what = (
                "JWT" if "JwtConfiguration" in spec else "Cognito" if "UserPoolArn" in spec else ""
            )
            self.notes.append(
                f"authorizer {name} is not a Lambda authorizer of this template"
                + (f" ({what})" if what else "")
                + ": not enforced locally"
            )
            return None
        identity = _dict(spec.get("Identity"))
        headers = tuple(str(h) for h in _list(identity.get("Headers")))
        queries = tuple(str(q) for q in _list(identity.get("QueryStrings")))
        if kind == REST:
            payload_type = _text(spec.get("FunctionPayloadType"), "TOKEN").upper()
            return Authorizer(
                name,
                function_id,
                "REQUEST" if payload_type == "REQUEST" else "TOKEN",
                "1.0",
                token_header=_text(identity.get("Header"), "Authorization"),
                validation=_text(identity.get("ValidationExpression"), "") or None,
                identity_headers=headers,
                identity_queries=queries,
            )
        version = _text(spec.get("AuthorizerPayloadFormatVersion"), "2.0")
        return Authorizer(
            name,
            function_id,
            "REQUEST",
            "1.0" if version.startswith("1") else "2.0",
            simple_responses=spec.get("EnableSimpleResponses") is True,
            identity_headers=headers,
            identity_queries=queries,
        )

    def choose_authorizer(
        self,
        api: str,
        authorizers: dict[str, Authorizer],
        default: str | None,
        asked: object,
    ) -> Authorizer | None:
        name = asked if isinstance(asked, str) else default
        if name is None or name == "NONE":
            return None
        if name == "AWS_IAM":
            self.notes.append(f"{api}: AWS_IAM authorization is not enforced locally")
            return None
        return authorizers.get(name)

    def rest_cors(self, value: object) -> Cors | None:
        value = self.resolve(value)
        if isinstance(value, str):
            return Cors(allow_origins=_quoted_list(value), allow_methods=None)
        if not isinstance(value, dict):
            return None
        methods = value.get("AllowMethods")
        max_age = _quoted(value.get("MaxAge"))
        return Cors(
            allow_origins=_quoted_list(value.get("AllowOrigin")),
            allow_methods=None if methods is None else _quoted_list(methods),
            allow_headers=_quoted_list(value.get("AllowHeaders")),
            max_age=int(max_age) if max_age.isdigit() else None,
            allow_credentials=value.get("AllowCredentials") is True,
        )

    def http_cors(self, value: object) -> Cors | None:
        value = self.resolve(value)
        if value is True:
            return Cors(allow_origins=("*",), allow_methods=())
        if not isinstance(value, dict):
            return None
        return _cors_object(value)

    # --- routes ----------------------------------------------------------------------------------

    def event_route(self, function_id: str, name: str, event: dict[str, Any]) -> Route | None:
        etype = event.get("Type")
        props = _dict(event.get("Properties"))
        if etype == "Api":
            api_id = _ref(props.get("RestApiId")) or IMPLICIT_REST_API
            api, authorizers, default = self.api(api_id, REST)
            path = _path(self.resolve(props.get("Path")))
            method = _method(self.resolve(props.get("Method")))
            if path is None or method is None:
                self.notes.append(f"{function_id} event {name}: Path or Method cannot be resolved")
                return None
            return Route(
                api,
                method,
                path,
                function_id,
                "1.0",
                _int(self.resolve(props.get("TimeoutInMillis")), REST_TIMEOUT_MS),
                self.choose_authorizer(
                    api_id, authorizers, default, _dict(props.get("Auth")).get("Authorizer")
                ),
            )
        if etype == "HttpApi":
            api_id = _ref(props.get("ApiId")) or IMPLICIT_HTTP_API
            api, authorizers, default = self.api(api_id, HTTP)
            raw_path = self.resolve(props.get("Path"))
            if raw_path is None and props.get("Method") is None:
                path, method = DEFAULT_ROUTE, "ANY"
            else:
                path = _path(raw_path) if raw_path is not None else None
                method = _method(self.resolve(props.get("Method", "ANY")))
            if path is None or method is None:
                self.notes.append(f"{function_id} event {name}: Path or Method cannot be resolved")
                return None
            version = _text(self.resolve(props.get("PayloadFormatVersion")), "2.0")
            return Route(
                api,
                method,
                path,
                function_id,
                "1.0" if version.startswith("1") else "2.0",
                _int(self.resolve(props.get("TimeoutInMillis")), HTTP_TIMEOUT_MS),
                self.choose_authorizer(
                    api_id, authorizers, default, _dict(props.get("Auth")).get("Authorizer")
                ),
            )
        return None

    def definition_routes(
        self,
        api: Api,
        authorizers: dict[str, Authorizer],
        default: str | None,
        props: dict[str, Any],
    ) -> list[Route]:
        body = props.get("DefinitionBody")
        if body is None:
            if props.get("DefinitionUri") is not None:
                self.notes.append(
                    f"{api.logical_id}: routes in DefinitionUri files are not read (inline "
                    "DefinitionBody and events are)"
                )
            return []
        routes: list[Route] = []
        for raw_path, operations in _dict(_dict(body).get("paths")).items():
            path = DEFAULT_ROUTE if raw_path == DEFAULT_ROUTE else _path(raw_path)
            if path is None:
                continue
            for raw_method, operation in _dict(operations).items():
                method = "ANY" if raw_method == _ANY_METHOD else raw_method.upper()
                if method not in (*METHODS, "ANY"):
                    continue
                integration = _dict(_dict(operation).get(_INTEGRATION))
                function_id = self.function_of(integration.get("uri"))
                if function_id is None:
                    continue
                default_version = "1.0" if api.kind == REST else "2.0"
                version = _text(integration.get("payloadFormatVersion"), default_version)
                default_timeout = REST_TIMEOUT_MS if api.kind == REST else HTTP_TIMEOUT_MS
                asked = None
                for requirement in _list(_dict(operation).get("security")):
                    for name in _dict(requirement):
                        asked = asked or name
                routes.append(
                    Route(
                        api,
                        method,
                        path,
                        function_id,
                        "1.0" if api.kind == REST or version.startswith("1") else "2.0",
                        _int(integration.get("timeoutInMillis"), default_timeout),
                        self.choose_authorizer(api.logical_id, authorizers, default, asked),
                    )
                )
        return routes

    def function_url(self, function_id: str, config: dict[str, Any]) -> FunctionUrl:
        auth = _text(self.resolve(config.get("AuthType")), "NONE").upper()
        cors = config.get("Cors")
        return FunctionUrl(
            function_id,
            "AWS_IAM" if auth == "AWS_IAM" else "NONE",
            _cors_object(_dict(self.resolve(cors))) if isinstance(cors, dict) else None,
        )

    def function_of(self, value: object) -> str | None:
        """The template function an ARN expression names (Ref, GetAtt, Sub, Join), or None."""
        if isinstance(value, str):
            return value if value in self.functions else None
        if isinstance(value, list):
            return next((f for f in map(self.function_of, value) if f), None)
        if not isinstance(value, dict) or len(value) != 1:
            return None
        ((key, arg),) = value.items()
        if key == "Ref" and arg in self.functions:
            return str(arg)
        if key == "Fn::GetAtt":
            target = arg[0] if isinstance(arg, list) and arg else str(arg).split(".")[0]
            return str(target) if target in self.functions else None
        if key == "Fn::Sub":
            text = arg[0] if isinstance(arg, list) and arg else arg
            variables = arg[1] if isinstance(arg, list) and len(arg) > 1 else {}
            for name, variable in _dict(variables).items():
                if isinstance(text, str) and "${" + str(name) in text:
                    found = self.function_of(variable)
                    if found:
                        return found
            if isinstance(text, str):
                for name in re.findall(r"\$\{([^}!.]+)(?:\.Arn)?\}", text):
                    if name.strip() in self.functions:
                        return str(name.strip())
            return None
        if key == "Fn::Join" and isinstance(arg, list) and len(arg) == 2:
            return self.function_of(arg[1])
        return None


# --- small readers -------------------------------------------------------------------------------


def _cors_object(value: dict[str, Any]) -> Cors:
    max_age = value.get("MaxAge")
    return Cors(
        allow_origins=_str_list(value.get("AllowOrigins")),
        allow_methods=tuple(m.upper() for m in _str_list(value.get("AllowMethods"))),
        allow_headers=_str_list(value.get("AllowHeaders")),
        expose_headers=_str_list(value.get("ExposeHeaders")),
        max_age=_int(max_age, 0) if max_age is not None else None,
        allow_credentials=value.get("AllowCredentials") is True,
    )


def _merge(glob: dict[str, Any], props: dict[str, Any]) -> dict[str, Any]:
    """SAM's Globals merge for one level of properties: dicts merge (local wins)."""
    merged = copy.deepcopy(glob)
    for key, value in props.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def _path(value: object) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    path = "/" + value.strip().strip("/")
    return path


def _method(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    method = value.strip().upper()
    return "ANY" if method in ("ANY", "*", _ANY_METHOD.upper()) else method


def _ref(value: object) -> str | None:
    if isinstance(value, dict) and isinstance(value.get("Ref"), str):
        return str(value["Ref"])
    return value if isinstance(value, str) else None


def _quoted(value: object) -> str:
    """A REST CORS value: a header value in single quotes ("'*'")."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        return ""
    text = value.strip()
    if len(text) >= 2 and text[0] == text[-1] == "'":
        text = text[1:-1]
    return text


def _quoted_list(value: object) -> tuple[str, ...]:
    return tuple(part.strip() for part in _quoted(value).split(",") if part.strip())


def _str_list(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in _list(value) if isinstance(v, str | int))


def _text(value: object, default: str) -> str:
    if isinstance(value, bool):
        return default
    return str(value) if isinstance(value, str | int | float) else default


def _int(value: object, default: int) -> int:
    if isinstance(value, bool):
        return default
    try:
        return int(value) if isinstance(value, int | float | str) else default
    except ValueError:
        return default


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
