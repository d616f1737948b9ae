"""The commands a user types: init, link, unlink, status; bad input gets one line and exit 2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import BIN, EXAMPLE, LIBS, copy_example, run

SAMLINK = BIN / "samlink"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_example(tmp_path / "proj")


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_init_writes_template_makefile_config_gitignore_and_is_idempotent(
    project: Path, tool_env: dict[str, str]
) -> None:
    original = (project / "template.yaml").read_text()
    dry = run([SAMLINK, "init", "--dry-run"], project, tool_env)
    assert "+++ b/template.yaml" in dry.stdout and "+      BuildMethod: makefile" in dry.stdout
    assert (project / "template.yaml").read_text() == original
    assert not (project / "hello_world" / "Makefile").exists()

    run([SAMLINK, "init"], project, tool_env)
    text = (project / "template.yaml").read_text()
    added = [line for line in text.splitlines() if line not in original.splitlines()]
    assert [line.strip() for line in added] == ["Metadata:", "BuildMethod: makefile"]
    makefile = (project / "hello_world" / "Makefile").read_text()
    assert "build-HelloWorldFunction:" in makefile and "--template ../template.yaml" in makefile
    assert "mount_symlinks = true" in (project / "samconfig.toml").read_text()
    assert ".samlink/" in (project / ".gitignore").read_text()

    before = snapshot(project)
    again = run([SAMLINK, "init"], project, tool_env)
    assert snapshot(project) == before
    assert "already set up" in again.stderr


def bad(cmd: list[str | Path], cwd: Path, env: dict[str, str]) -> str:
    before = snapshot(cwd)
    result = run(cmd, cwd, env, check=False)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "hint:" in lines[0], result.stderr
    assert snapshot(cwd) == before
    return lines[0]


def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    project: Path, tool_env: dict[str, str]
) -> None:
    (project / "broken.yaml").write_text("Resources:\n  Fn: [unclosed\n")
    assert "broken.yaml" in bad([SAMLINK, "init", "-t", "broken.yaml"], project, tool_env)
    assert "Nope" in bad([SAMLINK, "init", "Nope"], project, tool_env)
    (project / "not-a-project").mkdir()
    assert "not a Python project" in bad([SAMLINK, "link", "not-a-project"], project, tool_env)
    (project / "hello_world" / "requirements.txt").write_text("requests===\n")
    assert "requirements.txt:1" in bad(
        [SAMLINK, "link", "sam-sync-test-upstream"], project, tool_env
    )
    (project / "node.yaml").write_text(
        "Transform: AWS::Serverless-2016-10-31\nResources:\n  Js:\n"
        "    Type: AWS::Serverless::Function\n    Properties:\n"
        "      CodeUri: hello_world/\n      Handler: a.b\n      Runtime: nodejs20.x\n"
    )
    assert "Js" in bad([SAMLINK, "init", "-t", "node.yaml", "Js"], project, tool_env)
    assert "not linked" in bad([SAMLINK, "unlink", "nope"], project, tool_env)


def test_link_status_unlink(project: Path, tool_env: dict[str, str], tmp_path: Path) -> None:
    run([SAMLINK, "init"], project, tool_env)
    linked = run([SAMLINK, "link", "sam-sync-test-upstream"], project, tool_env)
    assert "reaches: HelloWorldFunction" in linked.stdout
    registry = json.loads((project / ".samlink" / "links.json").read_text())
    assert registry["links"][0]["name"] == "sam-sync-test-upstream"
    assert (
        registry["links"][0]["path"] == "sam-sync-test-upstream"
    )  # relative: moves with the project
    status = json.loads(run([SAMLINK, "status", "--json"], project, tool_env).stdout)
    assert status["links"][0]["reaches"] == ["HelloWorldFunction"]
    assert status["links"][0]["problems"] == []
    # A link given --function reaches a resource whose requirements do not name it.
    other = shutil.copytree(LIBS / "single_mod", tmp_path / "single")
    run([SAMLINK, "link", other, "--function", "HelloWorldFunction"], project, tool_env)
    shutil.rmtree(other)
    status = json.loads(run([SAMLINK, "status", "--json"], project, tool_env).stdout)
    broken = {item["name"]: item["problems"] for item in status["links"]}
    assert broken["acme-single"] and "gone" in broken["acme-single"][0]
    run([SAMLINK, "unlink", "acme-single"], project, tool_env)
    run([SAMLINK, "unlink", "--all"], project, tool_env)
    assert json.loads((project / ".samlink" / "links.json").read_text())["links"] == []
    # Requirements files are never edited.
    assert (project / "hello_world" / "requirements.txt").read_text() == (
        EXAMPLE / "hello_world" / "requirements.txt"
    ).read_text()
