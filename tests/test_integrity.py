"""Integrity: `--hash` lines verified as pip verifies them, and a store safe from edits in place.

Real installers (uv and pip against the configured indexes), real make targets and `sam build`,
real hard links. The only recorded data are installer outputs in the parsing test, taken from
runs of the same uv and pip (a transitive package without a hash needs a package whose
dependencies' wheels vary by day; the real-install tests cover the direct cases).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import BIN, run, sam_build
from samlink.build import tree
from samlink.build.assemble import LinkedProject, Options, install_spec
from samlink.build.installer import (
    IndexOptions,
    Installer,
    InstallSpec,
    hash_failure,
    install,
    resolve_installer,
)
from samlink.build.store import Store
from samlink.errors import BuildError, UsageError
from samlink.model import requirements
from samlink.model.project import ProjectInfo
from samlink.model.target import Target, target_for
from test_fastpath import FAST, FULL, make_build, settle, write

SAMLINK = BIN / "samlink"
PYPI = IndexOptions(index_url="https://pypi.org/simple")
TARGET = target_for("python3.12", "x86_64")
# six 1.17.0's one wheel (six-1.17.0-py2.py3-none-any.whl), as PyPI lists it.
RIGHT = "sha256:4721f391ed90541fddacab5acf947aa0d3dc7d27b2e1e8eda2be8970586c3274"
WRONG = "sha256:" + "0" * 64
MISMATCH = "THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE"
MISSING = (
    "Hashes are required in --require-hashes mode, but they are missing from some requirements"
)

TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn/
      Handler: app.handler
      Runtime: python3.12
"""
APP = "import six\n\ndef handler(event, context):\n    return six.__version__\n"


def six_spec(*hashes: str, require_hashes: bool = False) -> InstallSpec:
    return InstallSpec(
        ("six==1.17.0",),
        index=PYPI,
        hashes=(("six==1.17.0", hashes),) if hashes else (),
        require_hashes=require_hashes,
    )


@pytest.fixture
def env(tool_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """tool_env with a store of this test's own, SAMLINK_DEBUG on, and no outer make's flags."""
    drop = {"MAKEFLAGS", "MAKELEVEL", "MFLAGS", "SAMLINK_REFRESH", "SAMLINK_SYNC"}
    drop.add("SAMLINK_RELEASE")
    environ = {k: v for k, v in tool_env.items() if k not in drop}
    return {**environ, "SAMLINK_CACHE_DIR": str(tmp_path / "store"), "SAMLINK_DEBUG": "1"}


def project(root: Path, env: dict[str, str], requirements_txt: str) -> Path:
    write(root / "template.yaml", TEMPLATE)
    write(root / "fn" / "requirements.txt", requirements_txt)
    write(root / "fn" / "app.py", APP)
    run([SAMLINK, "init"], root, env)
    return root


def make(
    root: Path, artifacts: Path, env: dict[str, str], *variables: str
) -> subprocess.CompletedProcess[str]:
    """`make build-Fn` as SAM runs it (in a copy of the code dir), without checking the result."""
    artifacts.mkdir(parents=True)
    scratch = artifacts.parent / f"{artifacts.name}-scratch"
    run(["cp", "-R", root / "fn", scratch], root, env)
    return run(
        ["make", "--makefile", root / "fn" / "Makefile", "build-Fn", *variables],
        scratch,
        {**env, "ARTIFACTS_DIR": str(artifacts)},
        check=False,
    )


def entries(env: dict[str, str], cwd: Path) -> list[dict[str, object]]:
    listing = json.loads(run([SAMLINK, "cache", "list", "--json"], cwd, env).stdout)
    result: list[dict[str, object]] = listing["entries"]
    return result


def append(path: Path, text: str) -> None:
    """What a developer does while debugging: append to a file of a build dir, in place.

    As root (CI) the store's read-only mode does not stop it; others would chmod first, which
    changes the store's file just the same.
    """
    if not os.access(path, os.W_OK):
        path.chmod(0o644)
    with open(path, "a", encoding="utf-8") as f:
        f.write(text)


# --- reading hashes ------------------------------------------------------------------------------


def test_hash_options_are_read_as_pip_reads_them(tmp_path: Path) -> None:
    hashed = write_file(
        tmp_path / "hashed.txt",
        f"six==1.17.0 --hash={RIGHT} --hash {WRONG}\n"
        f'idna==3.10 ; python_version >= "3" \\\n    --hash={WRONG}\n'
        "requests==2.32.3\n",
    )
    parsed = requirements.parse(hashed)
    assert [line.hashes for line in parsed.lines] == [(RIGHT, WRONG), (WRONG,), ()]
    assert parsed.lines[1].name == "idna" and parsed.lines[1].requirement is not None
    assert str(parsed.lines[1].requirement.marker) == 'python_version >= "3"'
    # pip's rule: one hash turns hash-checking on for every line.
    assert parsed.hash_mode and not parsed.require_hashes

    required = requirements.parse(write_file(tmp_path / "req.txt", "--require-hashes\nsix\n"))
    assert required.require_hashes and required.hash_mode
    assert not requirements.parse(write_file(tmp_path / "plain.txt", "six\n")).hash_mode

    bad = write_file(tmp_path / "bad.txt", "six==1.17.0 --hash=md5:abc\n")
    with pytest.raises(UsageError) as err:
        requirements.parse(bad)
    assert "bad.txt:1: bad --hash 'md5:abc'" in err.value.message


def write_file(path: Path, text: str) -> Path:
    write(path, text)
    return path


def test_right_and_wrong_hashes_never_share_a_store_entry(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    uv = Installer("uv", "0.0-test")
    keys = {
        "none": store.key(six_spec(), TARGET, uv),
        "right": store.key(six_spec(RIGHT), TARGET, uv),
        "wrong": store.key(six_spec(WRONG), TARGET, uv),
        "both": store.key(six_spec(RIGHT, WRONG), TARGET, uv),
        "required": store.key(six_spec(require_hashes=True), TARGET, uv),
    }
    assert len(set(keys.values())) == len(keys)
    assert store.key(six_spec(WRONG, RIGHT), TARGET, uv) == keys["both"]  # order is no input


def test_the_install_spec_carries_hashes_and_a_linked_projects_pinned_dependencies(
    tmp_path: Path,
) -> None:
    req = write_file(
        tmp_path / "requirements.txt",
        f"acme-lib==1.0.0 --hash={WRONG}\nsix==1.17.0 --hash={RIGHT}\n"
        f"idna==3.10 --hash={WRONG}\n-c constraints.txt\n",
    )
    write(tmp_path / "constraints.txt", f"idna==3.10 --hash={WRONG}\n")
    lib = ProjectInfo(
        root=tmp_path / "acme-lib",
        name="acme-lib",
        version="1.1.0.dev0",
        requires=("six>=1.16", "idna>=4", "attrs>=23"),
        metadata="",
        imports=(),
        unmapped=(),
        fingerprint="x",
        backend="hatchling.build",
    )
    reqs = requirements.parse(req)
    linked = [LinkedProject(lib, origin="link")]
    spec = install_spec(reqs, linked, TARGET, Options())
    # six>=1.16 is met by the hashed pin (verified); idna>=4 is not and attrs has no line: both
    # go to the installer without a hash, where hash-checking refuses them, as pip would.
    assert spec.requirements == ("attrs>=23", "idna==3.10", "idna>=4", "six==1.17.0")
    assert spec.hashes == (("idna==3.10", (WRONG,)), ("six==1.17.0", (RIGHT,)))
    assert spec.constraints == ("idna==3.10",) and spec.hash_mode
    # A release build links nothing: the project's own hashed line is installed and verified.
    release = install_spec(reqs, [], TARGET, Options(release=True))
    assert ("acme-lib==1.0.0", (WRONG,)) in release.hashes


# --- verifying them ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["uv", "pip"])
def test_a_wrong_hash_fails_the_install_with_pips_words(tmp_path: Path, name: str) -> None:
    chosen = resolve_installer(name)
    with pytest.raises(BuildError) as err:
        install(six_spec(WRONG), TARGET, tmp_path / "wrong", chosen)
    assert err.value.message == (f"{MISMATCH}: six==1.17.0 (expected {WRONG}, got {RIGHT})"), (
        err.value.message
    )
    assert "tampered" in err.value.hint
    assert not (tmp_path / "wrong" / "six.py").exists()

    install(six_spec(RIGHT, WRONG), TARGET, tmp_path / "right", chosen)  # one of them matches
    assert (tmp_path / "right" / "six.py").is_file()


def test_hash_mode_needs_every_requirement_pinned_and_hashed(tmp_path: Path) -> None:
    # Refused before any installer runs (this one does not exist), as pip refuses.
    nowhere = Installer("uv", "0.0-test", str(tmp_path / "no-uv"))
    cases = [
        (
            InstallSpec(("idna==3.10", "six==1.17.0"), hashes=(("six==1.17.0", (RIGHT,)),)),
            f"{MISSING}: idna==3.10",
        ),
        (six_spec(require_hashes=True), f"{MISSING}: six==1.17.0"),
        (
            InstallSpec(("six>=1.16",), hashes=(("six>=1.16", (RIGHT,)),)),
            "all requirements must have their versions pinned with ==. These do not: six>=1.16",
        ),
    ]
    for spec, message in cases:
        with pytest.raises(BuildError) as err:
            install(spec, TARGET, tmp_path / "dest", nowhere)
        assert message in err.value.message


UV_MISMATCH = """\
Resolved 1 package in 96ms
error: Failed to download `six==1.17.0`
  cause: Hash mismatch for `six==1.17.0`

         Expected:
           sha256:0000000000000000000000000000000000000000000000000000000000000000

         Computed:
           sha256:4721f391ed90541fddacab5acf947aa0d3dc7d27b2e1e8eda2be8970586c3274
"""
PIP_MISSING = """\
Processing /opt/pypi/files/six-1.17.0-py2.py3-none-any.whl (from -r partial.txt (line 1))
Collecting idna==3.10 (from -r partial.txt (line 2))
ERROR: Hashes are required in --require-hashes mode, but they are missing from some requirements. \
Here is a list of those requirements along with the hashes their downloaded archives actually \
had. Add lines like these to your requirements files to prevent tampering. (If you did not enable \
--require-hashes manually, note that it turns on automatically when any package has a hash.)
    idna==3.10 --hash=sha256:946d195a0d259cbba61165e88e65941f16e9b36ea6ddb97f00452bae8b1287d3
"""
UV_TRANSITIVE = """\
error: Hash-checking is required, but no trusted hash was provided for: `charset-normalizer`
"""


def test_installer_outputs_become_one_message() -> None:
    found = hash_failure(UV_MISMATCH.splitlines())
    assert found is not None
    assert found[0] == f"{MISMATCH}: six==1.17.0 (expected {WRONG}, got {RIGHT})"
    found = hash_failure(PIP_MISSING.splitlines())
    assert found is not None and found[0] == f"{MISSING}: idna==3.10"
    found = hash_failure(UV_TRANSITIVE.splitlines())
    assert found is not None and found[0] == f"{MISSING}: charset-normalizer"
    assert hash_failure(["error: No solution found when resolving dependencies"]) is None


def test_hashes_are_verified_in_dev_and_release_builds(tmp_path: Path, env: dict[str, str]) -> None:
    root = project(tmp_path / "proj", env, f"six==1.17.0 --hash={WRONG}\n")
    release = {**env, "SAMLINK_RELEASE": "1"}
    for name, build_env in (("dev", env), ("release", release)):
        result = make(root, tmp_path / name, build_env)
        assert result.returncode != 0, result.stdout
        assert f"{MISMATCH}: six==1.17.0 (expected {WRONG}, got {RIGHT})" in result.stderr
        assert not (tmp_path / name / "six.py").exists()
    assert entries(env, root) == []  # nothing half-made is trusted

    # The fallback target (no samlink: plain pip) refuses the same file.
    fallback = make(root, tmp_path / "fallback", env, "SAMLINK=none")
    assert fallback.returncode != 0
    assert "plain pip install" in fallback.stdout
    assert MISMATCH in fallback.stdout + fallback.stderr

    # A line without a hash where hashes are required: refused before anything is installed.
    write(root / "fn" / "requirements.txt", "--require-hashes\nsix==1.17.0\n")
    result = make(root, tmp_path / "missing", env)
    assert result.returncode != 0 and f"{MISSING}: six==1.17.0" in result.stderr

    write(root / "fn" / "requirements.txt", f"--require-hashes\nsix==1.17.0 --hash={RIGHT}\n")
    for name, build_env in (("right-dev", env), ("right-release", release)):
        result = make(root, tmp_path / name, build_env)
        assert result.returncode == 0, result.stderr
        assert (tmp_path / name / "six.py").is_file()
    [entry] = entries(env, root)
    assert entry["requirements"] == ["six==1.17.0"]


@pytest.mark.sam
def test_sam_build_fails_on_a_wrong_hash(tmp_path: Path, env: dict[str, str]) -> None:
    root = project(tmp_path / "proj", env, f"six==1.17.0 --hash={WRONG}\n")
    result = run([BIN / "sam", "build"], root, env, check=False)
    assert result.returncode == 1
    assert MISMATCH in result.stdout + result.stderr


# --- the store safe from edits in a build dir ---------------------------------------------------


@pytest.mark.sam
def test_an_edit_in_a_build_dir_reaches_neither_another_project_nor_the_next_build(
    tmp_path: Path, env: dict[str, str]
) -> None:
    a = project(tmp_path / "a", env, "six==1.17.0\n")
    b = project(tmp_path / "b", env, "six==1.17.0\n")
    settle()  # so the build leaves a plan: A's next build is a replay
    sam_build(a, env)
    built = a / ".aws-sam" / "build" / "Fn" / "six.py"
    pristine = built.read_bytes()
    append(built, "\nprint('debugging')\n")

    result = sam_build(b, env)
    assert (b / ".aws-sam" / "build" / "Fn" / "six.py").read_bytes() == pristine
    # Said where the `sam build` user sees it (SAM shows a make target's stdout).
    assert "six.py changed in place since it was installed" in result.stdout + result.stderr
    sam_build(a, env)
    assert built.read_bytes() == pristine
    # The store holds one pristine entry again; the edited file went with A's old build dir.
    assert run([SAMLINK, "cache", "verify"], a, env).returncode == 0
    assert len(entries(env, a)) == 1


def test_the_warm_replay_notices_an_edit_in_place(tmp_path: Path, env: dict[str, str]) -> None:
    root = project(tmp_path / "proj", env, "six==1.17.0\n")
    settle()
    path, _ = make_build(root, "Fn", tmp_path / "first", env)
    assert path == "full"
    path, output = make_build(root, "Fn", tmp_path / "second", env)
    assert path == "fast", output
    pristine = (tmp_path / "second" / "six.py").read_bytes()
    append(tmp_path / "second" / "six.py", "\nprint('debugging')\n")

    path, output = make_build(root, "Fn", tmp_path / "third", env)
    assert path == "full" and "ChangedInPlace: six.py was changed in place" in output
    assert "six.py changed in place since it was installed" in output
    assert "reinstalling it" in output
    assert (tmp_path / "third" / "six.py").read_bytes() == pristine
    # The reinstalled entry is trusted again: the next build replays it.
    settle()
    path, _ = make_build(root, "Fn", tmp_path / "fourth", env)
    path, output = make_build(root, "Fn", tmp_path / "fifth", env)
    assert path == "fast" and FULL not in output and FAST in output
    assert (tmp_path / "fifth" / "six.py").read_bytes() == pristine


def test_both_linking_processes_notice_an_edit_in_place(tmp_path: Path) -> None:
    # tree.materialize links a large entry with two processes; the second half is the child's.
    source = tmp_path / "entry"
    files = [f"pkg{i % 40}/mod{i}.py" for i in range(1600)]
    dirs = sorted({f.split("/")[0] for f in files})
    for rel in files:
        write(source / rel, f"X = {rel!r}\n")
    sealed = max((source / rel).stat().st_mtime_ns for rel in files)
    top, halves = tree.split_tree(dirs, files)
    cwd = os.getcwd()
    tree.materialize(str(source), str(tmp_path / "clean"), top, halves, [], sealed)
    assert (tmp_path / "clean" / files[0]).samefile(source / files[0])
    assert os.getcwd() == cwd  # it links from inside the entry, and comes back

    for half in (0, 1):
        edited = halves[half][1][len(halves[half][1]) // 2]
        append(source / edited, "# edited\n")
        with pytest.raises(tree.ChangedInPlace):
            tree.materialize(str(source), str(tmp_path / f"half{half}"), top, halves, [], sealed)
        assert os.getcwd() == cwd


def test_the_full_build_notices_size_mode_and_mtime(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    uv = resolve_installer("uv")
    spec = InstallSpec(("six==1.17.0",), index=PYPI)
    target = Target("3.12", "x86_64")
    first, _ = store.provide(spec, target, uv, tmp_path / "a")
    append(tmp_path / "a" / "six.py", "# edited\n")
    assert "six.py: size" in " ".join(store.verify(first))

    again, count = store.provide(spec, target, uv, tmp_path / "b")
    assert again.build_id != first.build_id and count == again.files
    assert store.verify(again) == []
    assert not (tmp_path / "b" / "six.py").read_text().endswith("# edited\n")

    # A chmod through a build dir's link is a change too (the mode ships).
    (tmp_path / "b" / "six.py").chmod(0o755)
    third, _ = store.provide(spec, target, uv, tmp_path / "c")
    assert third.build_id != again.build_id
    assert (tmp_path / "c" / "six.py").stat().st_mode & 0o777 == 0o444


def test_an_entry_of_an_older_samlink_is_listed_verified_and_reinstalled_once(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path / "store")
    uv = resolve_installer("uv")
    spec = InstallSpec(("six==1.17.0",), index=PYPI)
    old = store.get_or_build(spec, TARGET, uv)
    # What an older samlink wrote: no mtimes, nothing to guard the files with.
    manifest = json.loads(old.manifest.read_text())
    del manifest["sealed_ns"]
    manifest["files"] = [row[:5] if row[0] == "f" else row for row in manifest["files"]]
    old.manifest.write_text(json.dumps(manifest))

    [listed] = store.entries()
    assert listed.sealed_ns == -1 and store.verify(listed) == []
    new = store.get_or_build(spec, TARGET, uv)
    assert new.build_id != old.build_id and new.sealed_ns > 0
    assert store.get_or_build(spec, TARGET, uv).build_id == new.build_id
