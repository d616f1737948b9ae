"""The warm build's fast path (samlink.entry, samlink.build.plan), through real make targets.

Every build here is `make build-<Id>` run as SAM runs it (in a copy of the code dir, with
ARTIFACTS_DIR set to an empty dir), so `samlink` is the real console script. SAMLINK_DEBUG=1 makes
it say on stderr whether it replayed the plan or took the full build, and why.
"""

from __future__ import annotations

import json
import marshal
import os
import shutil
import stat
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import BIN, call_handler, copy_example, copy_lib, run, sam_build
from samlink.build.plan import RACY_NS

SAMLINK = BIN / "samlink"
FAST = "samlink: fast path: replayed the plan"
FULL = "samlink: fast path: full build ("

TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  DepsLayer:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: layer/
      CompatibleRuntimes: [python3.11]
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn/
      Handler: app.handler
      Runtime: python3.11
      Layers: [!Ref DepsLayer]
"""

APP = """\
import acme.nsflat, acme.nsutil, acme_hatch, six

def handler(event, context):
    return [acme_hatch.value(), acme.nsflat.value(), acme.nsutil.value(), six.__version__]
"""


@pytest.fixture
def env(tool_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """tool_env with a store of this test's own, SAMLINK_DEBUG on, and no outer make's flags."""
    drop = {"MAKEFLAGS", "MAKELEVEL", "MFLAGS", "SAMLINK_REFRESH", "SAMLINK_SYNC"}
    environ = {k: v for k, v in tool_env.items() if k not in drop}
    return {**environ, "SAMLINK_CACHE_DIR": str(tmp_path / "store"), "SAMLINK_DEBUG": "1"}


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def settle() -> None:
    """Wait until the files just written are older than the fast path's racy window: a build
    that starts within it leaves no plan, since an input may change after the build read it."""
    time.sleep(RACY_NS / 1e9 + 0.1)


def make_build(
    project: Path,
    resource: str,
    artifacts: Path,
    env: dict[str, str],
    *,
    code: str = "fn",
    scratch: Path | None = None,
) -> tuple[str, str]:
    """`make build-<resource>` as SAM runs it; returns ("fast" or "full", the output)."""
    if artifacts.exists():
        shutil.rmtree(artifacts)
    artifacts.mkdir(parents=True)
    if scratch is None:  # SAM's temp copy of the code dir, where make runs
        scratch = artifacts.parent / f"{artifacts.name}-scratch"
        if scratch.exists():
            shutil.rmtree(scratch)
        shutil.copytree(project / code, scratch, symlinks=True)
    result = run(
        ["make", "--makefile", project / code / "Makefile", f"build-{resource}"],
        scratch,
        {**env, "ARTIFACTS_DIR": str(artifacts)},
    )
    output = result.stdout + result.stderr
    if FAST in result.stdout:  # under make the report goes to stdout, which SAM prints
        return "fast", output
    assert FULL in result.stdout, output
    return "full", output


def snapshot(root: Path) -> dict[str, tuple[Any, ...]]:
    """Every entry under `root`: symlinks with their target, dirs, files with mode and content,
    and the inode of files that are hard links (into the store, or to live sources)."""
    found: dict[str, tuple[Any, ...]] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, root)
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                found[rel] = ("link", os.readlink(path))
            elif stat.S_ISDIR(st.st_mode):
                found[rel] = ("dir", stat.S_IMODE(st.st_mode))
            else:
                shared = st.st_ino if st.st_nlink > 1 else None
                content = Path(path).read_bytes()
                found[rel] = ("file", stat.S_IMODE(st.st_mode), content, shared)
    return found


def assert_same_tree(full: Path, fast: Path) -> None:
    expected, got = snapshot(full), snapshot(fast)
    assert sorted(got) == sorted(expected)
    different = [rel for rel in expected if got[rel] != expected[rel]]
    assert different == []


def summary(output: str) -> list[str]:
    """The build's summary lines (from "N dependency files in S s" on)."""
    noise = ("samlink: fast path", "samlink: warning")
    lines = [ln for ln in output.splitlines() if not ln.startswith(noise)]
    start = next(i for i, ln in enumerate(lines) if "dependency files in" in ln)
    return [ln for ln in lines[start:] if ln.startswith("samlink:")]


def store_entry(env: dict[str, str], project: Path) -> Path:
    listing = json.loads(run([SAMLINK, "cache", "list", "--json"], project, env).stdout)
    return Path(listing["entries"][0]["path"])  # newest use first


def assert_linked_from_store(build: Path, tree: Path) -> int:
    """Every file of the store entry that is in the build is the store's very file."""
    manifest = json.loads((tree.parent / "manifest.json").read_text())
    count = 0
    for row in manifest["files"]:
        if row[0] == "f" and (build / row[1]).is_file() and not (build / row[1]).is_symlink():
            assert (build / row[1]).samefile(tree / row[1]), row[1]
            count += 1
    return count


@pytest.fixture
def linked_project(tmp_path: Path, env: dict[str, str], wheelhouse: Path) -> Path:
    """A function with a layer, three linked libraries (a package, a flat-layout namespace that
    is copied, a src-layout namespace behind a .pth line) and a third-party dependency."""
    project = tmp_path / "proj"
    checkouts = tmp_path / "checkouts"
    write(project / "template.yaml", TEMPLATE)
    write(
        project / "fn" / "requirements.txt",
        f"--find-links {wheelhouse}\n"
        "acme-hatch==1.0.0\nacme-ns-flat==1.0.0\nacme-ns-util==1.0.0\nsix==1.17.0\n",
    )
    write(project / "fn" / "app.py", APP)
    write(project / "fn" / "helpers" / "__init__.py", "")
    write(project / "layer" / "requirements.txt", "idna==3.10\n")
    write(project / "layer" / "layer_helper.py", "def helper():\n    return 'helper'\n")
    run([SAMLINK, "init"], project, env)
    for lib in ("hatch_lib", "ns_flat", "ns_src"):
        run([SAMLINK, "link", copy_lib(lib, checkouts)], project, env)
    return project


def test_a_replayed_build_is_the_full_build(
    linked_project: Path, env: dict[str, str], tmp_path: Path
) -> None:
    project = linked_project
    settle()
    full = tmp_path / "full"
    fast = tmp_path / "fast"
    path, full_output = make_build(project, "Fn", full, env)
    assert path == "full" and "no plan yet" in full_output
    path, fast_output = make_build(project, "Fn", fast, env)
    assert path == "fast"
    assert_same_tree(full, fast)
    # Sanity of what both made: links to the live packages, the namespace copied and behind
    # its .pth, the store's own files, and a function that runs.
    assert (fast / "acme_hatch").is_symlink() and (fast / "app.py").is_symlink()
    assert (fast / "acme" / "nsflat" / "__init__.py").is_file()
    assert (fast / "_samlink-acme-ns-util.pth").read_text() == "_samlink-acme-ns-util\n"
    assert assert_linked_from_store(fast, store_entry(env, project)) > 0
    assert call_handler(fast, handler="app.handler") == [
        "hatch v1",
        "nsflat v1",
        "ns v1",
        "1.17.0",
    ]
    # The same summary, but for the time.
    assert summary(full_output)[1:] == summary(fast_output)[1:]
    assert "copied, not live" in fast_output

    # A layer: its tree under python/.
    path, _ = make_build(project, "DepsLayer", tmp_path / "layer-full", env, code="layer")
    assert path == "full"
    path, _ = make_build(project, "DepsLayer", tmp_path / "layer-fast", env, code="layer")
    assert path == "fast"
    assert_same_tree(tmp_path / "layer-full", tmp_path / "layer-fast")
    assert (tmp_path / "layer-fast" / "python" / "idna").is_dir()

    # The record the full build wrote still describes the build (status reads it); a replay into
    # another dir than the full build's says where it went.
    record = json.loads((project / ".samlink" / "builds" / "Fn.json").read_text())
    assert record["dest"] == str(fast)
    # status reads the build dir SAM would use (here: named by --build-dir), where Fn's dir is.
    build_root = tmp_path / "build-root"
    build_root.mkdir()
    (build_root / "Fn").symlink_to(fast)
    status = json.loads(
        run([SAMLINK, "status", "--json", "--build-dir", build_root], project, env).stdout
    )
    fn = next(item for item in status["resources"] if item["id"] == "Fn")
    assert fn["stale"] == [] and fn["materialized"]


def test_a_sync_build_replays_then_makes_real_files(
    linked_project: Path, env: dict[str, str], tmp_path: Path
) -> None:
    project = linked_project
    settle()
    scratch = tmp_path / "scratch"
    shutil.copytree(project / "fn", scratch)
    sync_env = {**env, "SAMLINK_SYNC": "1"}
    # No plan yet: the full build, then realize.
    path, _ = make_build(project, "Fn", tmp_path / "full", sync_env, scratch=scratch)
    assert path == "full"
    path, fast_output = make_build(project, "Fn", tmp_path / "fast", sync_env, scratch=scratch)
    assert path == "fast"
    assert "SYNC build" in fast_output and "linked files as real files" in fast_output
    assert_same_tree(tmp_path / "full", tmp_path / "fast")
    assert [p for p in (tmp_path / "fast").iterdir() if p.is_symlink()] == []
    # The dev plan serves a sync build too: SAMLINK_SYNC only changes the last step.
    path, _ = make_build(project, "Fn", tmp_path / "dev", env)
    assert path == "fast"
    assert (tmp_path / "dev" / "acme_hatch").is_symlink()


APP_SIX = "import six\n\ndef handler(event, context):\n    return six.__version__\n"
PLAIN_TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn/
      Handler: app.handler
      Runtime: python3.11
"""


@pytest.fixture
def plain_project(tmp_path: Path, env: dict[str, str]) -> Path:
    project = tmp_path / "plain"
    write(project / "template.yaml", PLAIN_TEMPLATE)
    write(project / "fn" / "requirements.txt", "six==1.17.0\n")
    write(project / "fn" / "app.py", APP_SIX)
    run([SAMLINK, "init"], project, env)
    return project


def rebuilt(
    project: Path, env: dict[str, str], tmp_path: Path, name: str, *, code: str = "fn"
) -> tuple[Path, str]:
    """After a change: the next build is a full one; a build after that replays it exactly.
    Returns the build dir and the full build's output."""
    settle()
    full = tmp_path / f"{name}-full"
    path, output = make_build(project, "Fn", full, env, code=code)
    assert path == "full", output
    path, again = make_build(project, "Fn", tmp_path / f"{name}-fast", env, code=code)
    assert path == "fast", again
    assert_same_tree(full, tmp_path / f"{name}-fast")
    return full, output


def test_code_requirements_and_template_changes_take_the_full_build(
    plain_project: Path, env: dict[str, str], tmp_path: Path
) -> None:
    project = plain_project
    build, _ = rebuilt(project, env, tmp_path, "start")
    assert call_handler(build, handler="app.handler") == "1.17.0"

    # A new top-level file in the code dir is a new link.
    write(project / "fn" / "helper.py", "X = 1\n")
    build, output = rebuilt(project, env, tmp_path, "new-file")
    assert "fn/helper.py changed" not in output  # the folder changed, not the file
    assert "fn changed" in output
    assert (build / "helper.py").is_symlink()

    # An edit of a file already linked is live: no rebuild needed, the fast path stays.
    write(project / "fn" / "helper.py", "X = 2\n")
    path, _ = make_build(project, "Fn", tmp_path / "edit", env)
    assert path == "fast"

    # A requirements edit.
    write(project / "fn" / "requirements.txt", "six==1.17.0\nidna==3.10\n")
    build, output = rebuilt(project, env, tmp_path, "requirements")
    assert "requirements.txt changed" in output
    assert (build / "idna").is_dir()

    # The template: another runtime, another store entry.
    template = project / "template.yaml"
    template.write_text(template.read_text().replace("python3.11", "python3.12"))
    build, output = rebuilt(project, env, tmp_path, "runtime")
    assert "template.yaml changed" in output
    listing = json.loads(run([SAMLINK, "cache", "list", "--json"], project, env).stdout)
    assert listing["entries"][0]["target"] == "python3.12/x86_64"
    assert (build / "six.py").samefile(Path(listing["entries"][0]["path"]) / "six.py")


def test_links_and_linked_metadata_take_the_full_build(
    tmp_path: Path, env: dict[str, str], wheelhouse: Path
) -> None:
    project = tmp_path / "proj"
    write(project / "template.yaml", PLAIN_TEMPLATE)
    write(project / "fn" / "requirements.txt", f"--find-links {wheelhouse}\nacme-hatch==1.0.0\n")
    write(
        project / "fn" / "app.py",
        "import acme_hatch\n\ndef handler(event, context):\n    return acme_hatch.value()\n",
    )
    run([SAMLINK, "init"], project, env)
    checkout = copy_lib("hatch_lib", tmp_path / "checkouts")

    build, _ = rebuilt(project, env, tmp_path, "pinned")
    assert (build / "acme_hatch").is_dir() and not (build / "acme_hatch").is_symlink()

    run([SAMLINK, "link", checkout], project, env)
    build, output = rebuilt(project, env, tmp_path, "linked")
    assert "links.json changed" in output
    assert (build / "acme_hatch").resolve() == (checkout / "src" / "acme_hatch").resolve()

    # The linked project's metadata: a new version in its dist-info.
    pyproject = checkout / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('version = "1.0.0"', 'version = "1.0.1"'))
    build, output = rebuilt(project, env, tmp_path, "metadata")
    assert "pyproject.toml changed" in output
    assert (build / "acme_hatch-1.0.1.dist-info").is_dir()
    assert not (build / "acme_hatch-1.0.0.dist-info").exists()

    # A new top-level entry in the linked checkout's src/ (what a fingerprint covers).
    write(checkout / "src" / "acme_extra" / "__init__.py", "")
    _, output = rebuilt(project, env, tmp_path, "layout")
    assert "src changed" in output

    run([SAMLINK, "unlink", "acme-hatch"], project, env)
    build, _ = rebuilt(project, env, tmp_path, "unlinked")
    assert not (build / "acme_hatch").is_symlink()
    assert call_handler(build, handler="app.handler") == "hatch v1"


def test_environment_options_and_the_store_take_the_full_build(
    plain_project: Path, env: dict[str, str], tmp_path: Path
) -> None:
    project = plain_project
    rebuilt(project, env, tmp_path, "start")

    # An index setting pip (and so samlink) would honour: the environment digest changes.
    index_env = {**env, "PIP_INDEX_URL": "https://pypi.org/simple"}
    path, output = make_build(project, "Fn", tmp_path / "index", index_env)
    assert path == "full" and "environment changed" in output
    # Back to the first environment: the last plan was made with the index set.
    path, output = make_build(project, "Fn", tmp_path / "back", env)
    assert path == "full" and "environment changed" in output

    # A release build: real files, and its own plan.
    release_env = {**env, "SAMLINK_RELEASE": "1"}
    settle()
    path, output = make_build(project, "Fn", tmp_path / "release", release_env)
    assert path == "full" and "environment changed" in output
    path, output = make_build(project, "Fn", tmp_path / "release-fast", release_env)
    assert path == "fast" and "RELEASE build" in output
    assert_same_tree(tmp_path / "release", tmp_path / "release-fast")
    release = tmp_path / "release-fast"
    assert [p for p in release.rglob("*") if p.is_symlink()] == []
    assert (release / "app.py").read_text() == APP_SIX

    # SAMLINK_REFRESH always reinstalls.
    path, output = make_build(project, "Fn", tmp_path / "refresh", {**env, "SAMLINK_REFRESH": "1"})
    assert path == "full" and "SAMLINK_REFRESH is set" in output

    # A file deleted from the store: the replay stops, the full build rebuilds the entry.
    build, _ = rebuilt(project, env, tmp_path, "again")
    tree = store_entry(env, project)
    (tree / "six.py").unlink()
    path, output = make_build(project, "Fn", tmp_path / "damaged", env)
    assert path == "full" and "FileNotFoundError" in output
    damaged = tmp_path / "damaged"
    assert sorted(snapshot(damaged)) == sorted(snapshot(build))
    assert (damaged / "six.py").samefile(store_entry(env, project) / "six.py")
    assert call_handler(damaged, handler="app.handler") == "1.17.0"


def test_an_unpinned_entry_due_for_a_refresh_takes_the_full_build(
    plain_project: Path, env: dict[str, str], tmp_path: Path
) -> None:
    project = plain_project
    write(project / "fn" / "requirements.txt", "six>=1.16\n")
    ttl_env = {**env, "SAMLINK_STORE_TTL_HOURS": "0.001"}  # 3.6 s
    settle()
    path, _ = make_build(project, "Fn", tmp_path / "first", ttl_env)
    assert path == "full"
    time.sleep(4)
    path, output = make_build(project, "Fn", tmp_path / "expired", ttl_env)
    assert path == "full" and "due for a refresh" in output


def test_other_command_lines_go_to_the_cli(plain_project: Path, env: dict[str, str]) -> None:
    result = run([SAMLINK, "--version"], plain_project, env)
    assert "samlink" in result.stdout and FAST not in result.stderr
    # A user's own `samlink build` with an option: the CLI, which reports a missing ARTIFACTS_DIR.
    result = run([SAMLINK, "build", "Fn", "--release"], plain_project, env, check=False)
    assert result.returncode == 2 and "ARTIFACTS_DIR is not set" in result.stderr
    assert "not the make target's arguments" in result.stderr


def test_a_plan_of_another_samlink_or_a_broken_plan_is_not_replayed(
    plain_project: Path, env: dict[str, str], tmp_path: Path
) -> None:
    project = plain_project
    rebuilt(project, env, tmp_path, "start")
    plan = project / ".samlink" / "builds" / "Fn.plan"
    plan.write_bytes(plan.read_bytes()[:100])
    path, output = make_build(project, "Fn", tmp_path / "broken", env)
    assert path == "full" and "unreadable plan" in output
    assert call_handler(tmp_path / "broken", handler="app.handler") == "1.17.0"


def test_the_fast_path_imports_no_cli_or_third_party_module(
    plain_project: Path, env: dict[str, str], tmp_path: Path
) -> None:
    project = plain_project
    settle()
    # Into the same dir as the full build, as SAM does (.aws-sam/build/<Id>): the build record
    # stays true, so it is not rewritten (json is not imported).
    artifacts = tmp_path / "build"
    assert make_build(project, "Fn", artifacts, env)[0] == "full"
    shutil.rmtree(artifacts)
    artifacts.mkdir()
    probe = (
        "import sys\n"
        "sys.argv = ['samlink', *sys.argv[1:]]\n"
        "from samlink.entry import main\n"
        "code = main()\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('click', 'packaging', 'ruamel', 'rich', 'json', 're', 'shutil', 'typing'))\n"
        "print('LOADED', loaded, file=sys.stderr)\n"
        "sys.exit(code)\n"
    )
    result = subprocess.run(
        [
            str(BIN / "python"),
            "-c",
            probe,
            "build",
            "Fn",
            "--template",
            str(project / "template.yaml"),
        ],
        cwd=project,
        env={**env, "ARTIFACTS_DIR": str(artifacts)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert FAST in result.stderr
    assert "LOADED []" in result.stderr


@pytest.mark.sam
def test_sam_build_twice_replays_the_plan(tmp_path: Path, env: dict[str, str]) -> None:
    # SAM keeps make's stderr to itself, so the observable here is the plan file: a full build
    # replaces it (a new file), a replay only reads it.
    project = copy_example(tmp_path / "hello world", env)  # a space in the path, on purpose
    run([SAMLINK, "init"], project, env)
    run([SAMLINK, "link", "./sam-sync-test-upstream"], project, env)
    plan = project / ".samlink" / "builds" / "HelloWorldFunction.plan"
    build = project / ".aws-sam" / "build" / "HelloWorldFunction"
    settle()
    first = sam_build(project, env)
    made = plan.stat()
    full = snapshot(build)
    second = sam_build(project, env)
    again = plan.stat()
    assert (again.st_ino, again.st_mtime_ns) == (made.st_ino, made.st_mtime_ns)
    assert snapshot(build) == full
    assert summary(second.stdout + second.stderr)[1:] == summary(first.stdout + first.stderr)[1:]
    assert "hello world from sam-sync-test-upstream" in json.dumps(call_handler(build))
    # An edit of the linked library is live; a new top-level file in CodeUri is not, so SAM's
    # next build takes the full path and links it.
    (project / "hello_world" / "extra.py").write_text("X = 1\n")
    sam_build(project, env)
    # (No plan at all if SAM started within the racy window after the write.)
    assert not plan.exists() or plan.stat().st_ino != made.st_ino
    assert (build / "extra.py").is_symlink()


def test_a_large_entry_linked_by_two_processes(tmp_path: Path, env: dict[str, str]) -> None:
    # botocore: thousands of files, enough for the replay to split the linking in two.
    project = tmp_path / "large"
    write(project / "template.yaml", PLAIN_TEMPLATE)
    write(project / "fn" / "requirements.txt", "botocore==1.35.99\n")
    write(project / "fn" / "app.py", "import botocore\n\ndef handler(e, c):\n    return 1\n")
    run([SAMLINK, "init"], project, env)
    full, _ = rebuilt(project, env, tmp_path, "large")
    assert assert_linked_from_store(tmp_path / "large-fast", store_entry(env, project)) > 1000

    # A file missing from the half the second process links: the replay fails as a whole and
    # the full build rebuilds the entry.
    with open(project / ".samlink" / "builds" / "Fn.plan", "rb") as f:
        plan = marshal.load(f)
    _dirs, files = plan["halves"][1]
    assert files
    (store_entry(env, project) / files[len(files) // 2]).unlink()
    path, output = make_build(project, "Fn", tmp_path / "damaged", env)
    assert path == "full"
    parallel = (os.cpu_count() or 1) > 1
    assert ("linking half of the files failed" if parallel else "FileNotFoundError") in output
    assert sorted(snapshot(tmp_path / "damaged")) == sorted(snapshot(full))
    assert (tmp_path / "damaged" / files[len(files) // 2]).is_file()


@pytest.mark.sam
def test_sam_build_shows_the_debug_report(tmp_path: Path, env: dict[str, str]) -> None:
    # SAM shows make's stdout (in its own log, on stderr) and keeps make's stderr to itself
    # unless the build fails: the report must be make's stdout to reach the user.
    project = copy_example(tmp_path / "project", env)
    run([SAMLINK, "init"], project, env)
    settle()
    first = sam_build(project, env)
    assert FULL in first.stdout + first.stderr, first.stdout + first.stderr
    second = sam_build(project, env)
    assert FAST in second.stdout + second.stderr, second.stdout + second.stderr


@pytest.mark.sam
def test_a_layer_banner_lists_its_links(tmp_path: Path, env: dict[str, str]) -> None:
    project = copy_example(tmp_path / "project", env)
    reqs = (project / "hello_world" / "requirements.txt").read_text()
    write(project / "deps" / "requirements.txt", reqs)
    write(project / "deps" / "shared.py", "X = 1\n")
    write(project / "pins" / "requirements.txt", reqs)
    layers = "".join(
        f"  {name}:\n    Type: AWS::Serverless::LayerVersion\n    Properties:\n"
        f"      ContentUri: {uri}/\n      CompatibleRuntimes: [python3.12]\n"
        "    Metadata:\n      BuildMethod: makefile\n"
        for name, uri in (("DepsLayer", "deps"), ("PinsLayer", "pins"))
    )
    template = project / "template.yaml"
    template.write_text(template.read_text().replace("Resources:\n", "Resources:\n" + layers))
    run([SAMLINK, "init"], project, env)
    settle()
    for _ in range(2):  # the full build, then the replay: the same banner
        result = sam_build(project, env)
        output = result.stdout + result.stderr
        assert f"samlink:   layer code -> {project / 'deps'} (shared.py)" in output, output
        assert "samlink: PinsLayer: DEV BUILD, no live links: real files only" in output, output
        assert "PinsLayer: DEV BUILD with live links" not in output
