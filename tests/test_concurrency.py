"""Several samlink processes on one project at once: no lost update, no torn read.

Real `samlink` processes started together, several rounds each: a race that loses in one run of
several shows up within a few rounds (the issue saw 6 lost updates in 12 runs of three inits).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from conftest import BIN, copy_lib, run, sam_build
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


# -- invokes of a stale build: the rebuild is swapped in whole, and done once --------------------

LISTING = """\
import os

def handler(event, context):
    # What a reader of the build sees: the top-level names of /var/task, each readable.
    root = os.environ["LAMBDA_TASK_ROOT"]
    names = sorted(n for n in os.listdir(root) if n.endswith(".py"))
    for name in names:
        with open(os.path.join(root, name)) as f:
            f.read()
    return names
"""

ONE_FUNCTION = """\
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn/
      Handler: app.handler
      Runtime: python3.12
"""


@pytest.mark.sam
def test_concurrent_invokes_of_a_stale_build_all_see_the_new_build(
    tmp_path: Path, tool_env: dict[str, str]
) -> None:
    project = tmp_path / "project"
    (project / "fn").mkdir(parents=True)
    (project / "fn" / "app.py").write_text(LISTING)
    (project / "fn" / "requirements.txt").write_text("")
    (project / "template.yaml").write_text(ONE_FUNCTION)
    run([SAMLINK, "init"], project, tool_env)
    sam_build(project, tool_env)
    env = {**tool_env, "SAMLINK_SANDBOX": "namespace"}
    # What a rebuild killed outright leaves: removed by the next rebuild.
    (project / ".aws-sam" / "build" / ".Fn.rebuild-killed00").mkdir()
    for round_ in range(3):
        # A new top-level module: the dev build goes stale ("new top-level file(s)").
        (project / "fn" / f"mod_{round_}.py").write_text(f"VALUE = {round_}\n")
        invoke = [str(SAMLINK), "invoke", "Fn", "--no-docker"]
        procs = [
            subprocess.Popen(
                invoke, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
            for _ in range(4)
        ]
        outputs = [proc.communicate(timeout=300) for proc in procs]
        for proc, (out, err) in zip(procs, outputs, strict=True):
            assert proc.returncode == 0, err.decode()
            assert json.loads(out) == ["app.py", *(f"mod_{i}.py" for i in range(round_ + 1))]
        logs = [err.decode() for _out, err in outputs]
        # One did the work; the others waited for it and found the build fresh.
        did = [log for log in logs if "rebuilding Fn" in log and "rebuilt meanwhile" not in log]
        assert len(did) == 1, logs
    build = project / ".aws-sam" / "build"
    assert (build / "Fn").stat().st_mode & 0o777 == 0o755
    assert sorted(p.name for p in build.iterdir()) == ["Fn", "template.yaml"]
