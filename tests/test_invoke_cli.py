"""`samlink invoke` as a user types it, on a real `sam build` of the example (no Docker here)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from conftest import BIN, copy_example, run, sam_build

pytestmark = [
    pytest.mark.sam,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the sandbox is Linux-only"),
]

SAMLINK = BIN / "samlink"
OTHER = """
  OtherFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: other/
      Handler: app.handler
      Runtime: python3.11
"""


@pytest.fixture
def project(tmp_path: Path, tool_env: dict[str, str]) -> Path:
    project = copy_example(tmp_path / "hello", tool_env)
    template = project / "template.yaml"
    template.write_text(template.read_text().replace("\nParameters:", OTHER + "\nParameters:"))
    (project / "other").mkdir()
    (project / "other" / "app.py").write_text("def handler(event, context):\n    return 'other'\n")
    run([SAMLINK, "init"], project, tool_env)
    run([SAMLINK, "link", "sam-sync-test-upstream"], project, tool_env)
    return project


def invoke(project: Path, env: dict[str, str], *args: str, code: int = 0) -> tuple[object, str]:
    result = run([SAMLINK, "invoke", *args], project, env, check=False)
    assert result.returncode == code, result.stderr
    return json.loads(result.stdout), result.stderr


def test_invoke_results_errors_and_parameters(project: Path, tool_env: dict[str, str]) -> None:
    not_built = run([SAMLINK, "invoke", "HelloWorldFunction"], project, tool_env, check=False)
    assert not_built.returncode == 2 and "sam build" in not_built.stderr
    sam_build(project, tool_env)

    result, logs = invoke(project, tool_env, "HelloWorldFunction", "-e", "events/event.json")
    assert isinstance(result, dict) and result["statusCode"] == 200
    assert "REPORT RequestId:" in logs
    message = json.loads(result["body"])["message"]
    assert message == "hello world from sam-sync-test-upstream 1.1.0.dev0"

    result, _ = invoke(
        project, tool_env, "HelloWorldFunction", "--parameter-overrides", "Target=there"
    )
    assert isinstance(result, dict)
    assert json.loads(result["body"])["message"].startswith("hello there ")
    env_file = project / "env.json"
    env_file.write_text(json.dumps({"HelloWorldFunction": {"GREETING_TARGET": "env file"}}))
    result, _ = invoke(project, tool_env, "HelloWorldFunction", "--env-vars", str(env_file))
    assert isinstance(result, dict)
    assert json.loads(result["body"])["message"].startswith("hello env file ")

    app = project / "hello_world" / "app.py"
    app.write_text(
        app.read_text().replace("    target = ", "    raise ValueError('boom')\n    target = ")
    )
    error, _ = invoke(project, tool_env, "HelloWorldFunction", code=1)
    assert isinstance(error, dict)
    assert error["errorType"] == "ValueError" and error["errorMessage"] == "boom"

    (project / "bad.json").write_text("{")
    bad = run(
        [SAMLINK, "invoke", "HelloWorldFunction", "-e", "bad.json"], project, tool_env, check=False
    )
    assert bad.returncode == 2 and "not JSON" in bad.stderr


def test_stale_requirements_rebuild_only_that_function(
    project: Path, tool_env: dict[str, str]
) -> None:
    sam_build(project, tool_env)
    build = project / ".aws-sam" / "build"
    marker = build / "OtherFunction" / "untouched"
    marker.write_text("")
    requirements = project / "hello_world" / "requirements.txt"
    requirements.write_text(requirements.read_text() + "# changed\n")
    result, logs = invoke(project, tool_env, "OtherFunction")
    assert result == "other" and "rebuilding" not in logs
    result, logs = invoke(project, tool_env, "HelloWorldFunction")
    assert "rebuilding HelloWorldFunction" in logs
    assert marker.exists()
    result, logs = invoke(project, tool_env, "HelloWorldFunction")
    assert "rebuilding" not in logs


def test_plain_sam_local_invoke_mounts_symlinks_from_the_config(
    project: Path, tool_env: dict[str, str]
) -> None:
    """No engine here: SAM fails later, but its debug log shows the flag init turned on."""
    sam_build(project, tool_env)
    result = run(
        [BIN / "sam", "local", "invoke", "--debug", "HelloWorldFunction"],
        project,
        tool_env,
        check=False,
    )
    assert "--mount_symlinks" in result.stdout + result.stderr


def test_published_layer_comes_from_sams_layer_cache(
    project: Path, tool_env: dict[str, str], tmp_path: Path
) -> None:
    import hashlib

    arn = "arn:aws:lambda:us-east-1:123456789012:layer:shared-utils:3"
    template = project / "template.yaml"
    template.write_text(
        template.read_text().replace(
            "      CodeUri: other/\n", f"      CodeUri: other/\n      Layers:\n        - {arn}\n"
        )
    )
    (project / "other" / "app.py").write_text(
        "def handler(event, context):\n    import shared_utils\n    return shared_utils.NAME\n"
    )
    sam_build(project, tool_env)
    home = tmp_path / "home"
    # SAM's default cache (~/.aws-sam/layers-pkg), and no AWS credentials to download it with.
    env = {k: v for k, v in tool_env.items() if not k.startswith(("AWS_", "__SAM_CLI_APP_DIR"))}
    env.update(
        HOME=str(home),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "none"),
        AWS_CONFIG_FILE=str(home / "none"),
        AWS_EC2_METADATA_DISABLED="true",
    )
    missing = run([SAMLINK, "invoke", "OtherFunction"], project, env, check=False)
    assert missing.returncode == 2 and arn in missing.stderr
    assert "no AWS credentials" in missing.stderr.strip().splitlines()[-1]
    # Where `sam local invoke` unzips a published layer (SAM's naming rule).
    digest = hashlib.sha256(arn.encode()).hexdigest()[:10]
    cached = home / ".aws-sam" / "layers-pkg" / f"shared-utils-3-{digest}" / "python"
    cached.mkdir(parents=True)
    (cached / "shared_utils.py").write_text("NAME = 'from the layer cache'\n")
    result, _ = invoke(project, env, "OtherFunction")
    assert result == "from the layer cache"
