"""Which Python runs a function (issue 15): uv's managed Pythons are found as `uv python find`
finds them; without a Python of the runtime's version, a build compiled for it is refused (exit 2,
the command that installs one) and a pure-Python build runs on the host's with a warning.

Real `sam build`, real wheels from PyPI (markupsafe's cp314 manylinux wheel), real interpreters.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import BIN, python_for, run, sam_build
from samlink.runtime.python import compiled_for

SAMLINK = BIN / "samlink"

TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.14
    Handler: app.handler
Resources:
  Compiled:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: compiled/
  Pure:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: pure/
"""

APP = """
import sys
def handler(event, context):
    import {module}
    return {{"module": {module}.__name__, "python": list(sys.version_info[:2])}}
"""


def no_python(tmp_path: Path, env: dict[str, str], version: str) -> dict[str, str]:
    """`env` with no Python `version` to find: no pyenv, an empty uv install dir, PATH minus any
    folder that has one."""
    (tmp_path / "no-pyenv").mkdir()
    (tmp_path / "no-uv-pythons").mkdir()
    path = os.pathsep.join(
        p for p in env["PATH"].split(os.pathsep) if not (Path(p) / f"python{version}").exists()
    )
    return {
        **env,
        "PATH": path,
        "PYENV_ROOT": str(tmp_path / "no-pyenv"),
        "UV_PYTHON_INSTALL_DIR": str(tmp_path / "no-uv-pythons"),
    }


@pytest.mark.sam
def test_compiled_build_without_its_python_is_refused_pure_one_runs(
    tmp_path: Path, tool_env: dict[str, str]
) -> None:
    if sys.version_info[:2] == (3, 14):
        pytest.skip("samlink runs on Python 3.14 here: the host's Python is the runtime's")
    project = tmp_path / "project"
    for name, requirement, module in (
        ("compiled", "markupsafe==3.0.3", "markupsafe"),
        ("pure", "six==1.17.0", "six"),
    ):
        (project / name).mkdir(parents=True)
        (project / name / "requirements.txt").write_text(requirement + "\n")
        (project / name / "app.py").write_text(APP.format(module=module))
    (project / "template.yaml").write_text(TEMPLATE)
    run([SAMLINK, "init"], project, tool_env)
    sam_build(project, tool_env)
    wheel = project / ".aws-sam/build/Compiled/markupsafe-3.0.3.dist-info/WHEEL"
    assert "Tag: cp314-cp314-manylinux" in wheel.read_text()  # a real cp314 wheel was installed

    env = no_python(tmp_path, tool_env, "3.14")
    refused = run([SAMLINK, "invoke", "Compiled"], project, env, check=False)
    assert refused.returncode == 2, refused.stderr
    assert (
        "python3.14 function holds compiled code for CPython 3.14 (markupsafe) and this machine "
        "has no Python 3.14" in refused.stderr
    )
    assert "`uv python install 3.14`" in refused.stderr and "Traceback" not in refused.stderr
    assert refused.stdout == ""  # nothing ran

    ran = run([SAMLINK, "invoke", "Pure"], project, env)
    assert json.loads(ran.stdout)["module"] == "six"
    assert "no Python 3.14 found" in ran.stderr and "uv python install 3.14" in ran.stderr


def test_compiled_for_reads_wheel_tags_and_module_names(tmp_path: Path) -> None:
    build, layer = tmp_path / "fn", tmp_path / "layer"
    rows = {
        build / "native-1.0.dist-info": "cp314-cp314-manylinux_2_17_x86_64",
        build / "freethreaded-1.0.dist-info": "cp314-cp314t-manylinux_2_17_x86_64",
        build / "stable-1.0.dist-info": "cp311-abi3-manylinux_2_17_x86_64",
        build / "pure-1.0.dist-info": "py3-none-any",
        build / "other-1.0.dist-info": "cp31-cp31-manylinux_2_17_x86_64",  # not 3.14's prefix
        layer / "python" / "inlayer-2.0.dist-info": "cp314-cp314-manylinux_2_34_x86_64",
    }
    for folder, tag in rows.items():
        folder.mkdir(parents=True)
        (folder / "WHEEL").write_text(f"Wheel-Version: 1.0\nTag: {tag}\n")
    (build / "single.cpython-314-x86_64-linux-gnu.so").write_bytes(b"")
    (build / "host.cpython-311-x86_64-linux-gnu.so").write_bytes(b"")
    found = compiled_for((3, 14), [build, layer])
    assert found == ["freethreaded", "native", "single.cpython-314-x86_64-linux-gnu.so", "inlayer"]
    assert compiled_for((3, 13), [build, layer]) == []


@pytest.mark.parametrize("where", ["UV_PYTHON_INSTALL_DIR", "XDG_DATA_HOME"])
def test_uv_managed_pythons_are_found_as_uv_finds_them(tmp_path: Path, where: str) -> None:
    """A uv-managed Python (uv's folder layout, `cpython-3.12.X-linux-x86_64-gnu/bin/...`, in
    UV_PYTHON_INSTALL_DIR or uv's default `$XDG_DATA_HOME/uv/python`) with nothing else to find.
    Downloading one (`uv python install`) is not possible here (no route to its download host):
    the install is made of links to a real interpreter of this machine, which uv accepts."""
    real = python_for("3.12")
    home = tmp_path / "uv-pythons" if where == "UV_PYTHON_INSTALL_DIR" else tmp_path / "data"
    install = home if where == "UV_PYTHON_INSTALL_DIR" else home / "uv" / "python"
    found_version = subprocess.run(
        [real, "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    bin_dir = install / f"cpython-{found_version}-linux-x86_64-gnu" / "bin"
    bin_dir.mkdir(parents=True)
    for name in ("python", "python3", "python3.12"):
        (bin_dir / name).symlink_to(real)
    env = no_python(tmp_path, dict(os.environ), "3.12")
    env.pop("UV_PYTHON_INSTALL_DIR")
    env[where] = str(home)
    code = (
        "from samlink.runtime.python import find_interpreter; "
        "found = find_interpreter((3, 12)); print(found.version if found else None)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert result.stdout.strip() == "(3, 12)", result.stderr
    shutil.rmtree(install)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert result.stdout.strip() == "None"  # and only through uv's folder
