"""One real `sam build` of a project that covers the other cases: a layer, two functions sharing a
code dir, python3.12 and arm64 functions with compiled dependencies, a flat-layout namespace
package, a seed-style `-e` line, then a release build and the fallback without samlink."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from conftest import BIN, call_handler, copy_example, copy_lib, python_for, run, sam_build
from samlink.audit.elf import read_elf

pytestmark = pytest.mark.sam

SAMLINK = BIN / "samlink"

TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.11
    Handler: app.handler
Resources:
  DepsLayer:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: layer/
      CompatibleRuntimes: [python3.11]
  SharedOne:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: shared/
      Handler: one.handler
      Layers: [!Ref DepsLayer]
  SharedTwo:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: shared/
      Handler: two.handler
  Py312:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: py312/
      Runtime: python3.12
  Arm:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: arm/
      Runtime: python3.12
      Architectures: [arm64]
  NsFlat:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: nsflat/
  Seed:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: seed/
"""

MARKUP_APP = """
import markupsafe, sys
def handler(event, context):
    return {"escaped": str(markupsafe.escape("<b>")), "python": sys.version_info[:2]}
"""


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def cases(tmp_path: Path, wheelhouse: Path) -> Path:
    project = tmp_path / "cases"
    checkouts = tmp_path / "checkouts"
    checkouts.mkdir()
    write(project / "template.yaml", TEMPLATE)
    write(project / "layer" / "requirements.txt", f"--find-links {wheelhouse}\nacme-hatch==1.0.0\n")
    write(project / "layer" / "layer_helper.py", "def helper():\n    return 'helper v1'\n")
    write(project / "shared" / "requirements.txt", "six==1.16.0\n")
    write(
        project / "shared" / "one.py",
        "import acme_hatch, layer_helper\n"
        "def handler(event, context):\n"
        "    return [acme_hatch.value(), layer_helper.helper()]\n",
    )
    write(
        project / "shared" / "two.py",
        "import six\ndef handler(event, context):\n    return six.__name__ + ' two'\n",
    )
    for name in ("py312", "arm"):
        write(project / name / "requirements.txt", "markupsafe==3.0.2\n")
        write(project / name / "app.py", MARKUP_APP)
    write(
        project / "nsflat" / "requirements.txt", f"--find-links {wheelhouse}\nacme-ns-flat==1.0.0\n"
    )
    write(
        project / "nsflat" / "app.py",
        "import acme.nsflat\ndef handler(event, context):\n    return acme.nsflat.value()\n",
    )
    copy_lib("st_flat", checkouts)
    write(project / "seed" / "requirements.txt", "-e ../../checkouts/st_flat\n")
    write(
        project / "seed" / "app.py",
        "import acme_st_flat\ndef handler(event, context):\n    return acme_st_flat.value()\n",
    )
    run([SAMLINK, "init"], project, os.environ.copy())
    return project


def test_layer_shared_dir_python312_arm64_namespace_and_seed_lines(
    cases: Path, tool_env: dict[str, str], tmp_path: Path
) -> None:
    checkouts = tmp_path / "checkouts"
    makefile = (cases / "shared" / "Makefile").read_text()
    assert "build-SharedOne:" in makefile and "build-SharedTwo:" in makefile
    assert "BuildMethod: makefile" in (cases / "template.yaml").read_text()
    run([SAMLINK, "link", copy_lib("hatch_lib", checkouts)], cases, tool_env)
    run([SAMLINK, "link", copy_lib("ns_flat", checkouts)], cases, tool_env)
    built = sam_build(cases, tool_env)
    output = built.stdout + built.stderr
    build = cases / ".aws-sam" / "build"

    # A layer: the linked library sits under python/, live; the function loads it from /opt.
    layer = build / "DepsLayer"
    assert (layer / "python" / "acme_hatch").is_symlink()
    assert call_handler(build / "SharedOne", handler="one.handler", layers=[layer]) == [
        "hatch v1",
        "helper v1",
    ]
    # Two functions sharing one code dir and one Makefile.
    assert call_handler(build / "SharedTwo", handler="two.handler") == "six two"

    # python3.12 on this 3.11 host: cp312 wheels, and they load under a real 3.12.
    sos = list((build / "Py312" / "markupsafe").glob("*.so"))
    assert sos and all("cpython-312-x86_64" in so.name for so in sos)
    result = call_handler(build / "Py312", handler="app.handler", python=python_for("3.12"))
    assert result == {"escaped": "&lt;b&gt;", "python": [3, 12]}

    # arm64 with a compiled dependency: aarch64 ELF files.
    arm_sos = list((build / "Arm" / "markupsafe").glob("*.so"))
    assert arm_sos
    for so in arm_sos:
        info = read_elf(so)
        assert info is not None and info.machine == "aarch64"

    # A flat-layout namespace package cannot be linked without its project root: real files.
    assert call_handler(build / "NsFlat", handler="app.handler") == "nsflat v1"
    assert not (build / "NsFlat" / "acme").is_symlink()
    assert "copied, not live" in output
    status = json.loads(run([SAMLINK, "status", "--json"], cases, tool_env).stdout)
    by_id = {item["id"]: item for item in status["resources"]}
    assert by_id["NsFlat"]["materialized"]
    assert by_id["DepsLayer"]["links"] == ["acme-hatch"]

    # A seed-style `-e ../path` line is honoured as a live link (relative to the file's folder).
    assert (build / "Seed" / "acme_st_flat").is_symlink()
    assert call_handler(build / "Seed", handler="app.handler") == "st_flat v1"

    # Live edits: the layer's linked library, the layer's own code, the -e project.
    hatch = checkouts / "hatch_lib" / "src" / "acme_hatch" / "__init__.py"
    hatch.write_text(hatch.read_text().replace("hatch v1", "hatch v2"))
    helper = cases / "layer" / "layer_helper.py"
    helper.write_text(helper.read_text().replace("helper v1", "helper v2"))
    flat = checkouts / "st_flat" / "acme_st_flat" / "__init__.py"
    flat.write_text(flat.read_text().replace("st_flat v1", "st_flat v2"))
    assert call_handler(build / "SharedOne", handler="one.handler", layers=[layer]) == [
        "hatch v2",
        "helper v2",
    ]
    assert call_handler(build / "Seed", handler="app.handler") == "st_flat v2"

    # A new top-level file in a code dir is not in the build until the next build: status says so.
    write(cases / "shared" / "three.py", "X = 3\n")
    status = json.loads(run([SAMLINK, "status", "--json"], cases, tool_env).stdout)
    stale = {item["id"]: item["stale"] for item in status["resources"] if item["managed"]}
    assert any("three.py" in reason for reason in stale["SharedOne"])


def test_release_build_holds_real_files_only(tmp_path: Path, tool_env: dict[str, str]) -> None:
    project = copy_example(tmp_path / "hello", tool_env)
    run([SAMLINK, "init"], project, tool_env)
    run([SAMLINK, "link", "sam-sync-test-upstream"], project, tool_env)
    built = sam_build(project, {**tool_env, "SAMLINK_RELEASE": "1"})
    assert "RELEASE build" in built.stdout + built.stderr
    build = project / ".aws-sam" / "build" / "HelloWorldFunction"
    links = [p for p in build.rglob("*") if p.is_symlink()]
    assert links == []
    assert (build / "app.py").is_file()
    assert (build / "sam_sync_test_upstream-1.0.0.dist-info").is_dir()
    assert json.loads(call_handler(build)["body"])["message"].endswith("1.0.0")  # type: ignore[index]
    # A release build ignores links on purpose: that does not make it stale.
    status = json.loads(run([SAMLINK, "status", "--json"], project, tool_env).stdout)
    assert status["resources"][0]["stale"] == []

    # A seed-style -e line is refused in a release build, with the file and line.
    (project / "hello_world" / "requirements.txt").write_text("-e ../sam-sync-test-upstream\n")
    failed = run([BIN / "sam", "build"], project, {**tool_env, "SAMLINK_RELEASE": "1"}, check=False)
    assert failed.returncode != 0
    assert "requirements.txt:1: local project" in failed.stdout + failed.stderr


def test_fallback_without_samlink_builds_link_free(
    tmp_path: Path, tool_env: dict[str, str]
) -> None:
    """A teammate without samlink: the same Makefile target installs the pins with pip."""
    project = copy_example(tmp_path / "team mate", tool_env)
    run([SAMLINK, "init"], project, tool_env)
    run([SAMLINK, "link", "sam-sync-test-upstream"], project, tool_env)  # ignored: no samlink
    path = os.pathsep.join(p for p in tool_env["PATH"].split(os.pathsep) if Path(p) != BIN)
    env = {**tool_env, "PATH": path}
    assert shutil.which("samlink", path=path) is None
    built = run([BIN / "sam", "build"], project, env)
    assert "samlink not found" in built.stdout + built.stderr
    build = project / ".aws-sam" / "build" / "HelloWorldFunction"
    assert [p for p in build.rglob("*") if p.is_symlink()] == []
    assert not (build / "requirements.txt").exists() and not (build / "Makefile").exists()
    assert json.loads(call_handler(build)["body"])["message"].endswith("1.0.0")  # type: ignore[index]
