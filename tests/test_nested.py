"""Nested applications (issue 16): a root template whose AWS::Serverless::Application and
AWS::CloudFormation::Stack resources have local templates, two levels deep, built by the real
`sam build`; every command addresses their functions by SAM's full ID (App/Child/Fn)."""

from __future__ import annotations

import json
import re
import sys
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import pytest

from conftest import BIN, copy_lib, free_port, run, sam_build
from samlink.errors import UsageError
from samlink.live.sync import MARKER_DIR, prepare_markers, remove_markers, watch_excludes
from samlink.model.template import load_template, stack_parameters
from test_watch import Live

SAMLINK = BIN / "samlink"

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the invoke sandbox is Linux-only"
)

ROOT = """\
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage:
    Type: String
    Default: dev
Resources:
  RootFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: root_fn/
      Handler: app.handler
      Runtime: python3.11
  App:
    Type: AWS::Serverless::Application
    Properties:
      Location: app/template.yaml
      Parameters:
        Stage: !Ref Stage
  Again:
    Type: AWS::Serverless::Application
    Properties:
      Location: app/template.yaml
  Child:  # a root-level application named like App's child, with a function named Fn too
    Type: AWS::Serverless::Application
    Properties:
      Location: other/template.yaml
  Plain:
    Type: AWS::CloudFormation::Stack
    Properties:
      TemplateURL: plain/template.yaml
  Remote:
    Type: AWS::Serverless::Application
    Properties:
      Location: https://s3.amazonaws.com/some-bucket/shared/template.yaml
"""

APP = """\
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage:
    Type: String
    Default: app-default
Resources:
  Child:
    Type: AWS::Serverless::Application
    Properties:
      Location: child/template.yaml
      Parameters:
        Stage: !Sub "${Stage}-child"
"""

CHILD = """\
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage:
    Type: String
    Default: child-default
Resources:
  Shared:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: layer/
      CompatibleRuntimes: [python3.11]
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.handler
      Runtime: python3.11
      Layers: [!Ref Shared]
      Environment:
        Variables:
          STAGE: !Ref Stage
      Events:
        Hello:
          Type: HttpApi
          Properties:
            Path: /nested
            Method: get
"""

PLAIN = """\
Resources:
  PlainFn:
    Type: AWS::Lambda::Function
    Properties:
      Code: code/
      Handler: app.handler
      Runtime: python3.11
      Role: arn:aws:iam::123456789012:role/x
"""

OTHER = """\
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.handler
      Runtime: python3.11
"""

HANDLER = """\
import os

import acme_single


def handler(event, context):
    import shared_mod  # from the child's own layer

    assert shared_mod.VALUE == "layer"
    return {"stage": os.environ.get("STAGE"), "lib": acme_single.value()}
"""


def _project(tmp_path: Path, wheelhouse: Path) -> Path:
    project = tmp_path / "mono"
    files = {
        "template.yaml": ROOT,
        "app/template.yaml": APP,
        "app/child/template.yaml": CHILD,
        "app/child/src/app.py": HANDLER,
        "app/child/layer/shared_mod.py": "VALUE = 'layer'\n",
        # The library is used only here, in the grandchild.
        "app/child/src/requirements.txt": (
            f"--no-index\n--find-links {wheelhouse}\nacme-single==1.0.0\n"
        ),
        "root_fn/app.py": "def handler(event, context):\n    return 'root'\n",
        "plain/template.yaml": PLAIN,
        "other/template.yaml": OTHER,
        "other/src/app.py": "def handler(event, context):\n    return 'other'\n",
        "plain/code/app.py": "def handler(event, context):\n    return 'plain'\n",
    }
    for name, text in files.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(text)
    return project


def test_the_model_walks_nested_applications(tmp_path: Path, wheelhouse: Path) -> None:
    project = _project(tmp_path, wheelhouse)
    template = load_template(project / "template.yaml")
    assert list(template.resources) == [
        "RootFunction",
        "App/Child/Shared",
        "App/Child/Fn",
        "Again/Child/Shared",
        "Again/Child/Fn",
        "Child/Fn",
        "Plain/PlainFn",
    ]
    fn = template.get("App/Child/Fn")
    assert (fn.local_id, fn.stack) == ("Fn", "App/Child")
    assert fn.template_path == project / "app" / "child" / "template.yaml"
    assert fn.code_dir == project / "app" / "child" / "src"
    assert template.remote == ("Remote",)
    # A child's layer is named by full ID, and so is the child function's reference to it.
    assert template.get("App/Child/Shared").kind == "layer"
    assert fn.layers == ("App/Child/Shared",)
    assert template.get("Again/Child/Fn").layers == ("Again/Child/Shared",)
    # A parent's Parameters reach the child, resolved with the parent's own values.
    assert stack_parameters(template, "App/Child") == {"Stage": "dev-child"}
    assert stack_parameters(template, "App/Child", {"Stage": "prod"}) == {"Stage": "prod-child"}
    assert stack_parameters(template, "Again/Child") == {"Stage": "app-default-child"}
    # The root alone is the template it was before.
    assert template.get("RootFunction").stack == ""
    with pytest.raises(UsageError, match="did you mean App/Child/Fn"):
        template.get("Fn")
    # Every remote kind SAM does not build locally: an intrinsic or ApplicationId, s3://.
    (project / "more.yaml").write_text(
        "Resources:\n"
        "  Repo:\n    Type: AWS::Serverless::Application\n    Properties:\n"
        "      Location: {ApplicationId: arn:aws:serverlessrepo:us-east-1:1:applications/x,"
        " SemanticVersion: 1.0.0}\n"
        "  Bucket:\n    Type: AWS::CloudFormation::Stack\n    Properties:\n"
        "      TemplateURL: s3://bucket/key.yaml\n"
    )
    assert load_template(project / "more.yaml").remote == ("Repo", "Bucket")


def test_a_missing_child_or_a_cycle_is_one_line(
    tmp_path: Path, wheelhouse: Path, tool_env: dict[str, str]
) -> None:
    project = _project(tmp_path, wheelhouse)
    child = project / "app" / "child" / "template.yaml"
    child.write_text(
        CHILD + "  Loop:\n    Type: AWS::Serverless::Application\n"
        "    Properties:\n      Location: ../template.yaml\n"
    )
    done = run([SAMLINK, "status"], project, tool_env, check=False)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "Loop Location ../template.yaml leads back to" in done.stderr
    assert str(child) in done.stderr
    child.write_text(CHILD)
    (project / "app" / "template.yaml").write_text(APP.replace("child/template", "gone/t"))
    done = run([SAMLINK, "status"], project, tool_env, check=False)
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "app/template.yaml:7: Child Location gone/t.yaml: no such template" in done.stderr


@pytest.mark.sam
def test_nested_project_end_to_end(
    tmp_path: Path, wheelhouse: Path, tool_env: dict[str, str]
) -> None:
    project = _project(tmp_path, wheelhouse)
    checkouts = tmp_path / "checkouts"
    checkouts.mkdir()
    lib = copy_lib("single_mod", checkouts)

    done = run([SAMLINK, "init"], project, tool_env)
    assert "Remote not managed" in done.stderr and done.stderr.count("Remote not managed") == 1
    # Each child template is edited in place (once, though two applications use it).
    child_text = (project / "app" / "child" / "template.yaml").read_text()
    assert child_text.count("BuildMethod: makefile") == 2  # the function and its layer
    assert "BuildMethod: makefile" in (project / "plain" / "template.yaml").read_text()
    makefile = (project / "app" / "child" / "src" / "Makefile").read_text()
    assert makefile.count("build-Fn:") == 1
    assert "--template ../template.yaml" in makefile
    assert "--root-template ../../../template.yaml" in makefile
    again = run([SAMLINK, "init"], project, tool_env)
    assert "nothing (already set up)" in again.stderr

    linked = run([SAMLINK, "link", lib, "--function", "App/Child/Fn"], project, tool_env)
    assert "App/Child/Fn" in linked.stdout + linked.stderr
    sam_build(project, tool_env)
    build = project / ".aws-sam" / "build"
    # SAM's layout; the link reaches App/Child/Fn only, not the same function under Again.
    assert (build / "App" / "Child" / "Fn" / "acme_single.py").is_symlink()
    assert (build / "Again" / "Child" / "Fn" / "acme_single.py").is_file()
    assert not (build / "Again" / "Child" / "Fn" / "acme_single.py").is_symlink()
    assert (build / "Plain" / "PlainFn" / "app.py").exists()
    assert (build / "App" / "Child" / "Shared" / "python" / "shared_mod.py").exists()

    status = json.loads(run([SAMLINK, "status", "--json"], project, tool_env).stdout)
    ids = [item["id"] for item in status["resources"]]
    assert [i for i in ids if "Shared" not in i] == [
        "RootFunction",
        "App/Child/Fn",
        "Again/Child/Fn",
        "Child/Fn",
        "Plain/PlainFn",
    ]
    assert "App/Child/Shared" in ids and "Again/Child/Shared" in ids

    def invoke(*args: str) -> Any:
        result = run([SAMLINK, "invoke", *args], project, tool_env)
        return json.loads(result.stdout)

    assert invoke("App/Child/Fn") == {"stage": "dev-child", "lib": "single v1"}
    assert invoke("App/Child/Fn", "--parameter-overrides", "Stage=prod") == {
        "stage": "prod-child",
        "lib": "single v1",
    }
    assert invoke("Again/Child/Fn") == {"stage": "app-default-child", "lib": "single v1"}
    # --env-vars: a nested function's entry by its full ID (or its own logical ID, as SAM).
    env_file = tmp_path / "env.json"
    env_file.write_text(json.dumps({"App/Child/Fn": {"STAGE": "from-file"}}))
    assert invoke("App/Child/Fn", "--env-vars", str(env_file))["stage"] == "from-file"
    env_file.write_text(json.dumps({"Fn": {"STAGE": "by-logical-id"}}))
    assert invoke("App/Child/Fn", "--env-vars", str(env_file))["stage"] == "by-logical-id"
    # A live edit of the linked library, no rebuild.
    module = lib / "acme_single.py"
    module.write_text(module.read_text().replace("single v1", "single v2"))
    stamp = (build / "App" / "Child" / "Fn").stat().st_mtime_ns
    assert invoke("App/Child/Fn") == {"stage": "dev-child", "lib": "single v2"}
    assert (build / "App" / "Child" / "Fn").stat().st_mtime_ns == stamp

    # A warm `sam build` replays every nested plan (no full build), by full ID.
    warm = sam_build(project, {**tool_env, "SAMLINK_DEBUG": "1"})
    output = warm.stdout + warm.stderr
    # Child/Fn's plan is not App/Child/Fn's, though ARTIFACTS_DIR ends in Child/Fn for both.
    assert output.count("fast path: replayed the plan") == 7, output
    assert "samlink: App/Child/Fn: " in output and "samlink: Again/Child/Fn: " in output
    # A parent template's edit (its Parameters decide the child's values) takes the full build
    # for every resource below it, and only those.
    app_template = project / "app" / "template.yaml"
    app_template.write_text(app_template.read_text() + "# edited\n")
    edited = sam_build(project, {**tool_env, "SAMLINK_DEBUG": "1"})
    output = edited.stdout + edited.stderr
    assert output.count("fast path: replayed the plan") == 3, output
    assert output.count("app/template.yaml changed") == 4, output
    assert invoke("App/Child/Fn") == {"stage": "dev-child", "lib": "single v2"}

    # A stale nested build is rebuilt alone before an invoke: its make target, its full ID.
    requirements = project / "app" / "child" / "src" / "requirements.txt"
    requirements.write_text(requirements.read_text() + "acme-flit==1.0.0\n")
    rebuilt = run([SAMLINK, "invoke", "App/Child/Fn"], project, tool_env)
    assert "samlink: rebuilding App/Child/Fn (" in rebuilt.stderr, rebuilt.stderr
    assert json.loads(rebuilt.stdout) == {"stage": "dev-child", "lib": "single v2"}
    assert (build / "App" / "Child" / "Fn" / "acme_flit" / "__init__.py").is_file()
    assert (build / "App" / "Child" / "Fn" / "acme_single.py").is_symlink()
    assert not (build / "Again" / "Child" / "Fn" / "acme_flit").exists()

    # start-lambda answers the Invoke API for a nested function by its full ID.
    port = free_port()
    live = Live([SAMLINK, "start-lambda", "--no-build", "--port", str(port)], project, tool_env)
    try:
        live.wait_for(r"serving the Lambda Invoke API", timeout=300)
        assert "App/Child/Fn http://" in live.output
        client = boto3.client(
            "lambda",
            endpoint_url=f"http://127.0.0.1:{port}",
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        answer = client.invoke(FunctionName="App/Child/Fn", Payload=b"{}")
        assert json.loads(answer["Payload"].read()) == {"stage": "dev-child", "lib": "single v2"}
    finally:
        live.kill()

    # check on the dev build names the nested function that would ship links.
    checked = run([SAMLINK, "check", "--json"], project, tool_env, check=False)
    assert checked.returncode == 1, checked.stderr
    report = json.loads(checked.stdout)
    named = {f.get("resource") for f in report["findings"] if f["severity"] == "error"}
    assert "App/Child/Fn" in named, report["findings"]
    # Read as the resources they are: no finding names a stack's folder.
    assert not named & {"App", "Again", "Child", "Plain", "App/Child"}, named

    # start-api serves the nested function's route (the child used twice: the first serves).
    port = free_port()
    live = Live([SAMLINK, "start-api", "--no-build", "--port", str(port)], project, tool_env)
    try:
        live.wait_for(r"serving on", timeout=300)
        assert "GET /nested -> App/Child/Fn" in live.output, live.output
        assert "Again/Child: GET /nested is served by App/Child" in live.output
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/nested", timeout=60) as answer:
            assert json.loads(answer.read()) == {"stage": "dev-child", "lib": "single v2"}
        # An edit to what the parent passes reloads the function, as a root template edit.
        mark = live.mark()
        app_template = project / "app" / "template.yaml"
        app_template.write_text(app_template.read_text().replace("-child", "-kid"))
        live.wait_for(r"changed: reloaded \(.*App/Child/Fn", start=mark, timeout=60)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/nested", timeout=60) as answer:
            assert json.loads(answer.read()) == {"stage": "dev-kid", "lib": "single v2"}
    finally:
        live.kill()

    # The remote application is said once, as not managed, by status and doctor.
    shown = run([SAMLINK, "status"], project, tool_env).stdout
    assert shown.count("Remote: not managed") == 1
    doctor = run([SAMLINK, "doctor", "--json"], project, tool_env, check=False)
    assert "Remote: a nested application whose template is not local" in doctor.stdout

    # A child template that lost its makefile build is drift, named in the child template.
    child = project / "app" / "child" / "template.yaml"
    child.write_text(CHILD)
    drift = run([SAMLINK, "check", "--json", "--sources-only"], project, tool_env, check=False)
    assert drift.returncode == 1
    found = [f for f in json.loads(drift.stdout)["findings"] if f["code"] == "template-drift"]
    assert len(found) == 1 and found[0]["file"] == "app/child/template.yaml", found
    assert "App/Child/Fn" in found[0]["message"]


def test_sync_markers_and_excludes_name_full_ids(tmp_path: Path, wheelhouse: Path) -> None:
    project = _project(tmp_path, wheelhouse)
    template = load_template(project / "template.yaml")
    nested = [template.get("App/Child/Fn"), template.get("Again/Child/Fn")]
    folders = prepare_markers(nested)
    try:
        # One marker per full ID, flat in the shared code dir's marker folder.
        markers = sorted(p.name for p in folders[0].iterdir() if p.name != ".gitignore")
        assert markers == ["Again.Child.Fn", "App.Child.Fn"]
        # SAM's --watch-exclude keys are full IDs; each ignores the other's marker.
        excludes = watch_excludes(template)
        assert f"App/Child/Fn=/{re.escape(MARKER_DIR)}/Again\\.Child\\.Fn$" in excludes
        assert f"Again/Child/Fn=/{re.escape(MARKER_DIR)}/App\\.Child\\.Fn$" in excludes
    finally:
        remove_markers(folders)


@pytest.mark.sam
def test_watch_rebuilds_a_nested_function(
    tmp_path: Path, wheelhouse: Path, tool_env: dict[str, str]
) -> None:
    project = _project(tmp_path, wheelhouse)
    run([SAMLINK, "init"], project, tool_env)
    build = project / ".aws-sam" / "build"
    live = Live([SAMLINK, "watch"], project, tool_env)
    try:
        live.wait_for(r"samlink: watching template\.yaml", timeout=300)
        assert (build / "App" / "Child" / "Fn" / "acme_single.py").is_file()
        root_before = (build / "RootFunction").stat().st_ino
        # The grandchild's requirements change: both full IDs that use it are rebuilt alone.
        mark = live.mark()
        requirements = project / "app" / "child" / "src" / "requirements.txt"
        requirements.write_text(requirements.read_text() + "acme-flit==1.0.0\n")
        live.wait_for(r"samlink: rebuilt App/Child/Fn in .*requirements\.txt", start=mark)
        live.wait_for(r"samlink: rebuilt Again/Child/Fn in .*requirements\.txt", start=mark)
        assert (build / "App" / "Child" / "Fn" / "acme_flit" / "__init__.py").is_file()
        assert (build / "Again" / "Child" / "Fn" / "acme_flit" / "__init__.py").is_file()
        assert (build / "RootFunction").stat().st_ino == root_before
        assert not list((build / "App" / "Child").glob(".*"))  # no staging dir left
        # A child template changes: a full sam build, as for the root template.
        mark = live.mark()
        child = project / "app" / "child" / "template.yaml"
        child.write_text(child.read_text() + "# edited\n")
        live.wait_for(r"samlink: sam build: template\.yaml changed", start=mark)
        live.wait_for(r"samlink: sam build done", start=mark)
    finally:
        live.kill()
