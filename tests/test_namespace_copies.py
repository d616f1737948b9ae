"""A flat-layout namespace package is copied into dev builds, not linked (its source root is
the project root); after an edit the copy is stale: `samlink status` says so with the source
path, `samlink invoke` and start-lambda's environments refresh it before running (issue 15).

Real `sam build`, a real checkout of the fixture `ns_flat` (acme.nsflat), real invokes, a real
start-lambda server and boto3 client.
"""

from __future__ import annotations

import json
import os
import signal
import socket
from pathlib import Path

import pytest

from conftest import BIN, copy_lib, run, sam_build
from test_start_lambda import Server, until

pytestmark = pytest.mark.sam

SAMLINK = BIN / "samlink"

TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn/
      Runtime: python3.11
      Handler: app.handler
"""

APP = """
import acme.nsflat
def handler(event, context):
    return {"value": acme.nsflat.value(), "file": acme.nsflat.__file__}
"""


@pytest.fixture
def project(tmp_path: Path, tool_env: dict[str, str], wheelhouse: Path) -> tuple[Path, Path]:
    project = tmp_path / "project"
    (project / "fn").mkdir(parents=True)
    (project / "fn" / "app.py").write_text(APP)
    (project / "fn" / "requirements.txt").write_text(
        f"--no-index\n--find-links {wheelhouse}\nacme-ns-flat==1.0.0\n"
    )
    (project / "template.yaml").write_text(TEMPLATE)
    checkouts = tmp_path / "checkouts"
    checkouts.mkdir()
    ns_flat = copy_lib("ns_flat", checkouts)
    run([SAMLINK, "init"], project, tool_env)
    run([SAMLINK, "link", ns_flat], project, tool_env)
    sam_build(project, tool_env)
    copied = project / ".aws-sam" / "build" / "Fn" / "acme" / "nsflat" / "__init__.py"
    assert copied.is_file() and not copied.is_symlink()  # copied, as documented
    return project, ns_flat


def stale(project: Path, env: dict[str, str]) -> list[str]:
    report = json.loads(run([SAMLINK, "status", "--json"], project, env).stdout)
    (fn,) = [r for r in report["resources"] if r["id"] == "Fn"]
    found: list[str] = fn["stale"]
    return found


def test_status_says_stale_and_invoke_runs_the_edit(
    project: tuple[Path, Path], tool_env: dict[str, str]
) -> None:
    project_dir, ns_flat = project
    first = json.loads(run([SAMLINK, "invoke", "Fn"], project_dir, tool_env).stdout)
    assert first["value"] == "nsflat v1"
    assert stale(project_dir, tool_env) == []

    source = ns_flat / "acme" / "nsflat" / "__init__.py"
    source.write_text(source.read_text().replace("nsflat v1", "nsflat edited"))
    reasons = stale(project_dir, tool_env)
    assert reasons == [f"acme: copied files are stale ({source} changed since the build)"]
    text = run([SAMLINK, "status"], project_dir, {**tool_env, "COLUMNS": "500"}).stdout
    assert f"STALE: acme: copied files are stale ({source} changed" in text

    ran = run([SAMLINK, "invoke", "Fn"], project_dir, tool_env)
    assert json.loads(ran.stdout)["value"] == "nsflat edited"  # no `sam build` in between
    assert "samlink: rebuilding Fn (acme: copied files are stale" in ran.stderr
    assert stale(project_dir, tool_env) == []

    # A new module and a removed one count too.
    (source.parent / "extra.py").write_text("X = 1\n")
    assert stale(project_dir, tool_env) != []
    run([SAMLINK, "invoke", "Fn"], project_dir, tool_env)
    assert (project_dir / ".aws-sam/build/Fn/acme/nsflat/extra.py").is_file()
    (source.parent / "extra.py").unlink()
    assert stale(project_dir, tool_env) != []
    run([SAMLINK, "invoke", "Fn"], project_dir, tool_env)
    assert not (project_dir / ".aws-sam/build/Fn/acme/nsflat/extra.py").exists()
    assert stale(project_dir, tool_env) == []


def test_start_lambda_environments_see_the_edit(
    project: tuple[Path, Path], tool_env: dict[str, str]
) -> None:
    project_dir, ns_flat = project
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = Server(project_dir, tool_env, ["--port", str(port)], port)
    try:
        server.wait_ready(["Fn"])
        client = server.client()

        def value() -> str:
            answer = client.invoke(FunctionName="Fn", Payload=b"{}")
            return str(json.loads(answer["Payload"].read())["value"])

        assert value() == "nsflat v1"
        source = ns_flat / "acme" / "nsflat" / "__init__.py"
        source.write_text(source.read_text().replace("nsflat v1", "nsflat served"))
        until(lambda: value() == "nsflat served", within=60)
    finally:
        code, log = server.stop(signal.SIGTERM)
    assert code == 0 or code == -signal.SIGTERM, log
    assert os.path.isfile(project_dir / ".aws-sam/build/Fn/acme/nsflat/__init__.py")
