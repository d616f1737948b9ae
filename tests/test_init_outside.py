"""`samlink init` never writes a Makefile outside the project root (the git work tree holding the
template, or the directory SAM runs in) unless --force; the dry run says the same."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import BIN, run

SAMLINK = BIN / "samlink"
TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: {code_uri}
      Handler: app.handler
      Runtime: python3.12
"""


def make(repo: Path, code_uri: str, code_dir: Path) -> Path:
    (repo / "sam").mkdir(parents=True)
    template = repo / "sam" / "template.yaml"
    template.write_text(TEMPLATE.format(code_uri=code_uri))
    code_dir.mkdir(parents=True, exist_ok=True)
    (code_dir / "app.py").write_text("def handler(event, context):\n    return 1\n")
    return template


def files(*roots: Path) -> dict[str, bytes]:
    return {
        str(p): p.read_bytes() for root in roots for p in sorted(root.rglob("*")) if p.is_file()
    }


def refused(cmd: list[str | Path], cwd: Path, env: dict[str, str], *watch: Path) -> str:
    before = files(*watch)
    result = run(cmd, cwd, env, check=False)
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("samlink: error: Fn: code dir ") and "outside the project" in line
    assert "(hint: " in line and "--force" in line
    assert files(*watch) == before
    return line


def test_code_dir_outside_is_refused_dry_run_says_so_force_writes(
    tmp_path: Path, tool_env: dict[str, str]
) -> None:
    repo = tmp_path / "project"
    outside = tmp_path / "elsewhere" / "code"
    template = make(repo, "../../elsewhere/code/", outside)
    for dry in ([], ["--dry-run"]):
        refused([SAMLINK, "init", *dry, "-t", template], repo, tool_env, repo, outside)
    assert not (outside / "Makefile").exists()

    dry = run([SAMLINK, "init", "--force", "--dry-run", "-t", template], repo, tool_env)
    assert "warning: Fn: code dir" in dry.stderr and "would write its Makefile" in dry.stderr
    assert "Makefile" in dry.stdout and not (outside / "Makefile").exists()
    run([SAMLINK, "init", "--force", "-t", template], repo, tool_env)
    assert "build-Fn:" in (outside / "Makefile").read_text()


def test_a_link_that_leaves_the_project_counts_as_outside(
    tmp_path: Path, tool_env: dict[str, str]
) -> None:
    repo = tmp_path / "project"
    outside = tmp_path / "elsewhere"
    template = make(repo, "fn/", outside)
    (repo / "sam" / "fn").symlink_to(outside)
    refused([SAMLINK, "init", "-t", template], repo, tool_env, repo, outside)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_sibling_code_dir_is_inside_a_git_work_tree_or_where_sam_runs(
    tmp_path: Path, tool_env: dict[str, str]
) -> None:
    # ../src from sam/template.yaml: inside when SAM runs from the top folder...
    top = tmp_path / "top"
    template = make(top, "../src/", top / "src")
    run([SAMLINK, "init", "--dry-run", "-t", "sam/template.yaml"], top, tool_env)
    # ...but not when SAM runs in sam/ and no git work tree holds both.
    refused([SAMLINK, "init", "--dry-run"], top / "sam", tool_env, top)
    # A git work tree holding the template makes the whole tree the project, wherever SAM runs.
    subprocess.run(["git", "init", "-q", str(top)], check=True)
    run([SAMLINK, "init"], top / "sam", tool_env)
    assert "build-Fn:" in (top / "src" / "Makefile").read_text()
    assert "BuildMethod: makefile" in template.read_text()
