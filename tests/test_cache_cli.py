"""The dependency store through real `samlink build` processes, and `samlink cache` commands."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import BIN, call_handler, copy_lib, run

SAMLINK = BIN / "samlink"
# Files only an installer's bookkeeping differs in (as in test_installer.py), plus the
# uv_cache.json uv adds to a dist-info installed from a local index or find-links folder (pip's
# configuration on some machines has those, and samlink builds honour it).
BOOKKEEPING = {"INSTALLER", "RECORD", "REQUESTED", "direct_url.json", "uv_cache.json"}

TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn/
      Handler: app.handler
      Runtime: python3.11  # the host's version, so the test can call the handler
      Architectures: [x86_64]
"""

APP = """\
import idna, six

def handler(event, context):
    return {"idna": idna.__version__, "six": six.__version__}
"""


@pytest.fixture
def env(tool_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """tool_env with a store of this test's own, so entry counts mean something."""
    return {**tool_env, "SAMLINK_CACHE_DIR": str(tmp_path / "store")}


def make_project(root: Path, requirements: str, app: str = APP) -> Path:
    (root / "fn").mkdir(parents=True)
    (root / "template.yaml").write_text(TEMPLATE)
    (root / "fn" / "app.py").write_text(app)
    (root / "fn" / "requirements.txt").write_text(requirements)
    return root


def build_cmd(project: Path) -> list[str]:
    return [str(SAMLINK), "build", "Fn", "--template", str(project / "template.yaml")]


def samlink_build(
    project: Path, env: dict[str, str], artifacts: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    return run([*build_cmd(project), *args], project, {**env, "ARTIFACTS_DIR": str(artifacts)})


def entries(project: Path, env: dict[str, str]) -> list[dict[str, Any]]:
    report = json.loads(run([SAMLINK, "cache", "list", "--json"], project, env).stdout)
    assert report["unreadable"] == []
    result: list[dict[str, Any]] = report["entries"]
    return result


def store_tmp(env: dict[str, str]) -> list[str]:
    tmp = Path(env["SAMLINK_CACHE_DIR"]) / "v1" / "tmp"
    return sorted(os.listdir(tmp)) if tmp.exists() else []


def manifest_files(entry: dict[str, Any], *, bookkeeping: bool = False) -> set[str]:
    """The entry's files and symlinks (without installer bookkeeping unless asked)."""
    manifest = json.loads((Path(entry["path"]).parent / "manifest.json").read_text())
    return {
        row[1]
        for row in manifest["files"]
        if row[0] != "d" and (bookkeeping or row[1].rsplit("/", 1)[-1] not in BOOKKEEPING)
    }


def half_installed(tmp: Path) -> bool:
    """Whether a build in the store's temp dir has started writing files."""
    with contextlib.suppress(FileNotFoundError):  # a tree may be published under our feet
        return any(any(tree.iterdir()) for tree in tmp.glob("*/tree"))
    return False


# --- several real builds -------------------------------------------------------------------


def test_two_concurrent_builds_make_one_entry_and_two_correct_build_dirs(
    tmp_path: Path, env: dict[str, str]
) -> None:
    project = make_project(tmp_path / "proj", "six==1.17.0\nidna==3.10\n")
    run([SAMLINK, "init"], project, env)
    # An empty uv cache makes the install download, so the two builds overlap for longer.
    env = {**env, "UV_CACHE_DIR": str(tmp_path / "uv-cache")}
    artifacts = [tmp_path / "build-a", tmp_path / "build-b"]
    procs = [
        subprocess.Popen(
            build_cmd(project),
            cwd=project,
            env={**env, "ARTIFACTS_DIR": str(dest)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for dest in artifacts
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, out + err
    [entry] = entries(project, env)
    tree = Path(entry["path"])
    for dest in artifacts:
        # Hard links to the one entry's files, and a working function.
        assert (dest / "six.py").samefile(tree / "six.py")
        assert (dest / "idna" / "core.py").samefile(tree / "idna" / "core.py")
        assert (dest / "app.py").is_symlink()
        assert call_handler(dest, handler="app.handler") == {"idna": "3.10", "six": "1.17.0"}
    assert store_tmp(env) == []
    assert run([SAMLINK, "cache", "verify"], project, env).returncode == 0


def test_a_build_killed_mid_install_leaves_no_entry_a_later_build_trusts(
    tmp_path: Path, env: dict[str, str]
) -> None:
    # botocore is large (thousands of files), so the install is long enough to be caught midway.
    project = make_project(
        tmp_path / "proj", "botocore==1.35.99\n", app="def handler(e, c):\n    return 1\n"
    )
    run([SAMLINK, "init"], project, env)
    tmp = Path(env["SAMLINK_CACHE_DIR"]) / "v1" / "tmp"
    published = Path(env["SAMLINK_CACHE_DIR"]) / "v1" / "entries"
    proc = subprocess.Popen(
        build_cmd(project),
        cwd=project,
        env={**env, "ARTIFACTS_DIR": str(tmp_path / "build")},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: the stop and kill reach the installer
    )
    caught = False
    try:
        deadline = time.monotonic() + 300
        while proc.poll() is None and time.monotonic() < deadline:
            if half_installed(tmp):
                # Freeze the build, then look: files half installed, nothing published.
                os.killpg(proc.pid, signal.SIGSTOP)
                caught = not (published.exists() and any(published.iterdir()))
                break
            time.sleep(0.002)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    assert caught, "the build finished before the test could stop it mid-install"
    assert proc.returncode == -signal.SIGKILL

    assert entries(project, env) == []
    assert len(store_tmp(env)) == 1  # the dead build's files, trusted by nobody
    samlink_build(project, env, tmp_path / "build2")
    [entry] = entries(project, env)
    assert store_tmp(env) == []  # the next build of the key swept the dead one's files
    assert run([SAMLINK, "cache", "verify"], project, env).returncode == 0
    materialized = {
        p.relative_to(tmp_path / "build2").as_posix()
        for p in (tmp_path / "build2").rglob("*")
        if not p.is_dir() and p.name != "app.py"
    }
    assert materialized == manifest_files(entry, bookkeeping=True)
    assert (tmp_path / "build2" / "botocore" / "data" / "endpoints.json").stat().st_size > 0


def test_new_entry_for_changed_requirements_or_linked_dependencies_not_for_linked_code(
    tmp_path: Path, env: dict[str, str]
) -> None:
    app = "import acme_hatch\n\ndef handler(e, c):\n    return acme_hatch.value()\n"
    project = make_project(tmp_path / "proj", "acme-hatch==1.0.0\nidna==3.10\n", app=app)
    checkout = copy_lib("hatch_lib", tmp_path / "checkouts")
    run([SAMLINK, "init"], project, env)
    run([SAMLINK, "link", checkout], project, env)
    build_dir = tmp_path / "build"

    samlink_build(project, env, build_dir)
    [first] = entries(project, env)
    assert call_handler(build_dir, handler="app.handler") == "hatch v1"
    assert (build_dir / "six.py").is_file()  # the linked project's own dependency

    # Editing the linked project's code: same entry, no install, and the build sees the edit.
    source = checkout / "src" / "acme_hatch" / "__init__.py"
    source.write_text(source.read_text().replace("hatch v1", "hatch v2"))
    samlink_build(project, env, build_dir)
    assert [e["key"] for e in entries(project, env)] == [first["key"]]
    assert call_handler(build_dir, handler="app.handler") == "hatch v2"

    # The linked project's dependency list changes: a new entry.
    pyproject = checkout / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('["six"]', '["six==1.16.0"]'))
    samlink_build(project, env, build_dir)
    after_dependency = entries(project, env)
    assert len(after_dependency) == 2
    assert "six==1.16.0" in after_dependency[0]["requirements"]  # newest use first

    # The function's own requirement changes: another one.
    requirements = project / "fn" / "requirements.txt"
    requirements.write_text("acme-hatch==1.0.0\nidna==3.9\n")
    samlink_build(project, env, build_dir)
    final = entries(project, env)
    assert len(final) == 3
    assert "idna==3.9" in final[0]["requirements"]
    assert call_handler(build_dir, handler="app.handler") == "hatch v2"


def test_pip_and_uv_entries_hold_the_same_files(tmp_path: Path, env: dict[str, str]) -> None:
    # test_installer.py compares the installers directly; this is the same through the store.
    project = make_project(tmp_path / "proj", "six==1.17.0\nidna==3.10\npyyaml==6.0.2\n")
    run([SAMLINK, "init"], project, env)
    samlink_build(project, env, tmp_path / "uv", "--installer", "uv")
    samlink_build(project, env, tmp_path / "pip", "--installer", "pip")
    by_installer = {e["installer"]: e for e in entries(project, env)}
    assert set(by_installer) == {"uv", "pip"}
    assert manifest_files(by_installer["uv"]) == manifest_files(by_installer["pip"])


# --- the cache commands --------------------------------------------------------------------


def test_cache_list_verify_prune_clear(tmp_path: Path, env: dict[str, str]) -> None:
    project = make_project(tmp_path / "proj", "six==1.17.0\nidna>=3\n")
    run([SAMLINK, "init"], project, env)

    empty = run([SAMLINK, "cache", "list"], project, env)
    assert "the dependency store is empty" in empty.stdout
    assert "empty" in run([SAMLINK, "cache", "verify"], project, env).stdout

    samlink_build(project, env, tmp_path / "build")
    [entry] = entries(project, env)
    assert entry["target"] == "python3.11/x86_64"
    assert entry["installer"] == "uv"
    assert entry["requirements"] == ["idna>=3", "six==1.17.0"]
    assert entry["pinned"] is False and entry["refresh_after"] is not None
    assert entry["files"] > 10 and entry["size"] > 10_000
    table = run([SAMLINK, "cache", "list"], project, env).stdout
    assert entry["key"][:12] in table and "six==1.17.0" in table and "unpinned" in table

    verified = run([SAMLINK, "cache", "verify"], project, env)
    assert "1 entry checked, all intact" in verified.stdout

    # An edit in place through a build dir's hard link damages the store: verify says so.
    victim = tmp_path / "build" / "idna" / "core.py"
    victim.chmod(0o644)
    with open(victim, "a") as f:
        f.write("# edited in place\n")
    damaged = run([SAMLINK, "cache", "verify"], project, env, check=False)
    assert damaged.returncode == 1
    assert "DAMAGED" in damaged.stderr and "idna/core.py" in damaged.stderr
    as_json = run([SAMLINK, "cache", "verify", "--json"], project, env, check=False)
    assert as_json.returncode == 1
    [result] = json.loads(as_json.stdout)["entries"]
    assert any(p.startswith("idna/core.py:") for p in result["problems"])
    fixed = run([SAMLINK, "cache", "verify", "--fix"], project, env, check=False)
    assert fixed.returncode == 1 and "removed" in fixed.stderr
    assert entries(project, env) == []

    # A rebuild makes a fresh entry; prune keeps what was used lately, then removes it.
    samlink_build(project, env, tmp_path / "build2")
    [entry] = entries(project, env)
    kept = json.loads(
        run([SAMLINK, "cache", "prune", "--older-than", "7", "--json"], project, env).stdout
    )
    assert kept == {"removed": [], "freed": 0}
    long_ago = time.time() - 10 * 86400
    os.utime(Path(entry["path"]).parent / "last-used", (long_ago, long_ago))
    pruned = run([SAMLINK, "cache", "prune", "--older-than", "7"], project, env)
    assert "pruned 1 entry" in pruned.stdout and entry["key"][:12] in pruned.stdout
    assert entries(project, env) == []

    samlink_build(project, env, tmp_path / "build3")
    cleared = run([SAMLINK, "cache", "clear"], project, env)
    assert "removed 1 entry" in cleared.stdout
    assert entries(project, env) == []
    # The build dir made before the clear still holds its files (hard links outlive the store).
    assert (tmp_path / "build3" / "six.py").is_file()


def test_unreadable_entries_are_reported_and_fixed(tmp_path: Path, env: dict[str, str]) -> None:
    broken = Path(env["SAMLINK_CACHE_DIR"]) / "v1" / "entries" / ("0" * 64)
    (broken / "tree").mkdir(parents=True)
    (broken / "manifest.json").write_text("{not json")
    listed = json.loads(run([SAMLINK, "cache", "list", "--json"], tmp_path, env).stdout)
    assert listed["entries"] == [] and listed["unreadable"] == ["0" * 64]
    result = run([SAMLINK, "cache", "verify"], tmp_path, env, check=False)
    assert result.returncode == 1 and "manifest missing or unreadable" in result.stderr
    run([SAMLINK, "cache", "verify", "--fix"], tmp_path, env, check=False)
    assert not broken.exists()
    assert run([SAMLINK, "cache", "verify"], tmp_path, env).returncode == 0


def test_prune_rejects_a_negative_age(tmp_path: Path, env: dict[str, str]) -> None:
    result = run([SAMLINK, "cache", "prune", "--older-than", "-1"], tmp_path, env, check=False)
    assert result.returncode == 2
    assert "--older-than" in result.stderr
