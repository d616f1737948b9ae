"""Wheel files named by requirements lines install as pip installs them (issue 15).

Real wheels built here with `uv build`, real `sam build`, real `samlink invoke`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import uv

from conftest import BIN, run, sam_build
from samlink.errors import UsageError
from samlink.model import requirements

pytestmark = pytest.mark.sam

SAMLINK = BIN / "samlink"

TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.11
    Handler: app.handler
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn/
  Abs:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: abs/
"""

APP = """
import tinywheel
def handler(event, context):
    return {"value": tinywheel.VALUE, "file": tinywheel.__file__}
"""

WHEEL = "tinywheel-1.0-py2.py3-none-any.whl"


def build_wheel(work: Path, value: int) -> Path:
    """A real wheel of a tiny flit project whose module says VALUE = value."""
    src = work / f"src-{value}"
    (src / "tinywheel").mkdir(parents=True)
    (src / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["flit_core>=3.4"]\nbuild-backend = "flit_core.buildapi"\n'
        '[project]\nname = "tinywheel"\nversion = "1.0"\ndescription = "tiny"\n'
    )
    (src / "tinywheel" / "__init__.py").write_text(f"VALUE = {value}\n")
    out = work / f"out-{value}"
    subprocess.run(
        [uv.find_uv_bin(), "build", "--wheel", "--quiet", "--out-dir", str(out), str(src)],
        check=True,
        timeout=600,
    )
    return out / WHEEL


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def setup(tmp_path: Path, tool_env: dict[str, str]) -> tuple[Path, dict[str, str], Path, Path]:
    """A project whose Fn names `./wheels/tinywheel...whl` and Abs the same wheel elsewhere by
    `tinywheel @ file:///abs/...`; a private store so its entries can be counted."""
    one, two = build_wheel(tmp_path, 1), build_wheel(tmp_path, 2)
    project = tmp_path / "project"
    write(project / "template.yaml", TEMPLATE)
    write(project / "fn" / "app.py", APP)
    (project / "fn" / "wheels").mkdir()
    shutil.copy(one, project / "fn" / "wheels" / WHEEL)
    write(project / "fn" / "requirements.txt", f"./wheels/{WHEEL}\n")
    elsewhere = tmp_path / "shared wheels" / WHEEL  # a space: the URL is quoted
    elsewhere.parent.mkdir()
    shutil.copy(one, elsewhere)
    write(project / "abs" / "app.py", APP)
    write(project / "abs" / "requirements.txt", f"tinywheel @ {elsewhere.as_uri()}\n")
    env = {**tool_env, "SAMLINK_CACHE_DIR": str(tmp_path / "cache")}
    run([SAMLINK, "init"], project, env)
    return project, env, one, two


def invoke(project: Path, env: dict[str, str], function: str) -> dict[str, object]:
    result = run([SAMLINK, "invoke", function], project, env)
    found: dict[str, object] = json.loads(result.stdout)
    return found


def entries(project: Path, env: dict[str, str]) -> list[dict[str, object]]:
    report = json.loads(run([SAMLINK, "cache", "list", "--json"], project, env).stdout)
    found: list[dict[str, object]] = report["entries"]
    return found


def samlink_build(
    project: Path, env: dict[str, str], artifacts: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    command: list[str | Path] = [SAMLINK, "build", "Fn", "--template", project / "template.yaml"]
    command += args
    return run(command, project, {**env, "ARTIFACTS_DIR": str(artifacts)}, check=False)


def test_wheel_lines_install_share_by_content_and_rebuild_on_change(
    setup: tuple[Path, dict[str, str], Path, Path],
) -> None:
    project, env, _, two = setup
    sam_build(project, env)
    build = project / ".aws-sam" / "build"
    for function in ("Fn", "Abs"):
        result = invoke(project, env, function)
        assert result["value"] == 1
        assert not (build / function / "tinywheel").is_symlink()  # real files, from the store
    # The same wheel at two paths is one store entry: keyed by content, not by where it lies.
    assert len(entries(project, env)) == 1

    # Another wheel under the same name: the warm build must not replay the old one.
    shutil.copy(two, project / "fn" / "wheels" / WHEEL)
    sam_build(project, env)
    assert invoke(project, env, "Fn")["value"] == 2
    assert invoke(project, env, "Abs")["value"] == 1
    assert len(entries(project, env)) == 2

    # A release build takes a wheel line (a built artifact, not a checkout).
    sam_build(project, {**env, "SAMLINK_RELEASE": "1"})
    assert invoke(project, env, "Fn")["value"] == 2


def test_wheel_line_tags_and_hashes_are_checked_before_installing(
    setup: tuple[Path, dict[str, str], Path, Path], tmp_path: Path
) -> None:
    project, env, one, _ = setup
    wheels = project / "fn" / "wheels"
    foreign = "tinywheel-1.0-cp312-cp312-win_amd64.whl"
    shutil.copy(one, wheels / foreign)
    write(project / "fn" / "requirements.txt", f"./wheels/{foreign}\n")
    refused = samlink_build(project, env, tmp_path / "a1")
    assert refused.returncode == 2, refused.stderr
    assert f"./wheels/{foreign} does not run on python3.11 x86_64 Lambda" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert entries(project, env) == []  # nothing was installed

    digest = hashlib.sha256((wheels / WHEEL).read_bytes()).hexdigest()
    write(project / "fn" / "requirements.txt", f"./wheels/{WHEEL} --hash=sha256:{'0' * 64}\n")
    mismatch = samlink_build(project, env, tmp_path / "a2")
    assert mismatch.returncode == 1, mismatch.stderr
    assert "DO NOT MATCH THE HASHES" in mismatch.stderr and digest in mismatch.stderr
    assert entries(project, env) == []

    write(project / "fn" / "requirements.txt", f"./wheels/{WHEEL} --hash=sha256:{digest}\n")
    for installer in ("uv", "pip"):  # both installers take the line and its hash
        out = tmp_path / f"a3-{installer}"
        built = samlink_build(project, env, out, "--installer", installer)
        assert built.returncode == 0, built.stderr
        assert (out / "tinywheel" / "__init__.py").read_text() == "VALUE = 1\n"


def test_fallback_without_samlink_installs_the_wheel_line(
    setup: tuple[Path, dict[str, str], Path, Path],
) -> None:
    """The generated Makefile's plain pip fallback (a teammate without samlink) takes the line."""
    project, env, _, _ = setup
    path = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if Path(p) != BIN)
    built = run([BIN / "sam", "build", "Fn"], project, {**env, "PATH": path})
    assert "samlink not found" in built.stdout + built.stderr
    build = project / ".aws-sam" / "build" / "Fn"
    assert (build / "tinywheel" / "__init__.py").read_text() == "VALUE = 1\n"
    assert any(build.glob("tinywheel-1.0.dist-info"))


def test_parser_reads_wheel_lines(tmp_path: Path) -> None:
    wheel = tmp_path / "wheels" / WHEEL
    wheel.parent.mkdir()
    wheel.write_bytes(b"not opened by the parser")
    file = tmp_path / "requirements.txt"
    file.write_text(
        f"./wheels/{WHEEL} ; python_version >= '3.10'\n"
        f"TinyWheel @ file:{wheel.parent.name}/{WHEEL}\n"
    )
    first, second = requirements.parse(file).lines
    assert first.wheel == second.wheel == wheel and first.path is None
    assert first.requirement is not None and second.requirement is not None
    assert str(first.requirement) == f'tinywheel @ {wheel.as_uri()} ; python_version >= "3.10"'
    assert second.requirement.url == wheel.as_uri()
    assert requirements.parse(file).local_lines == ()
    for text, message in (
        (f"-e ./wheels/{WHEEL}\n", "-e names a wheel file"),
        (f"other @ file:./wheels/{WHEEL}\n", "the line names other but"),
        ("./wheels/missing-1.0-py3-none-any.whl\n", "wheel file"),
        ("./wheels/notawheel.whl\n", "not a valid wheel file name"),
    ):
        file.write_text(text)
        with pytest.raises(UsageError, match=message):
            requirements.parse(file)
