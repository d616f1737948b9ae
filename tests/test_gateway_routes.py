"""Routes, APIs, authorizers and function URLs read from templates; API Gateway's precedence."""

from __future__ import annotations

from pathlib import Path

import pytest

from samlink.errors import UsageError
from samlink.model.template import load_template
from samlink.runtime.gateway.routes import HTTP, REST, Gateway, read_gateway
from samlink.runtime.gateway.table import RouteTable, match_path

TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage:
    Type: String
    Default: dev
Globals:
  Function:
    Runtime: python3.12
    CodeUri: src/
    Handler: app.handler
  Api:
    BinaryMediaTypes: ["image~1png"]
    Cors: "'https://example.com'"
  HttpApi:
    CorsConfiguration:
      AllowOrigins: ["https://a.example"]
      AllowMethods: [GET, POST]
Resources:
  Users:
    Type: AWS::Serverless::Function
    Properties:
      FunctionUrlConfig:
        AuthType: AWS_IAM
      Events:
        List: {Type: Api, Properties: {Path: /users, Method: get}}
        One: {Type: Api, Properties: {Path: "/users/{id}", Method: any}}
        Mine:
          Type: Api
          Properties:
            Path: /mine
            Method: get
            RestApiId: !Ref Secured
            TimeoutInMillis: 1500
        Open:
          Type: Api
          Properties:
            Path: /open
            Method: get
            RestApiId: !Ref Secured
            Auth: {Authorizer: NONE}
  Items:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Get: {Type: HttpApi, Properties: {Path: "/items/{id}", Method: GET}}
        Old:
          Type: HttpApi
          Properties: {Path: /old, Method: POST, PayloadFormatVersion: "1.0", TimeoutInMillis: 5000}
        Fallback: {Type: HttpApi}
  Auth:
    Type: AWS::Serverless::Function
  Raw:
    Type: AWS::Lambda::Function
    Properties: {Runtime: python3.12, Handler: app.handler, Code: src/}
  Secured:
    Type: AWS::Serverless::Api
    Properties:
      StageName: !Ref Stage
      Variables: {color: blue}
      Auth:
        DefaultAuthorizer: TokenAuth
        Authorizers:
          TokenAuth:
            FunctionArn: !GetAtt Auth.Arn
            Identity: {Header: X-Token, ValidationExpression: "tok-.*"}
          ReqAuth:
            FunctionArn: !GetAtt Auth.Arn
            FunctionPayloadType: REQUEST
            Identity: {Headers: [X-A], QueryStrings: [q]}
          Pool:
            UserPoolArn: arn:aws:cognito-idp:us-east-1:123456789012:userpool/x
      DefinitionBody:
        openapi: "3.0.1"
        paths:
          /raw/{proxy+}:
            x-amazon-apigateway-any-method:
              security: [{ReqAuth: []}]
              x-amazon-apigateway-integration:
                type: aws_proxy
                httpMethod: POST
                uri: !Sub arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${Raw.Arn}/invocations
  Http:
    Type: AWS::Serverless::HttpApi
    Properties:
      StageName: v1
      DefinitionBody:
        openapi: "3.0.1"
        paths:
          /http-raw:
            post:
              x-amazon-apigateway-integration:
                type: aws_proxy
                payloadFormatVersion: "2.0"
                uri: !GetAtt Raw.Arn
"""  # noqa: E501


@pytest.fixture
def gateway(tmp_path: Path) -> Gateway:
    (tmp_path / "template.yaml").write_text(TEMPLATE)
    return read_gateway(load_template(tmp_path / "template.yaml"))


def _route(gateway: Gateway, method: str, path: str):  # type: ignore[no-untyped-def]
    return next(r for r in gateway.routes if (r.method, r.path) == (method, path))


def test_events_and_implicit_apis(gateway: Gateway) -> None:
    users = _route(gateway, "GET", "/users")
    assert (users.function_id, users.api.logical_id, users.api.kind) == (
        "Users",
        "ServerlessRestApi",
        REST,
    )
    assert users.api.stage == "Prod" and users.payload_version == "1.0"
    assert users.timeout_ms == 29_000 and users.authorizer is None
    assert users.api.binary_media_types == ("image/png",)  # Globals.Api, ~1 decoded
    assert users.api.cors is not None and users.api.cors.allow_origins == ("https://example.com",)
    assert _route(gateway, "ANY", "/users/{id}").function_id == "Users"

    item = _route(gateway, "GET", "/items/{id}")
    assert (item.api.logical_id, item.api.kind, item.api.stage) == (
        "ServerlessHttpApi",
        HTTP,
        "$default",
    )
    assert item.payload_version == "2.0" and item.key == "GET /items/{id}"
    assert item.api.cors is not None and item.api.cors.allow_methods == ("GET", "POST")
    old = _route(gateway, "POST", "/old")
    assert old.payload_version == "1.0" and old.timeout_ms == 5000
    fallback = _route(gateway, "ANY", "$default")
    assert fallback.key == "$default" and fallback.function_id == "Items"


def test_explicit_api_stage_auth_and_definition_body(gateway: Gateway) -> None:
    mine = _route(gateway, "GET", "/mine")
    assert mine.api.logical_id == "Secured" and mine.api.stage == "dev"
    assert mine.api.stage_variables == {"color": "blue"} and mine.timeout_ms == 1500
    assert mine.authorizer is not None and mine.authorizer.name == "TokenAuth"
    assert mine.authorizer.kind == "TOKEN" and mine.authorizer.token_header == "X-Token"
    assert mine.authorizer.validation == "tok-.*" and mine.authorizer.function_id == "Auth"
    assert _route(gateway, "GET", "/open").authorizer is None  # Authorizer: NONE

    raw = _route(gateway, "ANY", "/raw/{proxy+}")
    assert raw.function_id == "Raw" and raw.api.logical_id == "Secured"
    assert raw.authorizer is not None and raw.authorizer.kind == "REQUEST"
    assert raw.authorizer.identity_headers == ("X-A",)
    assert raw.authorizer.identity_queries == ("q",)

    http_raw = _route(gateway, "POST", "/http-raw")
    assert (http_raw.function_id, http_raw.api.stage, http_raw.payload_version) == (
        "Raw",
        "v1",
        "2.0",
    )
    assert any("Pool" in note and "Cognito" in note for note in gateway.notes)


def test_function_urls_and_overrides(tmp_path: Path) -> None:
    (tmp_path / "template.yaml").write_text(TEMPLATE)
    template = load_template(tmp_path / "template.yaml")
    gateway = read_gateway(template, {"Stage": "qa"})
    assert [(u.function_id, u.auth_type) for u in gateway.urls] == [("Users", "AWS_IAM")]
    assert _route(gateway, "GET", "/mine").api.stage == "qa"


@pytest.mark.parametrize(
    ("method", "path", "expected", "params"),
    [
        ("GET", "/users", "GET /users", {}),
        ("GET", "/users/", "GET /users", {}),
        ("GET", "/users/me", "GET /users/me", {}),  # exact beats a parameter
        ("GET", "/users/42", "ANY /users/{id}", {"id": "42"}),
        ("POST", "/users/42", "ANY /users/{id}", {"id": "42"}),
        ("DELETE", "/users/42", "DELETE /users/{id}", {"id": "42"}),  # method beats ANY
        ("GET", "/users/42/books/7", "GET /users/{id}/{proxy+}", {"id": "42", "proxy": "books/7"}),
        ("GET", "/files/a/b.txt", "ANY /{proxy+}", {"proxy": "files/a/b.txt"}),
    ],
)
def test_precedence(method: str, path: str, expected: str, params: dict[str, str]) -> None:
    from samlink.runtime.gateway.routes import Api, Route

    api = Api("A", REST, "Prod")
    routes = [
        Route(api, m, p, "F", "1.0", 29_000)
        for m, p in [
            ("GET", "/users"),
            ("GET", "/users/me"),
            ("ANY", "/users/{id}"),
            ("DELETE", "/users/{id}"),
            ("GET", "/users/{id}/{proxy+}"),
            ("ANY", "/{proxy+}"),
        ]
    ]
    found = RouteTable(routes).match(method, path)
    assert found is not None
    assert (f"{found.route.method} {found.route.path}", found.path_parameters) == (
        expected,
        params,
    )


def test_rest_resource_wins_before_method_http_looks_further() -> None:
    from samlink.runtime.gateway.routes import Api, Route

    rest, http = Api("R", REST, "Prod"), Api("H", HTTP, "$default")
    assert (
        RouteTable(
            [
                Route(rest, "POST", "/a/b", "F", "1.0", 1),
                Route(rest, "GET", "/a/{x}", "G", "1.0", 1),
            ]
        ).match("GET", "/a/b")
        is None
    )
    found = RouteTable(
        [Route(http, "POST", "/a/b", "F", "2.0", 1), Route(http, "GET", "/a/{x}", "G", "2.0", 1)]
    ).match("GET", "/a/b")
    assert found is not None and found.route.function_id == "G"
    fallback = RouteTable([Route(http, "ANY", "$default", "D", "2.0", 1)]).match("PUT", "/x/y")
    assert fallback is not None and fallback.route.function_id == "D"


def test_greedy_needs_a_segment() -> None:
    assert match_path("/{proxy+}", "/") is None
    assert match_path("/", "/") == {}
    assert match_path("/a/{id}", "/a/") is None


def test_rest_and_http_collision_names_both(tmp_path: Path) -> None:
    (tmp_path / "template.yaml").write_text(
        "Transform: AWS::Serverless-2016-10-31\n"
        "Resources:\n"
        "  A:\n"
        "    Type: AWS::Serverless::Function\n"
        "    Properties: {Runtime: python3.12, CodeUri: a/, Handler: app.h,\n"
        '      Events: {E: {Type: Api, Properties: {Path: "/x/{id}", Method: get}}}}\n'
        "  B:\n"
        "    Type: AWS::Serverless::Function\n"
        "    Properties: {Runtime: python3.12, CodeUri: b/, Handler: app.h,\n"
        '      Events: {E: {Type: HttpApi, Properties: {Path: "/x/{name}", Method: GET}}}}\n'
    )
    gateway = read_gateway(load_template(tmp_path / "template.yaml"))
    with pytest.raises(UsageError) as err:
        RouteTable(gateway.routes)
    assert "GET /x/{id} -> A (REST API ServerlessRestApi)" in err.value.message
    assert "GET /x/{name} -> B (HTTP API ServerlessHttpApi)" in err.value.message


def test_integration_uri_forms(tmp_path: Path) -> None:
    """Sub with a variable map, Join, and a function URL from Globals or AWS::Lambda::Url."""
    (tmp_path / "template.yaml").write_text(
        "Transform: AWS::Serverless-2016-10-31\n"
        "Globals:\n"
        "  Function: {Runtime: python3.12, CodeUri: a/, Handler: app.h,\n"
        "    FunctionUrlConfig: {AuthType: NONE, Cors: {AllowOrigins: ['*']}}}\n"
        "Resources:\n"
        "  A: {Type: AWS::Serverless::Function}\n"
        "  B: {Type: AWS::Lambda::Function, Properties: {Runtime: python3.12, Code: b/,\n"
        "      Handler: app.h}}\n"
        "  BUrl: {Type: AWS::Lambda::Url, Properties: {AuthType: AWS_IAM,\n"
        "      TargetFunctionArn: !GetAtt B.Arn}}\n"
        "  Api:\n"
        "    Type: AWS::Serverless::Api\n"
        "    Properties:\n"
        "      StageName: v1\n"
        "      DefinitionBody:\n"
        "        paths:\n"
        "          /sub:\n"
        "            get:\n"
        "              x-amazon-apigateway-integration:\n"
        "                uri: !Sub ['arn:aws:apigateway:${AWS::Region}:lambda:path/${F}',\n"
        "                           {F: !GetAtt B.Arn}]\n"
        "          /join:\n"
        "            get:\n"
        "              x-amazon-apigateway-integration:\n"
        "                uri: !Join ['', ['arn:aws:apigateway:', !GetAtt A.Arn, '/x']]\n"
        "          /elsewhere:\n"
        "            get:\n"
        "              x-amazon-apigateway-integration: {uri: 'https://example.com'}\n"
    )
    gateway = read_gateway(load_template(tmp_path / "template.yaml"))
    assert sorted((r.path, r.function_id, r.api.stage) for r in gateway.routes) == [
        ("/join", "A", "v1"),
        ("/sub", "B", "v1"),
    ]
    urls = {u.function_id: u for u in gateway.urls}
    assert urls["A"].auth_type == "NONE" and urls["A"].cors is not None
    assert urls["B"].auth_type == "AWS_IAM"
