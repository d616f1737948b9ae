"""The template model and the round-trip makefile edit, on real template files."""

from __future__ import annotations

import difflib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from samlink.errors import UsageError
from samlink.model.template import (
    Resource,
    Template,
    add_makefile_build,
    load_template,
    resolve_value,
)

FIXTURES = Path(__file__).parent / "fixtures" / "templates"
SAM_APP = FIXTURES / "sam-app.yaml"
CFN_JSON = FIXTURES / "cfn.json"
CRLF = FIXTURES / "crlf.yaml"


@pytest.fixture(scope="module")
def app() -> Template:
    return load_template(SAM_APP)


def _copy(src: Path, tmp_path: Path) -> Path:
    dest = tmp_path / src.name
    shutil.copyfile(src, dest)
    return dest


def _write(tmp_path: Path, text: str, name: str = "template.yaml") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode())
    return path


def _changes(old: str, new: str) -> tuple[list[str], list[str]]:
    """Lines removed and lines added between two texts, line endings included."""
    diff = list(difflib.ndiff(old.splitlines(keepends=True), new.splitlines(keepends=True)))
    removed = [line[2:] for line in diff if line.startswith("- ")]
    added = [line[2:] for line in diff if line.startswith("+ ")]
    return removed, added


def _plain_types(value: object) -> bool:
    if isinstance(value, dict):
        return type(value) is dict and all(
            type(k) is str and _plain_types(v) for k, v in value.items()
        )
    if isinstance(value, list):
        return type(value) is list and all(_plain_types(item) for item in value)
    return type(value) in (str, int, float, bool, type(None))


# --- the model -----------------------------------------------------------------------------------


def test_resources_are_functions_and_layers_in_template_order(app: Template) -> None:
    assert list(app.resources) == [
        "HelloWorldFunction",
        "ParamRuntimeFunction",
        "MappedRuntimeFunction",
        "ArmFunction",
        "NodeFunction",
        "ImageFunction",
        "InlineFunction",
        "S3Function",
        "MakefileFunction",
        "PipBuiltFunction",
        "FlowMetadataFunction",
        "DepsLayer",
        "CommonLayer",
        "S3Layer",
        "PlainLambdaFunction",
    ]
    assert app.format == "yaml"
    assert app.path == SAM_APP.resolve()
    assert {r.kind for r in app.resources.values() if r.logical_id.endswith("Layer")} == {"layer"}


@pytest.mark.parametrize(
    ("logical_id", "reason"),
    [
        ("HelloWorldFunction", ""),
        ("ParamRuntimeFunction", ""),
        ("MappedRuntimeFunction", "Runtime cannot be resolved"),
        ("ArmFunction", ""),
        ("NodeFunction", "runtime nodejs20.x is not Python"),
        ("ImageFunction", "Image package type"),
        ("InlineFunction", "inline code"),
        ("S3Function", "code in S3"),
        ("MakefileFunction", ""),
        ("PipBuiltFunction", ""),
        ("FlowMetadataFunction", ""),
        ("DepsLayer", ""),
        ("CommonLayer", ""),
        ("S3Layer", "code in S3"),
        ("PlainLambdaFunction", ""),
    ],
)
def test_managed_and_reasons(app: Template, logical_id: str, reason: str) -> None:
    resource = app.get(logical_id)
    assert resource.reason == reason
    assert resource.managed is (reason == "")


def test_managed_lists_only_managed_in_order(app: Template) -> None:
    managed = [r.logical_id for r in app.managed()]
    assert managed == [r.logical_id for r in app.resources.values() if r.managed]
    assert "NodeFunction" not in managed and "HelloWorldFunction" in managed


def test_globals_are_inherited_as_sam_merges_them(app: Template) -> None:
    hello = app.get("HelloWorldFunction")
    assert hello.runtime == "python3.12"
    assert hello.handler == "app.lambda_handler"
    assert hello.timeout == 10
    assert hello.memory_size == 512  # Globals' `!Ref MemoryParam`, resolved from its Default
    # Globals' layers first, then the function's; template layers by logical ID.
    assert hello.layers == (
        "CommonLayer",
        "DepsLayer",
        "arn:aws:lambda:us-east-1:123456789012:layer:shared:3",
        "arn:aws:lambda:us-east-1:017000801446:layer:AWSLambdaPowertoolsPythonV2:68",
    )
    assert hello.environment["LOG_LEVEL"] == "DEBUG"  # the function's own value wins
    assert hello.environment["STAGE"] == {"Ref": "Stage"}  # from Globals, left unresolved

    param = app.get("ParamRuntimeFunction")
    assert param.runtime == "python3.12"  # `!Ref PythonRuntime`, not the Globals' value
    assert param.timeout == 30
    assert param.environment == {"STAGE": "override", "LOG_LEVEL": "INFO"}


def test_plain_cloudformation_functions_ignore_globals(app: Template) -> None:
    plain = app.get("PlainLambdaFunction")
    assert plain.type == "AWS::Lambda::Function"
    assert plain.runtime == "python3.10"
    assert plain.timeout == 3 and plain.memory_size == 128
    assert plain.layers == ("CommonLayer",)
    assert plain.environment == {}
    assert plain.code_dir == SAM_APP.parent.resolve() / "src"


def test_code_dirs_are_absolute_and_relative_to_the_template(app: Template) -> None:
    base = SAM_APP.parent.resolve()
    assert app.get("HelloWorldFunction").code_dir == base / "hello_world"
    assert app.get("ParamRuntimeFunction").code_dir == base / "param_fn"
    assert app.get("CommonLayer").code_dir == base / "layers" / "common"
    for logical_id in ("ImageFunction", "InlineFunction", "S3Function", "S3Layer"):
        assert app.get(logical_id).code_dir is None


def test_architectures(app: Template) -> None:
    assert app.get("ArmFunction").architecture == "arm64"
    assert app.get("HelloWorldFunction").architecture == "x86_64"
    assert app.get("DepsLayer").architecture == "arm64"  # CompatibleArchitectures[0]
    assert app.get("CommonLayer").architecture == "x86_64"


def test_layers(app: Template) -> None:
    deps = app.get("DepsLayer")
    assert (deps.kind, deps.runtime, deps.build_method) == ("layer", "python3.11", "python3.12")
    assert deps.layers == () and deps.handler is None
    common = app.get("CommonLayer")
    assert (common.type, common.runtime) == ("AWS::Lambda::LayerVersion", "python3.13")


def test_build_method_and_lines(app: Template) -> None:
    assert app.get("MakefileFunction").build_method == "makefile"
    assert app.get("PipBuiltFunction").build_method == "python3.12"
    assert app.get("HelloWorldFunction").build_method is None
    lines = SAM_APP.read_text().splitlines()
    for resource in app.resources.values():
        assert resource.line is not None
        assert lines[resource.line - 1].strip() == f"{resource.logical_id}:"


def test_parameters_are_defaults_as_strings(app: Template) -> None:
    assert app.parameters == {
        "PythonRuntime": "python3.12",
        "Stage": "dev",
        "SharedLayerArn": "arn:aws:lambda:us-east-1:123456789012:layer:shared:3",
        "MemoryParam": "512",
        "NoDefault": None,
    }


def test_short_form_tags_become_long_form_plain_values(app: Template) -> None:
    env = app.get("HelloWorldFunction").environment
    assert env == {
        "STAGE": {"Ref": "Stage"},
        "LOG_LEVEL": "DEBUG",
        "TABLE": {"Fn::Sub": "${Stage}-table"},
        "BUCKET": {"Fn::ImportValue": "shared-bucket"},
        "REGION_ARN": {
            "Fn::Join": [":", ["arn", {"Ref": "AWS::Partition"}, {"Ref": "AWS::Region"}]]
        },
        "FIRST_AZ": {"Fn::Select": [0, {"Fn::GetAZs": ""}]},
        "ENCODED": {"Fn::Base64": "hello"},
        "PART": {"Fn::Select": [1, {"Fn::Split": [",", "a,b,c"]}]},
        "MAPPED": {"Fn::FindInMap": ["RuntimeMap", {"Ref": "Stage"}, "Runtime"]},
        "MAYBE": {"Fn::If": ["IsProd", "yes", "no"]},
        "TABLE_ARN": {"Fn::GetAtt": ["DataTable", "Arn"]},
        "COUNT": 3,
    }
    for resource in app.resources.values():
        assert _plain_types(resource.environment)


def test_environment_values_resolve(app: Template) -> None:
    env = app.get("HelloWorldFunction").environment
    params = {k: v for k, v in app.parameters.items() if v is not None}
    resolved = {k: resolve_value(v, params, region="eu-west-1") for k, v in env.items()}
    assert resolved["STAGE"] == "dev"
    assert resolved["TABLE"] == "dev-table"
    assert resolved["REGION_ARN"] == "arn:aws:eu-west-1"
    assert resolved["MAPPED"] == env["MAPPED"]  # FindInMap is left as it is
    assert resolved["MAYBE"] == env["MAYBE"]


def test_json_template(tmp_path: Path) -> None:
    template = load_template(CFN_JSON)
    assert template.format == "json"
    api = template.get("ApiFunction")
    assert api.runtime == "python3.13"  # {"Ref": "PythonRuntime"}
    assert api.timeout == 20
    assert api.environment == {"A": "global", "B": "own", "C": {"Fn::Sub": "${AWS::Region}-c"}}
    assert api.layers == ("LibLayer",)
    assert api.code_dir == CFN_JSON.parent.resolve() / "api"
    worker = template.get("WorkerFunction")
    assert (worker.architecture, worker.build_method) == ("arm64", "python3.12")
    assert worker.code_dir == CFN_JSON.parent.resolve() / "worker"
    lib = template.get("LibLayer")
    assert (lib.kind, lib.architecture, lib.managed) == ("layer", "arm64", True)
    lines = CFN_JSON.read_text().splitlines()
    assert api.line is not None and '"ApiFunction"' in lines[api.line - 1]


def test_runtime_parameter_without_default_is_not_resolved(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "Parameters:\n  Rt:\n    Type: String\n"
        "Resources:\n  F:\n    Type: AWS::Serverless::Function\n"
        "    Properties: {CodeUri: f/, Handler: a.b, Runtime: !Ref Rt}\n"
        "  G:\n    Type: AWS::Serverless::Function\n"
        "    Properties:\n      CodeUri: g/\n      Handler: a.b\n"
        "      Runtime: !If [C, python3.12, python3.11]\n"
        "  H:\n    Type: AWS::Serverless::Function\n"
        "    Properties: {CodeUri: h/, Handler: a.b, Runtime: python3.8}\n"
        "  L:\n    Type: AWS::Serverless::LayerVersion\n"
        "    Properties: {ContentUri: l/, CompatibleRuntimes: [nodejs20.x]}\n",
    )
    template = load_template(path)
    assert template.get("F").reason == "Runtime cannot be resolved"
    assert template.get("F").runtime is None
    assert template.get("G").reason == "Runtime cannot be resolved"
    assert template.get("H").reason.startswith("runtime python3.8 is not supported")
    assert template.get("L").reason == "no Python runtime in CompatibleRuntimes"
    assert template.managed() == []


def test_codeuri_defaults_to_the_template_folder(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "Resources:\n  F:\n    Type: AWS::Serverless::Function\n"
        "    Properties: {Handler: a.b, Runtime: python3.14}\n",
    )
    assert load_template(path).get("F").code_dir == tmp_path.resolve()


def test_layer_build_architecture_wins(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "Resources:\n  L:\n    Type: AWS::Serverless::LayerVersion\n"
        "    Properties: {ContentUri: l/, CompatibleRuntimes: [python3.9],"
        " CompatibleArchitectures: [x86_64]}\n"
        "    Metadata: {BuildMethod: makefile, BuildArchitecture: arm64}\n",
    )
    assert load_template(path).get("L").architecture == "arm64"


# --- resolve_value -------------------------------------------------------------------------------


PARAMS = {"Stage": "dev", "Rt": "python3.12", "Empty": None}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"Ref": "Rt"}, "python3.12"),
        ({"Ref": "AWS::Region"}, "us-east-1"),
        ({"Ref": "AWS::AccountId"}, "123456789012"),
        ({"Ref": "AWS::Partition"}, "aws"),
        ({"Ref": "AWS::StackName"}, "local"),
        ({"Fn::Sub": "${Stage}-${AWS::Region}"}, "dev-us-east-1"),
        ({"Fn::Sub": "${!Literal}-${Stage}"}, "${Literal}-dev"),
        ({"Fn::Sub": ["${A}/${Stage}", {"A": {"Ref": "Rt"}}]}, "python3.12/dev"),
        ({"Fn::Join": ["-", ["a", {"Ref": "Stage"}, 3]]}, "a-dev-3"),
        ("plain", "plain"),
        (7, 7),
        ({"Key": {"Ref": "Stage"}}, {"Key": "dev"}),
        ([{"Ref": "Stage"}, "x"], ["dev", "x"]),
    ],
)
def test_resolve_value(value: object, expected: object) -> None:
    assert resolve_value(value, PARAMS) == expected


@pytest.mark.parametrize(
    "value",
    [
        {"Ref": "Unknown"},
        {"Ref": "Empty"},
        {"Ref": "SomeResource"},
        {"Fn::Sub": "${Table.Arn}"},
        {"Fn::Sub": "${Stage}-${Nope}"},
        {"Fn::Join": ["-", ["a", {"Ref": "Nope"}]]},
        {"Fn::If": ["IsProd", "a", "b"]},
        {"Fn::FindInMap": ["M", "k", "v"]},
        {"Fn::GetAtt": ["Table", "Arn"]},
    ],
)
def test_resolve_value_leaves_what_it_cannot_resolve(value: object) -> None:
    assert resolve_value(value, PARAMS) == value


def test_resolve_value_pseudo_parameters_follow_the_region() -> None:
    assert resolve_value({"Ref": "AWS::Region"}, {}, region="eu-west-1") == "eu-west-1"
    assert resolve_value({"Ref": "AWS::Partition"}, {}, region="cn-north-1") == "aws-cn"
    assert resolve_value({"Ref": "AWS::Partition"}, {}, region="us-gov-west-1") == "aws-us-gov"


# --- get / select --------------------------------------------------------------------------------


def test_unknown_id_is_a_usage_error_listing_known_ids(app: Template) -> None:
    with pytest.raises(UsageError) as err:
        app.get("HelloWorldFunc")
    assert err.value.exit_code == 2
    assert "sam-app.yaml" in err.value.message and "HelloWorldFunc" in err.value.message
    assert "did you mean HelloWorldFunction?" in err.value.hint
    assert "ArmFunction" in err.value.hint


def test_select(app: Template) -> None:
    assert app.select([]) == app.managed()
    chosen = app.select(["ArmFunction", "CommonLayer", "ArmFunction"])
    assert [r.logical_id for r in chosen] == ["ArmFunction", "CommonLayer"]
    assert all(isinstance(r, Resource) for r in chosen)


def test_select_unmanaged_names_its_reason(app: Template) -> None:
    with pytest.raises(UsageError) as err:
        app.select(["HelloWorldFunction", "NodeFunction"])
    assert "NodeFunction" in err.value.message
    assert "runtime nodejs20.x is not Python" in err.value.message
    assert "HelloWorldFunction" in err.value.hint


def test_add_makefile_build_rejects_unknown_and_unmanaged_ids() -> None:
    with pytest.raises(UsageError):
        add_makefile_build(SAM_APP, ["Nope"])
    with pytest.raises(UsageError, match="Image package type"):
        add_makefile_build(SAM_APP, ["ImageFunction"])


# --- parse errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("Resources:\n  F:\n    Type: x\n   Properties: y\n", 4),
        ("Resources:\n  F: [a, b\n  G: c\n", 3),
        ("Resources:\n  F: {}\n  F: {}\n", 3),
    ],
)
def test_yaml_parse_errors_name_the_line(tmp_path: Path, text: str, line: int) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(UsageError) as err:
        load_template(path)
    assert err.value.message.startswith(f"{path}:{line}: ")
    assert err.value.hint


def test_json_parse_errors_name_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path, '{\n  "Resources": {\n    "F": {,}\n  }\n}\n', "template.json")
    with pytest.raises(UsageError) as err:
        load_template(path)
    assert err.value.message.startswith(f"{path}:3: ")


def test_missing_and_non_templates(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such template"):
        load_template(tmp_path / "template.yaml")
    with pytest.raises(UsageError, match="no Resources"):
        load_template(_write(tmp_path, "a: 1\n"))
    with pytest.raises(UsageError, match="no Resources"):
        load_template(_write(tmp_path, ""))


# --- add_makefile_build: round trip -------------------------------------------------------------


def test_yaml_edit_only_adds_lines(tmp_path: Path) -> None:
    old, new = add_makefile_build(SAM_APP, [])
    assert old == SAM_APP.read_text()
    removed, added = _changes(old, new)
    # The only lines that change: existing BuildMethods, and the one flow-style Metadata,
    # rewritten to block style (its trailing comment kept).
    assert removed == [
        '      BuildMethod: "python3.12"  # SAM\'s default builder\n',
        "    Metadata: {SamResourceId: FlowMetadata, \"Comment\": 'kept as written'}"
        "  # flow style\n",
        "      BuildMethod: python3.12\n",
    ]
    assert "      BuildMethod: makefile  # SAM's default builder\n" in added
    assert "    Metadata:  # flow style\n" in added
    assert "      \"Comment\": 'kept as written'\n" in added
    assert added.count("    Metadata:\n") == 5
    assert added.count("      BuildArchitecture: arm64\n") == 1
    # Every tag and comment line of the original is still there, unchanged.
    for line in old.splitlines(keepends=True):
        if ("!" in line or "#" in line) and line not in removed:
            assert line in new.splitlines(keepends=True)


def test_yaml_edit_means_what_it_should(tmp_path: Path) -> None:
    old, new = add_makefile_build(SAM_APP, [])
    path = _write(tmp_path, new)
    before, after = load_template(SAM_APP), load_template(path)
    moved = {"build_method": None, "line": None, "code_dir": None, "template_path": None}
    for logical_id, resource in after.resources.items():
        was = before.get(logical_id)
        if was.managed:
            assert resource.build_method == "makefile"
            # Nothing else in the model moved.
            assert resource.__dict__ | moved == was.__dict__ | moved
            assert resource.code_dir and was.code_dir
            assert resource.code_dir.relative_to(tmp_path) == was.code_dir.relative_to(FIXTURES)
        else:
            assert resource.build_method == was.build_method
    doc = YAML(typ="rt").load(new)
    metadata = doc["Resources"]["DepsLayer"]["Metadata"]
    assert dict(metadata) == {"BuildMethod": "makefile", "BuildArchitecture": "arm64"}
    assert dict(doc["Resources"]["ArmFunction"]["Metadata"]) == {"BuildMethod": "makefile"}
    assert (
        doc["Resources"]["MakefileFunction"]
        == YAML(typ="rt").load(old)["Resources"]["MakefileFunction"]
    )
    # New keys sit in the resource, at its indentation, after its own trailing comments.
    assert "      #     Type: Schedule\n    Metadata:\n      BuildMethod: makefile\n\n" in new
    assert "        Runs on Graviton.\n    Metadata:\n      BuildMethod: makefile\n\n" in new


def test_yaml_edit_is_idempotent(tmp_path: Path) -> None:
    _, new = add_makefile_build(SAM_APP, [])
    path = _write(tmp_path, new)
    again_old, again_new = add_makefile_build(path, [])
    assert again_old == again_new == new


def test_yaml_edit_of_named_ids_only(tmp_path: Path) -> None:
    old, new = add_makefile_build(SAM_APP, ["ArmFunction"])
    removed, added = _changes(old, new)
    assert removed == []
    assert added == ["    Metadata:\n", "      BuildMethod: makefile\n"]
    assert load_template(_write(tmp_path, new)).get("ArmFunction").build_method == "makefile"


def test_already_makefile_is_left_alone() -> None:
    old, new = add_makefile_build(SAM_APP, ["MakefileFunction"])
    assert old == new


def test_json_edit_only_adds_lines(tmp_path: Path) -> None:
    old, new = add_makefile_build(CFN_JSON, [])
    removed, added = _changes(old, new)
    assert removed == ['        "BuildMethod": "python3.12"\n']
    # A member after the last one: its closing brace gains a comma (seen as a new line).
    assert added.count("      },\n") == 2
    assert '        "BuildMethod": "makefile"\n' in added
    assert '        "BuildArchitecture": "arm64"\n' in added
    assert "caf\\u00e9" in new  # escapes and inline objects are kept as written
    assert '"Environment": {"Variables": {"A": "global", "B": "global"}}' in new
    path = _write(tmp_path, new, "template.json")
    after = load_template(path)
    assert all(r.build_method == "makefile" for r in after.managed())
    assert after.get("LibLayer").architecture == "arm64"
    assert add_makefile_build(path, []) == (new, new)


def test_crlf_stays_crlf(tmp_path: Path) -> None:
    raw = CRLF.read_bytes()
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")  # the fixture is CRLF
    old, new = add_makefile_build(CRLF, [])
    assert old == raw.decode()
    assert "\n" not in new.replace("\r\n", "")
    removed, added = _changes(old, new)
    assert removed == []
    assert added == [
        "    Metadata:\r\n",
        "      BuildMethod: makefile\r\n",
        "    Metadata:\r\n",
        "      BuildMethod: makefile\r\n",
        "      BuildArchitecture: arm64\r\n",
    ]
    path = tmp_path / "crlf.yaml"
    path.write_bytes(new.encode())
    assert add_makefile_build(path, []) == (new, new)


@pytest.mark.parametrize(
    "text",
    [
        # a whole resource in flow style, with a trailing comma
        "Resources:\n  F: {Type: AWS::Serverless::Function, Properties: {CodeUri: a/,"
        " Handler: h.h, Runtime: python3.12},  }\n",
        # an empty `Metadata:` keeping its comment
        "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Metadata:   # later\n"
        "    Properties: {CodeUri: a/, Handler: h.h, Runtime: python3.12}\n",
        # `Metadata: {}`
        "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Metadata: {}\n"
        "    Properties: {CodeUri: a/, Handler: h.h, Runtime: python3.12}\n",
        # no line break at the end of the file, four-space indentation
        "Resources:\n    F:\n        Type: AWS::Serverless::Function\n        Properties:\n"
        "            CodeUri: a/\n            Handler: h.h\n            Runtime: python3.12",
        # a byte-order mark
        "\ufeffResources:\n  F:\n    Type: AWS::Serverless::Function\n"
        "    Properties: {CodeUri: a/, Handler: h.h, Runtime: python3.12}\n",
        # a keep-chomping block scalar last: its trailing blank line is content
        "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n"
        "      CodeUri: a/\n      Handler: h.h\n      Runtime: python3.12\n"
        "      Description: |+\n        kept\n\n  G:\n    Type: AWS::SNS::Topic\n",
        # anchors and an alias as the last value, a document end marker
        "---\nResources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties: &p\n"
        "      CodeUri: a/\n      Handler: h.h\n      Runtime: python3.12\n"
        "  G:\n    Type: AWS::Serverless::Function\n    Properties: *p\n...\n",
        # an indentless sequence last
        "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n"
        "      CodeUri: a/\n      Handler: h.h\n      Runtime: python3.12\n      Tags:\n"
        "      - a\n      - b\n# the end\n",
    ],
)
def test_yaml_edit_shapes(tmp_path: Path, text: str) -> None:
    path = _write(tmp_path, text)
    old, new = add_makefile_build(path, [])
    assert old == text and new != old
    after = load_template(_write(tmp_path, new, "after.yaml"))
    assert all(r.build_method == "makefile" for r in after.resources.values())
    assert add_makefile_build(tmp_path / "after.yaml", []) == (new, new)
    if "{}" not in text and "flow style" not in text:
        assert _changes(old, new)[0] in ([], [old.splitlines(keepends=True)[-1]])


def test_metadata_that_is_not_a_mapping_is_a_usage_error(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Metadata: [a]\n"
        "    Properties: {CodeUri: a/, Handler: h.h, Runtime: python3.12}\n",
    )
    with pytest.raises(UsageError) as err:
        add_makefile_build(path, [])
    assert err.value.message.startswith(f"{path}:2: ")
    assert "BuildMethod: makefile" in err.value.hint


def test_add_makefile_build_writes_nothing(tmp_path: Path) -> None:
    path = _copy(SAM_APP, tmp_path)
    before = path.read_bytes()
    add_makefile_build(path, [])
    assert path.read_bytes() == before


# --- the real SAM CLI ----------------------------------------------------------------------------

SAM = Path(sys.executable).parent / "sam"


@pytest.mark.sam
@pytest.mark.skipif(not SAM.exists(), reason="aws-sam-cli is not installed in this virtualenv")
def test_sam_build_runs_the_makefile_targets(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "layer").mkdir()
    (tmp_path / "src" / "app.py").write_text("def handler(event, context):\n    return 1\n")
    (tmp_path / "src" / "Makefile").write_text(
        'build-HelloFunction:\n\techo function > "$(ARTIFACTS_DIR)/marker.txt"\n'
    )
    (tmp_path / "layer" / "Makefile").write_text(
        'build-DepsLayer:\n\tmkdir -p "$(ARTIFACTS_DIR)/python"\n'
        '\techo layer > "$(ARTIFACTS_DIR)/python/marker.txt"\n'
    )
    template = _write(
        tmp_path,
        "AWSTemplateFormatVersion: '2010-09-09'\n"
        "Transform: AWS::Serverless-2016-10-31\n"
        "Resources:\n"
        "  # the function\n"
        "  HelloFunction:\n"
        "    Type: AWS::Serverless::Function\n"
        "    Properties:\n"
        "      CodeUri: src/\n"
        "      Handler: app.handler\n"
        "      Runtime: python3.12\n"
        "      Layers: [!Ref DepsLayer]\n"
        "  DepsLayer:\n"
        "    Type: AWS::Serverless::LayerVersion\n"
        "    Properties:\n"
        "      ContentUri: layer/\n"
        "      CompatibleRuntimes: [python3.12]\n"
        "      CompatibleArchitectures: [arm64]\n",
    )
    _, new = add_makefile_build(template, [])
    template.write_text(new)
    env = {
        **os.environ,
        "SAM_CLI_TELEMETRY": "0",
        "__SAM_CLI_APP_DIR": str(tmp_path / ".sam-app-dir"),
    }
    result = subprocess.run(
        [str(SAM), "build", "--template", str(template)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    build = tmp_path / ".aws-sam" / "build"
    assert (build / "HelloFunction" / "marker.txt").read_text() == "function\n"
    assert (build / "DepsLayer" / "python" / "marker.txt").read_text() == "layer\n"
    built = YAML(typ="safe").load((build / "template.yaml").read_text())
    assert built["Resources"]["DepsLayer"]["Metadata"]["BuildArchitecture"] == "arm64"
