"""Functions that declare their libraries in pyproject.toml with a uv workspace and uv.lock (issue
13): a real `uv lock` (PyPI is reachable here), real `sam build`, real invokes.

The workspace: a virtual root; `functions/hello` (virtual member, x86_64) needs `alpha`
(hatchling, src layout) and `tools` (a plain path source outside the workspace, not editable);
`alpha` needs `beta` (flit, flat layout), which needs `gamma` (setuptools): a member that needs a
member that needs a member. `functions/armfn` is an arm64 function and a packaged member.
`six` is locked at 1.15.0 while the range allows newer; `idna` is a dev group only.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
import uv

from conftest import run

UV = uv.find_uv_bin()
SIX_LOCKED = "1.15.0"

FILES: dict[str, str] = {
    "pyproject.toml": """\
[project]
name = "shop"
version = "0"
requires-python = ">=3.10"

[tool.uv]
package = false

[tool.uv.workspace]
members = ["functions/*", "libs/*"]
""",
    "functions/hello/pyproject.toml": """\
[project]
name = "hello"
version = "0.1.0"
requires-python = ">=3.10"
dependencies = ["alpha", "tools", "six>=1.10", "attrs; platform_machine == 'aarch64'"]

[dependency-groups]
dev = ["idna"]

[tool.uv]
package = false

[tool.uv.sources]
alpha = { workspace = true }
tools = { path = "../../extern/tools" }
""",
    "functions/hello/app.py": """\
import alpha
import six
import tools_lib


def handler(event, context):
    return {"alpha": alpha.describe(), "six": six.__version__, "tools": tools_lib.NAME}
""",
    "functions/armfn/pyproject.toml": """\
[project]
name = "armfn"
version = "0.1.0"
requires-python = ">=3.10"
dependencies = ["markupsafe", "gamma"]

[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[tool.hatch.build.targets.wheel]
include = ["app.py"]

[tool.uv.sources]
gamma = { workspace = true }
""",
    "functions/armfn/app.py": """\
import gamma
import markupsafe


def handler(event, context):
    return {"escaped": str(markupsafe.escape("<a>")), "gamma": gamma.VALUE}
""",
    "libs/alpha/pyproject.toml": """\
[project]
name = "alpha"
version = "0.1.0"
requires-python = ">=3.10"
dependencies = ["beta", "packaging>=20"]

[dependency-groups]
dev = ["idna"]

[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[tool.uv.sources]
beta = { workspace = true }
""",
    "libs/alpha/src/alpha/__init__.py": """\
import beta


def describe():
    return "alpha 1 " + beta.describe()
""",
    "libs/beta/pyproject.toml": """\
[project]
name = "beta"
version = "0.1.0"
description = "beta"
requires-python = ">=3.10"
dependencies = ["gamma"]

[build-system]
requires = ["flit_core>=3.4"]
build-backend = "flit_core.buildapi"

[tool.uv.sources]
gamma = { workspace = true }
""",
    "libs/beta/beta/__init__.py": '''\
"""beta"""

import gamma

__version__ = "0.1.0"


def describe():
    return f"beta 1 gamma {gamma.VALUE}"
''',
    "libs/gamma/pyproject.toml": """\
[project]
name = "gamma"
version = "0.1.0"
requires-python = ">=3.10"

[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[tool.setuptools]
packages = ["gamma"]
""",
    "libs/gamma/gamma/__init__.py": "VALUE = 1\n",
    "extern/tools/pyproject.toml": """\
[project]
name = "tools"
version = "0.2.0"
requires-python = ">=3.10"

[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[tool.hatch.build.targets.wheel]
packages = ["tools_lib"]
""",
    "extern/tools/tools_lib/__init__.py": 'NAME = "tools"\n',
}


def write_workspace(root: Path) -> Path:
    for relative, text in FILES.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.fixture(scope="module")
def locked(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The workspace, locked once by the real uv, with six pinned older than its range allows."""
    root = write_workspace(tmp_path_factory.mktemp("locked") / "shop")
    python = ["--python", sys.executable]
    run([UV, "lock", *python], root, _uv_env())
    run([UV, "lock", *python, "--upgrade-package", f"six=={SIX_LOCKED}"], root, _uv_env())
    assert f'name = "six"\nversion = "{SIX_LOCKED}"' in (root / "uv.lock").read_text()
    return root


def _uv_env() -> dict[str, str]:
    import os

    env = dict(os.environ)
    env.pop("VIRTUAL_ENV", None)
    return env


@pytest.fixture
def workspace(locked: Path, tmp_path: Path) -> Path:
    """A fresh copy of the locked workspace (the lock's paths are relative: a copy stays valid)."""
    return Path(shutil.copytree(locked, tmp_path / "shop", symlinks=True))


# --- the contract: build/declared.py -------------------------------------------------------


def test_declared_reads_the_lock_for_the_target(workspace: Path) -> None:
    from samlink.build import declared
    from samlink.model.target import target_for

    hello = workspace / "functions" / "hello"
    found = declared.read(hello, target_for("python3.12", "x86_64"))
    assert found.kind == "uv"
    assert found.source == hello / "pyproject.toml"
    assert found.export is not None
    assert found.export.lock == workspace / "uv.lock"
    pins = {line.name: line for line in found.requirements.lines if line.path is None}
    # Exactly as locked (older than the range allows), hashed, no dev group, no x86 attrs.
    assert set(pins) == {"six", "packaging"}
    assert str(pins["six"].requirement) == f"six=={SIX_LOCKED}"
    assert all(line.hashes and line.file == workspace / "uv.lock" for line in pins.values())
    locals_ = {line.name: line.path for line in found.requirements.local_lines}
    assert locals_ == {
        "alpha": workspace / "libs" / "alpha",
        "beta": workspace / "libs" / "beta",
        "gamma": workspace / "libs" / "gamma",
        "tools": workspace / "extern" / "tools",
    }
    assert "idna" in found.export.dev_only
    assert workspace / "libs" / "gamma" / "pyproject.toml" in found.export.inputs

    # arm64: the aarch64-only dependency is in.
    arm = declared.read(hello, target_for("python3.12", "arm64"))
    assert "attrs" in {line.name for line in arm.requirements.lines}


def test_requirements_txt_wins_and_a_lockless_pyproject_is_refused(workspace: Path) -> None:
    from samlink.build import declared
    from samlink.errors import UsageError
    from samlink.model.target import target_for

    target = target_for("python3.12", "x86_64")
    hello = workspace / "functions" / "hello"
    (hello / "requirements.txt").write_text("six==1.16.0\n")
    found = declared.read(hello, target)
    assert found.kind == "requirements"
    assert [str(line.requirement) for line in found.requirements.lines] == ["six==1.16.0"]

    alone = workspace.parent / "alone"
    alone.mkdir()
    (alone / "pyproject.toml").write_text('[project]\nname = "alone"\ndependencies = ["six"]\n')
    with pytest.raises(UsageError, match=r"no lock .*") as caught:
        declared.read(alone, target)
    assert "uv lock" in (caught.value.hint or "")
    (alone / "pyproject.toml").write_text('[project]\nname = "alone"\nversion = "1"\n')
    assert declared.read(alone, target).kind == "none"


def test_lock_problem_names_a_stale_lock(workspace: Path) -> None:
    from samlink.build import declared
    from samlink.model.target import target_for

    hello = workspace / "functions" / "hello"
    target = target_for("python3.12", "x86_64")
    assert declared.lock_problem(declared.read(hello, target)) is None
    lock_before = (workspace / "uv.lock").read_bytes()
    pyproject = hello / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"six>=1.10"', '"six>=1.10", "idna"'))
    problem = declared.lock_problem(declared.read(hello, target))
    assert problem is not None
    assert str(workspace / "uv.lock") in problem and "`uv lock`" in problem
    assert "\n" not in problem
    assert (workspace / "uv.lock").read_bytes() == lock_before  # never rewritten
