"""The container path on a real engine: plain `sam local invoke` and `samlink invoke --docker`.

Everything here is real: a private dockerd, SAM 1.170, the emulator SAM ships, awslambdaric and
boto3 in the image. Only the base image is a stand-in for `public.ecr.aws/lambda/python:3.11`
(no registry is reachable here; see engine.py), which is why every project says
`skip_pull_image = true` in its samconfig.toml.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from conftest import BIN, copy_example, copy_lib, run, sam_build

from .engine import Engine, pids_mentioning

pytestmark = pytest.mark.sam

SAMLINK = BIN / "samlink"
SAM = BIN / "sam"


def skip_pull_image(project: Path) -> None:
    """Add skip_pull_image to the local_invoke section `samlink init` wrote."""
    config = project / "samconfig.toml"
    text = config.read_text()
    assert "mount_symlinks = true" in text, text
    config.write_text(
        text.replace("mount_symlinks = true", "mount_symlinks = true\nskip_pull_image = true")
    )


def payload(stdout: str) -> object:
    return json.loads(stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def hello(
    engine: Engine, tmp_path_factory: pytest.TempPathFactory, tool_env: dict[str, str]
) -> Path:
    """The seed's project on python3.11 (the stand-in image's), initialised, linked and built
    (after the engine: where it cannot run, nothing is built for nothing)."""
    project = copy_example(tmp_path_factory.mktemp("container") / "hello world", tool_env)
    template = project / "template.yaml"
    template.write_text(template.read_text().replace("python3.12", "python3.11"))
    run([SAMLINK, "init"], project, tool_env)
    run([SAMLINK, "link", "./sam-sync-test-upstream"], project, tool_env)
    sam_build(project, tool_env)
    skip_pull_image(project)
    return project


def message(result: object) -> str:
    assert isinstance(result, dict), result
    return str(json.loads(result["body"])["message"])


def test_plain_sam_local_invoke_sees_the_link_and_live_edits(
    hello: Path, docker_env: dict[str, str]
) -> None:
    invoke: list[str | Path] = [
        SAM,
        "local",
        "invoke",
        "HelloWorldFunction",
        "-e",
        "events/event.json",
    ]
    first = run(invoke, hello, docker_env)
    assert message(payload(first.stdout)) == "hello world from sam-sync-test-upstream 1.1.0.dev0"

    upstream = hello / "sam-sync-test-upstream" / "src" / "sam_sync_test_upstream" / "__init__.py"
    app = hello / "hello_world" / "app.py"
    originals = {upstream: upstream.read_text(), app: app.read_text()}
    try:
        upstream.write_text(originals[upstream].replace('f"hello {target}', 'f"howdy {target}'))
        app.write_text(originals[app].replace('"statusCode": 200', '"statusCode": 201'))
        second = payload(run(invoke, hello, docker_env).stdout)  # no sam build in between
        assert isinstance(second, dict)
        assert second["statusCode"] == 201
        assert message(second) == "howdy world from sam-sync-test-upstream 1.1.0.dev0"
    finally:
        for path, text in originals.items():
            path.write_text(text)


def test_samlink_invoke_docker_reads_the_projects_samconfig(
    hello: Path, docker_env: dict[str, str]
) -> None:
    # No --skip-pull-image here: it comes from the project's samconfig.toml, which SAM would not
    # read next to the built template (and the pull would fail: no registry).
    cmd: list[str | Path] = [
        SAMLINK,
        "invoke",
        "HelloWorldFunction",
        "-e",
        "events/event.json",
        "--docker",
    ]
    result = run(cmd, hello, docker_env)
    assert message(payload(result.stdout)) == "hello world from sam-sync-test-upstream 1.1.0.dev0"
    assert result.stdout.endswith("}\n")
    # samlink's own options reach SAM: a network the engine does not have is SAM's error.
    forwarded = run([*cmd, "--docker-network", "samlink-no-such-net"], hello, docker_env, False)
    assert forwarded.returncode == 1
    assert forwarded.stdout == ""
    assert "samlink-no-such-net" in forwarded.stderr


def test_container_and_sandbox_agree(hello: Path, docker_env: dict[str, str]) -> None:
    event: list[str | Path] = ["HelloWorldFunction", "-e", "events/event.json"]
    in_container = run([SAMLINK, "invoke", *event, "--docker"], hello, docker_env)
    in_sandbox = run([SAMLINK, "invoke", *event, "--no-docker"], hello, docker_env)
    assert payload(in_container.stdout) == payload(in_sandbox.stdout)
    assert in_container.stdout.count("\n") == in_sandbox.stdout.count("\n") == 1


ERRORS_TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.11
    CodeUri: fn/
    Timeout: 3
Resources:
  Raises:
    Type: AWS::Serverless::Function
    Properties: {Handler: app.raises}
  CannotLoad:
    Type: AWS::Serverless::Function
    Properties: {Handler: missing_module.handler}
  TooSlow:
    Type: AWS::Serverless::Function
    Properties: {Handler: app.slow, Timeout: 1}
  Namespaced:
    Type: AWS::Serverless::Function
    Properties: {Handler: app.namespaced}
  OnArm:
    Type: AWS::Serverless::Function
    Properties: {Handler: app.namespaced, Architectures: [arm64]}
"""

ERRORS_APP = """\
import time

def raises(event, context):
    raise ValueError("boom")

def slow(event, context):
    time.sleep(10)

def namespaced(event, context):
    import acme.nsutil
    return {"value": acme.nsutil.value(), "file": acme.nsutil.__file__}
"""


@pytest.fixture(scope="module")
def errors(
    engine: Engine,
    tmp_path_factory: pytest.TempPathFactory,
    tool_env: dict[str, str],
    wheelhouse: Path,
) -> Path:
    """Functions that raise, cannot load, time out, import a linked namespace package
    (the .pth route), and one for arm64; initialised, ns_src linked, built."""
    root = tmp_path_factory.mktemp("container-errors")
    project = root / "project"
    (project / "fn").mkdir(parents=True)
    (project / "template.yaml").write_text(ERRORS_TEMPLATE)
    (project / "fn" / "app.py").write_text(ERRORS_APP)
    (project / "fn" / "requirements.txt").write_text(
        f"--find-links {wheelhouse}\nacme-ns-util==1.0.0\n"
    )
    run([SAMLINK, "init"], project, tool_env)
    run([SAMLINK, "link", copy_lib("ns_src", root)], project, tool_env)
    sam_build(project, tool_env)
    skip_pull_image(project)
    return project


@pytest.mark.parametrize(
    ("function", "error_type"),
    [("Raises", "ValueError"), ("CannotLoad", "Runtime.ImportModuleError"), ("TooSlow", None)],
)
def test_function_errors_exit_1_with_lambdas_shape(
    errors: Path, docker_env: dict[str, str], function: str, error_type: str | None
) -> None:
    results: dict[str, Any] = {}
    for engine in ("--docker", "--no-docker"):
        done = run([SAMLINK, "invoke", function, engine], errors, docker_env, check=False)
        assert done.returncode == 1, (engine, done.stdout, done.stderr)
        results[engine] = payload(done.stdout)
    for result in results.values():
        assert isinstance(result, dict)
        if error_type is None:
            assert set(result) == {"errorMessage"}
            assert re.fullmatch(
                r"\S+Z [0-9a-f-]+ Task timed out after 1\.00 seconds", result["errorMessage"]
            )
        else:
            assert result["errorType"] == error_type
    if error_type is not None:
        assert results["--docker"]["errorMessage"] == results["--no-docker"]["errorMessage"]


def test_namespace_package_link_is_live_in_the_container(
    errors: Path, docker_env: dict[str, str]
) -> None:
    build_dir = errors / ".aws-sam" / "build" / "Namespaced"
    assert list(build_dir.glob("*.pth")), "the namespace package should take the .pth route"
    cmd: list[str | Path] = [SAMLINK, "invoke", "Namespaced", "--docker", "--no-build"]
    result = payload(run(cmd, errors, docker_env).stdout)
    assert isinstance(result, dict)
    assert result["value"] == "ns v1"
    assert result["file"].startswith("/var/task/")

    source = errors.parent / "ns_src" / "src" / "acme" / "nsutil" / "__init__.py"
    source.write_text(source.read_text().replace('"ns v1"', '"ns v2"'))
    assert payload(run(cmd, errors, docker_env).stdout) == {**result, "value": "ns v2"}


def test_an_architecture_the_engine_cannot_run_is_named(
    errors: Path, docker_env: dict[str, str]
) -> None:
    from samlink.runtime.docker import emulation_missing

    if emulation_missing("arm64", docker_env) is None:
        pytest.skip("this machine runs arm64 containers (native or qemu-aarch64 registered)")
    done = run([SAMLINK, "invoke", "OnArm", "--docker"], errors, docker_env, check=False)
    assert done.returncode == 2
    assert done.stdout == ""
    assert "cannot run arm64 containers" in done.stderr
    assert "qemu-aarch64" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    doctor = run([SAMLINK, "doctor", "--json"], errors, docker_env, check=False)
    found = [d for d in json.loads(doctor.stdout)["checks"] if d["check"] == "engine-architecture"]
    assert [d["subject"] for d in found] == ["OnArm"]
    assert "qemu" in found[0]["fix"]


def test_a_private_engine_leaves_nothing_behind(engine: Engine) -> None:
    # A second engine beside the session's: its own socket, dirs and bridge, so neither sees
    # the other; stopped, nothing of it is left (process, mount, folder, bridge).
    second = Engine.start()
    try:
        assert second.host != engine.host
        assert second.bridge != engine.bridge
        assert second.run(["info", "--format", "{{.DockerRootDir}}"]).stdout.strip() == str(
            second.root / "data"
        )
    finally:
        second.stop()
    assert not second.root.exists()
    assert pids_mentioning(str(second.root)) == []
    assert str(second.root) not in Path("/proc/self/mountinfo").read_text()
    assert not Path(f"/sys/class/net/{second.bridge}").exists()
    assert engine.answers()
