"""Several samlink processes on one project at once: no lost update, no torn read.

Real `samlink` processes started together, several rounds each: a race that loses in one run of
several shows up within a few rounds (the issue saw 6 lost updates in 12 runs of three inits).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from conftest import BIN, copy_lib
from samlink.model import links
from samlink.model.template import load_template

SAMLINK = BIN / "samlink"
ROUNDS = 4
# Fixture library -> its distribution name.
LIBRARIES = {"flit_lib": "acme_flit", "hatch_lib": "acme-hatch", "single_mod": "acme-single"}

FUNCTIONS = ["FnA", "FnB", "FnC", "FnD", "FnE"]
# All but the last share a code dir, so their inits also merge one Makefile.
TEMPLATE = """\
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Resources:
""" + "".join(
    f"""\
  {fn}:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: {"c" if fn == FUNCTIONS[-1] else "shared"}/
      Handler: {fn.lower()}.handler
      Runtime: python3.12
"""
    for fn in FUNCTIONS
)


def together(commands: list[list[str]], cwd: Path, env: dict[str, str]) -> None:
    """Start every command before any is waited for; each must succeed."""
    procs = [
        subprocess.Popen(c, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for c in commands
    ]
    for command, proc in zip(commands, procs, strict=True):
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, (command, out.decode(), err.decode())


def make_project(root: Path) -> Path:
    for folder in ("shared", "c"):
        (root / folder).mkdir(parents=True)
        (root / folder / "requirements.txt").write_text("")
    (root / "template.yaml").write_text(TEMPLATE)
    return root


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_concurrent_inits_lose_nothing(
    tmp_path: Path, tool_env: dict[str, str], round_: int
) -> None:
    project = make_project(tmp_path / "project")
    together([[str(SAMLINK), "init", fn] for fn in FUNCTIONS], project, tool_env)
    template = load_template(project / "template.yaml")
    assert sorted(r.logical_id for r in template.resources.values() if r.managed) == FUNCTIONS
    shared = (project / "shared" / "Makefile").read_text()
    assert [fn for fn in FUNCTIONS[:-1] if f"build-{fn}:" not in shared] == []
    assert f"build-{FUNCTIONS[-1]}:" in (project / "c" / "Makefile").read_text()


@pytest.mark.parametrize("round_", range(2))
def test_concurrent_links_lose_nothing(
    tmp_path: Path, tool_env: dict[str, str], round_: int
) -> None:
    project = make_project(tmp_path / "project")
    checkouts = [copy_lib(name, tmp_path / "checkouts") for name in LIBRARIES]
    requirements = "".join(f"{name}==1.0.0\n" for name in LIBRARIES.values())
    (project / "shared" / "requirements.txt").write_text(requirements)
    together([[str(SAMLINK), "link", str(c)] for c in checkouts], project, tool_env)
    assert len(links.load(project)) == len(checkouts)
    # And back: three unlinks at once leave none.
    keys = [item.key for item in links.load(project)]
    together([[str(SAMLINK), "unlink", key] for key in keys], project, tool_env)
    assert links.load(project) == []
