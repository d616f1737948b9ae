"""Projects whose functions declare their libraries in pyproject.toml with a real lock (issue 13).

A uv workspace: a SAM template at its root, one function (`functions/hello`, not a package
itself) that depends on `six`, on the member `corelib` (hatchling, src layout, which depends on
`idna`) and on the member `stlib` (setuptools, flat layout: its backend writes `build/` and
`*.egg-info` into the folder it builds in), on `tools` (a uv path source outside the workspace,
`extern/tools`), and a dev group with `attrs`. Locked by the real
`uv lock` (tiny dependencies from the package index).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from conftest import BIN, run

UV = BIN / "uv"
TEMPLATE = """\
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Resources:
  HelloFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/hello/
      Handler: app.lambda_handler
      Runtime: python3.12
      Architectures: [x86_64]
"""
APP = """\
import corelib
import idna
import six
import stlib


def lambda_handler(event, context):
    return {"core": corelib.VALUE, "st": stlib.VALUE, "six": six.__version__,
            "idna": idna.__version__}
"""


def uv_workspace(root: Path, env: dict[str, str]) -> Path:
    """Write the workspace under `root` and lock it with uv; the workspace folder."""
    ws = root / "ws"
    hello = ws / "functions" / "hello"
    core = ws / "packages" / "corelib"
    st = ws / "packages" / "stlib"
    tools = root / "extern" / "tools"
    for folder in (hello, core / "src" / "corelib", st / "stlib", tools / "tools_lib"):
        folder.mkdir(parents=True)
    (ws / "template.yaml").write_text(TEMPLATE)
    (ws / "pyproject.toml").write_text(
        '[project]\nname = "ws-root"\nversion = "0"\nrequires-python = ">=3.10"\n'
        '[tool.uv.workspace]\nmembers = ["functions/*", "packages/*"]\n'
    )
    (hello / "pyproject.toml").write_text(
        '[project]\nname = "hello"\nversion = "0.1.0"\nrequires-python = ">=3.10"\n'
        'dependencies = ["six==1.17.0", "corelib", "stlib", "tools"]\n'
        '[dependency-groups]\ndev = ["attrs"]\n'
        "[tool.uv.sources]\ncorelib = { workspace = true }\nstlib = { workspace = true }\n"
        'tools = { path = "../../../extern/tools" }\n'
        "[tool.uv]\npackage = false\n"
    )
    (hello / "app.py").write_text(APP)
    (core / "pyproject.toml").write_text(
        '[project]\nname = "corelib"\nversion = "2.3.0"\nrequires-python = ">=3.10"\n'
        'dependencies = ["idna>=3"]\n'
        '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'
    )
    (core / "src" / "corelib" / "__init__.py").write_text("VALUE = 'core'\n")
    (core / "src" / "corelib" / "extra.py").write_text("MORE = 1\n")
    (st / "pyproject.toml").write_text(
        '[project]\nname = "stlib"\nversion = "0.5.0"\nrequires-python = ">=3.10"\n'
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
        '[tool.setuptools]\npackages = ["stlib"]\n'
    )
    (st / "stlib" / "__init__.py").write_text("VALUE = 'st'\n")
    (tools / "pyproject.toml").write_text(
        '[project]\nname = "tools"\nversion = "0.2.0"\nrequires-python = ">=3.10"\n'
        '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'
        '[tool.hatch.build.targets.wheel]\npackages = ["tools_lib"]\n'
    )
    (tools / "tools_lib" / "__init__.py").write_text("NAME = 'tools'\n")
    lock_env = {k: v for k, v in env.items() if k != "VIRTUAL_ENV"}
    run([UV, "lock", "--python", sys.executable, "--no-progress"], ws, lock_env)
    return ws


def locked_version(lock: Path, name: str) -> str:
    """The version `uv.lock` holds for a package."""
    lines = lock.read_text().splitlines()
    at = lines.index(f'name = "{name}"')
    assert lines[at + 1].startswith("version = ")
    return lines[at + 1].split('"')[1]


def tree_files(folder: Path) -> set[str]:
    """Every file and folder under `folder`, relative (to see what a build wrote there)."""
    return {
        os.path.relpath(os.path.join(d, n), folder)
        for d, dirs, files in os.walk(folder)
        for n in dirs + files
    }
