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

from conftest import BIN, call_handler, run, sam_build

SAMLINK = BIN / "samlink"

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
members = ["functions/*", "libs/*", "layers/*"]
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
    "layers/common/pyproject.toml": """\
[project]
name = "common-layer"
version = "0"
requires-python = ">=3.10"
dependencies = ["gamma", "six"]

[tool.uv]
package = false

[tool.uv.sources]
gamma = { workspace = true }
""",
    "template.yaml": """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  HelloFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/hello
      Handler: app.handler
      Runtime: python3.12
      Architectures: [x86_64]
  ArmFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/armfn
      Handler: app.handler
      Runtime: python3.12
      Architectures: [arm64]
  CommonLayer:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: layers/common
      CompatibleRuntimes: [python3.12]
    Metadata:
      BuildMethod: python3.12
""",
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
    # pdm's lock is not read: said by name, with the way to a file samlink reads.
    (alone / "pdm.lock").write_text('[metadata]\nlock_version = "4.5.0"\n')
    with pytest.raises(UsageError, match=r"pdm\.lock: samlink reads uv\.lock and poetry\.lock"):
        declared.read(alone, target)
    (alone / "pdm.lock").unlink()
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


# --- real sam build -----------------------------------------------------------------------


def _tree(folder: Path) -> dict[str, Path]:
    return {p.name: p for p in folder.iterdir()}


def _dist_infos(folder: Path) -> dict[str, str]:
    """name -> version of every *.dist-info at the top of a build dir."""
    found = {}
    for info in folder.glob("*.dist-info"):
        name, version = info.name.removesuffix(".dist-info").rsplit("-", 1)
        found[name.lower().replace("_", "-")] = version
    return found


def _real_files(folder: Path) -> bool:
    return not any(p.is_symlink() for p in [folder, *folder.rglob("*")])


def _listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if "__pycache__" not in p.parts)


@pytest.mark.sam
def test_dev_build_links_declared_sources_live(workspace: Path, tool_env: dict[str, str]) -> None:
    run([SAMLINK, "init"], workspace, tool_env)
    before = {name: _listing(workspace / name) for name in ("libs", "extern")}
    lock_before = (workspace / "uv.lock").read_bytes()
    built = sam_build(workspace, tool_env)
    said = built.stdout + built.stderr
    assert "stale" not in said
    hello = workspace / ".aws-sam" / "build" / "HelloFunction"
    top = _tree(hello)
    # Declared local sources, transitively, linked live by package dir (no `samlink link`).
    assert top["alpha"].resolve() == workspace / "libs" / "alpha" / "src" / "alpha"
    assert top["beta"].resolve() == workspace / "libs" / "beta" / "beta"
    assert top["gamma"].resolve() == workspace / "libs" / "gamma" / "gamma"
    assert top["tools_lib"].resolve() == workspace / "extern" / "tools" / "tools_lib"
    # Third-party exactly as locked (six older than its range allows), no dev group.
    installed = _dist_infos(hello)
    assert installed["six"] == SIX_LOCKED
    assert "packaging" in installed
    assert "idna" not in installed and "attrs" not in installed
    assert not top["six.py"].is_symlink()
    result = call_handler(hello, handler="app.handler")
    assert result == {"alpha": "alpha 1 beta 1 gamma 1", "six": SIX_LOCKED, "tools": "tools"}

    # A member of a member, edited: the next invoke sees it, no rebuild (a real invoke).
    (workspace / "libs" / "gamma" / "gamma" / "__init__.py").write_text("VALUE = 2\n")
    (workspace / "event.json").write_text("{}")
    invoked = run(
        [SAMLINK, "invoke", "HelloFunction", "--no-build", "--no-docker", "-e", "event.json"],
        workspace,
        tool_env,
    )
    assert '"alpha 1 beta 1 gamma 2"' in invoked.stdout

    # The arm64 function: aarch64 wheels, and its workspace member linked.
    arm = workspace / ".aws-sam" / "build" / "ArmFunction"
    assert _tree(arm)["gamma"].resolve() == workspace / "libs" / "gamma" / "gamma"
    wheel = next(arm.glob("markupsafe-*.dist-info")) / "WHEEL"
    assert "aarch64" in wheel.read_text()

    # A layer declared the same way: its libraries under python/, linked.
    layer = workspace / ".aws-sam" / "build" / "CommonLayer" / "python"
    assert (layer / "gamma").resolve() == workspace / "libs" / "gamma" / "gamma"
    assert _dist_infos(layer)["six"] == SIX_LOCKED

    # Nothing written into the sources or the lock.
    (workspace / "libs" / "gamma" / "gamma" / "__init__.py").write_text("VALUE = 1\n")
    assert {name: _listing(workspace / name) for name in ("libs", "extern")} == before
    assert (workspace / "uv.lock").read_bytes() == lock_before

    # A lock that changes makes the build stale (what `samlink watch` rebuilds on).
    import json
    import os

    os.utime(workspace / "uv.lock", (1, 1))
    status = json.loads(run([SAMLINK, "status", "--json"], workspace, tool_env).stdout)
    item = next(r for r in status["resources"] if r["id"] == "HelloFunction")
    assert any("uv.lock" in reason for reason in item["stale"])


@pytest.mark.sam
def test_release_build_vendors_every_declared_source(
    workspace: Path, tool_env: dict[str, str]
) -> None:
    run([SAMLINK, "init"], workspace, tool_env)
    env = {**tool_env, "SAMLINK_RELEASE": "1"}
    sam_build(workspace, env)
    hello = workspace / ".aws-sam" / "build" / "HelloFunction"
    assert _real_files(hello)
    installed = _dist_infos(hello)
    # Every local source as a real wheel install (its code, not only metadata), transitively.
    assert {"alpha", "beta", "gamma", "tools"} <= set(installed)
    for package in ("alpha/__init__.py", "beta/__init__.py", "gamma/__init__.py"):
        assert (hello / package).is_file()
    assert (hello / "tools_lib" / "__init__.py").is_file()
    assert installed["six"] == SIX_LOCKED and "idna" not in installed
    assert str(workspace) not in "".join(
        p.read_text(errors="replace") for p in hello.rglob("*") if p.suffix in (".pth", ".json")
    )
    result = call_handler(hello, handler="app.handler")
    assert result == {"alpha": "alpha 1 beta 1 gamma 1", "six": SIX_LOCKED, "tools": "tools"}
    arm = workspace / ".aws-sam" / "build" / "ArmFunction"
    assert _real_files(arm) and (arm / "gamma" / "__init__.py").is_file()
    assert any("aarch64" in so.name for so in (arm / "markupsafe").glob("*.so"))
    layer = workspace / ".aws-sam" / "build" / "CommonLayer" / "python"
    assert _real_files(layer) and (layer / "gamma" / "__init__.py").is_file()


@pytest.mark.sam
def test_stale_lock_refused_in_release_and_said_once_in_dev(
    workspace: Path, tool_env: dict[str, str]
) -> None:
    run([SAMLINK, "init"], workspace, tool_env)
    pyproject = workspace / "functions" / "hello" / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"six>=1.10"', '"six>=1.10", "idna"'))
    lock_before = (workspace / "uv.lock").read_bytes()
    env = {**tool_env, "SAMLINK_RELEASE": "1"}
    refused = run([BIN / "sam", "build", "HelloFunction"], workspace, env, check=False)
    assert refused.returncode != 0
    said = refused.stdout + refused.stderr
    line = next(line for line in said.splitlines() if "no longer matches" in line)
    assert str(workspace / "uv.lock") in line and "`uv lock`" in line
    assert "Traceback" not in said
    assert not (workspace / ".aws-sam" / "build" / "HelloFunction" / "six.py").exists()

    dev = sam_build(workspace, tool_env, "HelloFunction")
    said = dev.stdout + dev.stderr
    assert said.count("no longer matches") == 1
    assert (workspace / "uv.lock").read_bytes() == lock_before  # samlink never rewrites it
    hello = workspace / ".aws-sam" / "build" / "HelloFunction"
    assert "idna" not in _dist_infos(hello)  # what the lock says, as it is


@pytest.mark.sam
def test_unlink_a_declared_source_and_link_on_top(
    workspace: Path, tool_env: dict[str, str], tmp_path: Path
) -> None:
    import json

    run([SAMLINK, "init"], workspace, tool_env)
    said = run([SAMLINK, "unlink", "gamma"], workspace, tool_env).stdout
    assert "declared in" in said and "copy" in said
    # A hand link on top of a declared source: another checkout of alpha wins.
    other = Path(shutil.copytree(workspace / "libs" / "alpha", tmp_path / "alpha-fork"))
    init = other / "src" / "alpha" / "__init__.py"
    init.write_text(init.read_text().replace('"alpha 1 "', '"alpha fork "'))
    linked = run([SAMLINK, "link", str(other)], workspace, tool_env)
    assert "reaches: HelloFunction; run `sam build`" in linked.stdout  # the lock names alpha
    sam_build(workspace, tool_env, "HelloFunction")
    hello = workspace / ".aws-sam" / "build" / "HelloFunction"
    assert not (hello / "gamma").is_symlink() and (hello / "gamma" / "__init__.py").is_file()
    assert not (next(hello.glob("gamma-*.dist-info")) / "direct_url.json").exists()
    assert (hello / "alpha").resolve() == other / "src" / "alpha"
    assert (hello / "beta").resolve() == workspace / "libs" / "beta" / "beta"
    result = call_handler(hello, handler="app.handler")
    assert isinstance(result, dict) and result["alpha"] == "alpha fork beta 1 gamma 1"

    status = json.loads(run([SAMLINK, "status", "--json"], workspace, tool_env).stdout)
    item = next(r for r in status["resources"] if r["id"] == "HelloFunction")
    assert item["link_origins"]["alpha"] == "linked by hand"
    assert item["link_origins"]["beta"] == "declared in pyproject.toml (uv)"
    assert "gamma" not in item["links"]
    assert item["stale"] == []

    # Back to what the project declares: every source linked live again.
    run([SAMLINK, "unlink", "--all"], workspace, tool_env)
    sam_build(workspace, tool_env, "HelloFunction")
    assert (hello / "gamma").resolve() == workspace / "libs" / "gamma" / "gamma"
    assert (hello / "alpha").resolve() == workspace / "libs" / "alpha" / "src" / "alpha"
    direct_url = next(hello.glob("gamma-*.dist-info")) / "direct_url.json"
    assert json.loads(direct_url.read_text())["dir_info"] == {"editable": True}
    refused = run([SAMLINK, "unlink", "nosuch"], workspace, tool_env, check=False)
    assert refused.returncode == 2 and "gamma" in refused.stderr


def test_watch_and_sync_see_declared_sources_and_the_lock(workspace: Path) -> None:
    from samlink.live.watch import linked_sources, resources_fed
    from samlink.model.template import load_template

    sources = linked_sources(load_template(workspace / "template.yaml"))
    # A member's package outside the code dir (linked like `samlink link` would).
    gamma_py = workspace / "libs" / "gamma" / "gamma" / "__init__.py"
    fed = resources_fed(sources, gamma_py)
    assert set(fed) == {"HelloFunction", "ArmFunction", "CommonLayer"}
    assert fed["HelloFunction"].kind == "package" and fed["HelloFunction"].project == "gamma"
    # The workspace's lock and pyproject.toml, above every code dir: metadata, so a rebuild.
    for path in (workspace / "uv.lock", workspace / "pyproject.toml"):
        fed = resources_fed(sources, path)
        assert set(fed) == {"HelloFunction", "ArmFunction", "CommonLayer"}
        assert all(source.kind == "metadata" for source in fed.values())
    fed = resources_fed(sources, workspace / "functions" / "hello" / "pyproject.toml")
    assert set(fed) == {"HelloFunction"}


def test_a_tampered_lock_hash_fails_the_build(
    workspace: Path, tool_env: dict[str, str], tmp_path: Path
) -> None:
    import re

    lock = workspace / "uv.lock"
    text = lock.read_text()
    six = text.index('[[package]]\nname = "six"\n')
    end = text.index("[[package]]", six + 1)
    block = re.sub(r"sha256:[0-9a-f]{64}", "sha256:" + "0" * 64, text[six:end])
    lock.write_text(text[:six] + block + text[end:])
    dest = tmp_path / "artifacts"
    env = {**tool_env, "ARTIFACTS_DIR": str(dest)}
    template = ["--template", str(workspace / "template.yaml")]
    failed = run(
        [SAMLINK, "build", "HelloFunction", *template],
        workspace / "functions" / "hello",
        env,
        check=False,
    )
    assert failed.returncode == 1
    assert "six==1.15.0" in failed.stderr and "sha256:" + "0" * 64 in failed.stderr
    assert "Traceback" not in failed.stderr
    assert not (dest / "six.py").exists()


def test_the_staleness_check_runs_only_when_a_pyproject_or_the_lock_changed(
    workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from samlink.build import declared, uv_export
    from samlink.model.target import target_for

    hello = workspace / "functions" / "hello"
    target = target_for("python3.12", "x86_64")
    memo = tmp_path / "state"
    pyproject = hello / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"six>=1.10"', '"six>=1.10", "idna"'))
    first = declared.lock_problem(declared.read(hello, target), memo_dir=memo)
    assert first is not None and (memo / "lock-checks.json").is_file()
    runs: list[Path] = []
    real_stale = uv_export.stale

    def counting(code_dir: Path, lock: Path, *, uv: str | None = None) -> str | None:
        runs.append(lock)  # a spy: the real uv still answers
        return real_stale(code_dir, lock, uv=uv)

    monkeypatch.setattr(uv_export, "stale", counting)
    # Same files: the memo answers, uv is not run.
    assert declared.lock_problem(declared.read(hello, target), memo_dir=memo) == first
    assert runs == []
    # An unrelated member's pyproject.toml changes: uv lock --check runs again.
    beta = workspace / "libs" / "beta" / "pyproject.toml"
    beta.write_text(beta.read_text().replace('description = "beta"', 'description = "b2"'))
    declared.lock_problem(declared.read(hello, target), memo_dir=memo)
    assert runs == [workspace / "uv.lock"]


def test_a_project_lock_in_the_code_dir_with_an_editable_path_source(tmp_path: Path) -> None:
    from samlink.build import assemble, declared
    from samlink.model.target import target_for
    from samlink.model.template import load_template

    files = {
        "fn/pyproject.toml": """\
[project]
name = "fn"
version = "0"
requires-python = ">=3.10"
dependencies = ["mylib"]

[tool.uv]
package = false

[tool.uv.sources]
mylib = { path = "../mylib", editable = true }
""",
        "fn/app.py": "import mylib\n\n\ndef handler(event, context):\n    return mylib.X\n",
        "mylib/pyproject.toml": FILES["libs/gamma/pyproject.toml"]
        .replace('"gamma"', '"mylib"')
        .replace('["gamma"]', '["mylib"]')
        .replace(
            'requires-python = ">=3.10"', 'requires-python = ">=3.10"\ndependencies = ["six>=1.10"]'
        ),
        "mylib/mylib/__init__.py": "X = 1\n",
        "template.yaml": """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn
      Handler: app.handler
      Runtime: python3.12
""",
    }
    for relative, text in files.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(text)
    code = tmp_path / "fn"
    run([UV, "lock", "--python", sys.executable], code, _uv_env())
    target = target_for("python3.12", "x86_64")
    found = declared.read(code, target)
    assert found.kind == "uv" and found.export is not None
    assert found.export.lock == code / "uv.lock"
    assert [(line.name, line.path, line.editable) for line in found.requirements.local_lines] == [
        ("mylib", tmp_path / "mylib", True)
    ]
    # The lock is a build input, never shipped as code; the library comes in as a link.
    assert "uv.lock" not in [entry.name for entry in assemble.code_entries(code)]
    resource = load_template(tmp_path / "template.yaml").get("Fn")
    linked = assemble.linked_projects(resource, tmp_path, found.requirements, target)
    assert [(p.info.name, p.origin) for p in linked] == [("mylib", "pyproject.toml (uv)")]
    # The lock pins the library's own dependencies: nothing unpinned is added for it.
    spec = assemble.install_spec(found.requirements, linked, target, assemble.Options())
    assert len(spec.requirements) == 1 and spec.requirements[0].startswith("six==")
    assert spec.hash_mode and spec.hashes_of(spec.requirements[0])
