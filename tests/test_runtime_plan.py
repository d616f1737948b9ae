"""The sandbox plan, SAM's environment rules, Lambda's report wording, interpreter choice."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from samlink.errors import UsageError
from samlink.runtime import environment_for, spec_from_template
from samlink.runtime import report as lambda_report
from samlink.runtime.environment import default_region, stringify
from samlink.runtime.python import choose_interpreter, host_interpreter, runtime_version
from samlink.runtime.sandbox import Entry, hidden_dirs, layout_ops, plan_layout


def _touch(path: Path, text: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    _touch(tmp_path / "code" / "pkg" / "src" / "pkg" / "__init__.py")
    _touch(tmp_path / "code" / "func" / "app.py")
    build = tmp_path / "build"
    build.mkdir()
    (build / "pkg").symlink_to(tmp_path / "code" / "pkg" / "src" / "pkg")
    (build / "app.py").symlink_to(tmp_path / "code" / "func" / "app.py")
    (build / "gone").symlink_to(tmp_path / "nowhere")
    _touch(build / "requests" / "__init__.py")
    _touch(tmp_path / "l1" / "python" / "a.py")
    _touch(tmp_path / "l1" / "python" / "shared" / "one.py")
    _touch(tmp_path / "l1" / "lib" / "libx.so.1")
    _touch(tmp_path / "l2" / "python" / "a.py")
    _touch(tmp_path / "l2" / "python" / "shared" / "two.py")
    (tmp_path / "l2" / "python" / "linked").symlink_to(tmp_path / "code" / "pkg" / "src" / "pkg")
    (tmp_path / "runtime").mkdir()
    return tmp_path


def test_task_root_shows_top_level_links_at_their_names(tree: Path) -> None:
    layout = plan_layout(tree / "build", (), tree / "runtime", ())
    assert layout.task == (
        Entry("/var/task/app.py", tree / "code" / "func" / "app.py", False),
        Entry("/var/task/pkg", tree / "code" / "pkg" / "src" / "pkg", True),
        Entry("/var/task/requests", tree / "build" / "requests", True),
    )
    assert any("gone" in note and "dangling" in note for note in layout.notes)
    assert layout.runtime == Entry("/var/runtime", tree / "runtime", True)


def test_layers_merge_in_order_and_links_are_resolved(tree: Path) -> None:
    layout = plan_layout(tree / "build", (tree / "l1", tree / "l2"), tree / "runtime", ())
    assert layout.opt_dirs == ("/opt/python", "/opt/python/shared")
    assert set(layout.opt) == {
        Entry("/opt/lib", tree / "l1" / "lib", True),
        Entry("/opt/python/a.py", tree / "l2" / "python" / "a.py", False),  # the later layer
        Entry("/opt/python/linked", tree / "code" / "pkg" / "src" / "pkg", True),
        Entry("/opt/python/shared/one.py", tree / "l1" / "python" / "shared" / "one.py", False),
        Entry("/opt/python/shared/two.py", tree / "l2" / "python" / "shared" / "two.py", False),
    }


def test_one_plain_layer_is_bound_whole(tree: Path) -> None:
    layout = plan_layout(tree / "build", (tree / "l1",), tree / "runtime", ())
    assert layout.opt_dirs == ()
    assert {e.target for e in layout.opt} == {"/opt/lib", "/opt/python"}


def test_hidden_folders_cover_the_linked_sources_but_spare_the_interpreter(tmp_path: Path) -> None:
    source = _touch(tmp_path / "home" / "dev" / "lib" / "src" / "lib" / "__init__.py").parent
    other = _touch(tmp_path / "home" / "dev" / "other" / "x.py").parent
    interpreter = (tmp_path / "home" / "dev" / "python").resolve()
    interpreter.mkdir()
    hidden = hidden_dirs([source, other], [interpreter], [])
    # The folder holding the first source; the second source's folder holds the interpreter,
    # so only that source itself is hidden.
    assert hidden == (other, source.parent)


def test_hidden_folders_skip_system_and_covered_folders(tmp_path: Path) -> None:
    assert hidden_dirs([Path("/usr/lib"), Path("/var/lib/x")], [], [Path("/var")]) == (
        Path("/usr/lib"),
    )
    nested = _touch(tmp_path / "a" / "b" / "c.py").parent
    assert hidden_dirs([nested, nested.parent], [], []) == (tmp_path,)


def test_interpreter_under_tmp_keeps_tmp_and_under_opt_is_shown_again(tree: Path) -> None:
    layout = plan_layout(tree / "build", (), tree / "runtime", (tree / "python",))
    assert not layout.fresh_tmp  # the interpreter lives under /tmp: hide folders, not /tmp
    assert layout.hidden
    toolcache = Path("/opt/hostedtoolcache/Python/3.12.1/x64")
    layout = plan_layout(tree / "build", (), tree / "runtime", (toolcache,))
    assert layout.kept == (Entry(str(toolcache), toolcache, True),)


def test_mount_steps_cover_first_bind_then_hide(tree: Path) -> None:
    layout = plan_layout(tree / "build", (tree / "l1",), tree / "runtime", ())
    ops = layout_ops(layout)
    kinds = [(op["op"], op.get("path", op.get("dst"))) for op in ops]
    assert kinds[:4] == [("tmpfs", "/var"), ("tmpfs", "/opt"), ("mkdir", "/var/task"),
                         ("tmpfs", "/var/task")]  # fmt: skip
    last_bind = max(i for i, op in enumerate(ops) if op["op"] == "bind")
    first_hide = kinds.index(("tmpfs", "/tmp"))
    assert last_bind < kinds.index(("ro", "/var/task")) < first_hide
    assert all(op.get("ro") for op in ops[first_hide + 1 :])
    assert not any(op.get("early") for op in ops)  # nothing lives under /var or /opt here
    early = plan_layout(Path("/var/lib/dpkg"), (), tree / "runtime", ())
    assert any(op.get("early") for op in layout_ops(early))


def test_environment_follows_sam_precedence(tmp_path: Path) -> None:
    env_file = tmp_path / "env.json"
    env_file.write_text(
        json.dumps(
            {
                "Parameters": {"TABLE": "from-parameters", "STAGE": "global"},
                "HelloFunction": {"STAGE": "function", "UNDECLARED": "ignored", "FLAG": True},
                "OtherFunction": {"TABLE": "not mine"},
            }
        )
    )
    template_env: dict[str, object] = {
        "TABLE": {"Ref": "TableName"},
        "STAGE": "template",
        "BUCKET": {"Ref": "BucketName"},
        "UNRESOLVED": {"Fn::GetAtt": ["Thing", "Arn"]},
        "FROM_SHELL": "template",
        "FLAG": "x",
        "COUNT": 3,
    }

    def resolve(value: object, parameters: object) -> object:
        if isinstance(value, dict) and "Ref" in value and isinstance(parameters, dict):
            return parameters.get(value["Ref"], value)
        return value

    result = environment_for(
        template_env, "HelloFunction", env_file, {"TableName": "t1", "BucketName": "b1"}, resolve,
        shell={"FROM_SHELL": "shell", "UNDECLARED_SHELL": "no"},
    )  # fmt: skip
    assert result == {
        "TABLE": "from-parameters",
        "STAGE": "function",
        "BUCKET": "b1",
        "UNRESOLVED": "",
        "FROM_SHELL": "shell",
        "FLAG": "true",
        "COUNT": "3",
    }


def test_env_vars_file_mistakes_are_usage_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"Parameters": "x"}')
    with pytest.raises(UsageError, match="must map names to objects"):
        environment_for({"A": "1"}, "F", bad, {}, lambda v, p: v, shell={})
    bad.write_text("{nope")
    with pytest.raises(UsageError, match="not valid JSON"):
        environment_for({"A": "1"}, "F", bad, {}, lambda v, p: v, shell={})
    with pytest.raises(UsageError, match="cannot read"):
        environment_for({"A": "1"}, "F", tmp_path / "missing.json", {}, lambda v, p: v, shell={})


def test_stringify_and_region() -> None:
    assert [stringify(v) for v in (None, [1], {"a": 1}, True, False, 1.5, "x")] == [
        "", "", "", "true", "false", "1.5", "x",
    ]  # fmt: skip
    assert default_region({"AWS_DEFAULT_REGION": "eu-north-1"}) == "eu-north-1"
    assert default_region({"AWS_REGION": "ap-south-1", "AWS_DEFAULT_REGION": "x"}) == "ap-south-1"
    assert default_region({}) == "us-east-1"


def test_report_wording() -> None:
    when = datetime(2024, 5, 1, 12, 30, 5, tzinfo=timezone.utc)
    assert (
        lambda_report.timeout_message("abc", 3, when)
        == "2024-05-01T12:30:05Z abc Task timed out after 3.00 seconds"
    )
    assert lambda_report.end_lines(
        "abc", duration_ms=1.234, memory_size=128, max_memory_mb=40, init_ms=100.0
    ) == (
        "END RequestId: abc\nREPORT RequestId: abc\tDuration: 1.23 ms\tBilled Duration: 2 ms\t"
        "Memory Size: 128 MB\tMax Memory Used: 40 MB\tInit Duration: 100.00 ms\t\n"
    )
    assert json.loads(lambda_report.exit_error_payload("abc", -9)) == {
        "errorType": "Runtime.ExitError",
        "errorMessage": "RequestId: abc Error: Runtime exited with error: signal: killed",
    }


def test_runtime_names_and_missing_python_warning() -> None:
    assert runtime_version("python3.12") == (3, 12)
    with pytest.raises(UsageError):
        runtime_version("java21")
    chosen, warning = choose_interpreter((3, 99))
    assert chosen == host_interpreter()
    assert warning is not None
    assert "3.99" in warning
    assert f"Python {sys.version_info[0]}.{sys.version_info[1]}" in warning


TEMPLATE = """
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage:
    Type: String
    Default: dev
Globals:
  Function:
    Timeout: 7
    Environment:
      Variables:
        STAGE: !Ref Stage
Resources:
  DepsLayer:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: deps/
      CompatibleRuntimes: [python3.12]
    Metadata:
      BuildMethod: makefile
  HelloFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: hello_world/
      Handler: app.lambda_handler
      Runtime: python3.12
      MemorySize: 512
      Layers:
        - !Ref DepsLayer
        - arn:aws:lambda:us-east-1:123456789012:layer:published:1
      Environment:
        Variables:
          TABLE: orders
    Metadata:
      BuildMethod: makefile
"""


def test_spec_from_template(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    template = _touch(tmp_path / "template.yaml", TEMPLATE)
    (tmp_path / "hello_world").mkdir()
    (tmp_path / "deps").mkdir()
    # The published layer, as `sam local invoke` caches it: <name>-<version>-<sha256(arn)[:10]>.
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    published = tmp_path / "home" / ".aws-sam" / "layers-pkg" / "published-1-9e2d866d79"
    published.mkdir(parents=True)
    monkeypatch.chdir(tmp_path)  # SAM's build dir is under the current directory
    spec = spec_from_template(
        template, "HelloFunction", parameter_overrides={"Stage": "prod"}, region="eu-west-1"
    )
    builds = tmp_path / ".aws-sam" / "build"
    assert spec.code_dir == builds / "HelloFunction"
    assert spec.layer_dirs == (builds / "DepsLayer", published)
    assert (spec.handler, spec.runtime, spec.timeout, spec.memory_size) == (
        "app.lambda_handler", "python3.12", 7, 512,
    )  # fmt: skip
    assert spec.environment == {"STAGE": "prod", "TABLE": "orders"}
    assert spec.region == "eu-west-1"
    with pytest.raises(UsageError, match="is a layer"):
        spec_from_template(template, "DepsLayer")
