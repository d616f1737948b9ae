"""The dependency store: keys, publishing under a lock, crash safety, hard links, verify."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from samlink.build.installer import IndexOptions, Installer, InstallSpec, resolve_installer
from samlink.build.store import Store, is_pinned
from samlink.model.target import Target

PYPI = IndexOptions(index_url="https://pypi.org/simple")
SMALL = InstallSpec(("six==1.17.0", "idna==3.10"), index=PYPI)
ARM312 = Target("3.12", "arm64")
FAKE_UV = Installer("uv", "0.0-test", "/nonexistent/uv")  # never run: no requirements


@pytest.fixture(scope="module")
def uv() -> Installer:
    return resolve_installer("uv")


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.delenv("SAMLINK_STORE_TTL_HOURS", raising=False)
    return Store(tmp_path / "store")


def tmp_leftovers(store: Store) -> list[str]:
    tmp = store.root / "v1" / "tmp"
    return sorted(os.listdir(tmp)) if tmp.exists() else []


# --- keys (no installs) --------------------------------------------------------------------


def test_key_ignores_order_whitespace_and_name_case(store: Store) -> None:
    a = InstallSpec(("Requests>=2.0", "six==1.17.0", "Zope.Interface[Test]"))
    b = InstallSpec(("  six == 1.17.0 ", "zope-interface[test]", "requests >= 2.0"))
    assert store.key(a, ARM312, FAKE_UV) == store.key(b, ARM312, FAKE_UV)


def test_key_changes_with_anything_that_changes_the_result(store: Store) -> None:
    base = store.key(SMALL, ARM312, FAKE_UV)
    others = [
        store.key(InstallSpec(("six==1.16.0", "idna==3.10"), index=PYPI), ARM312, FAKE_UV),
        store.key(InstallSpec(SMALL.requirements, ("idna<4",), PYPI), ARM312, FAKE_UV),
        store.key(InstallSpec(SMALL.requirements), ARM312, FAKE_UV),
        store.key(SMALL, Target("3.12", "x86_64"), FAKE_UV),
        store.key(SMALL, Target("3.13", "arm64"), FAKE_UV),
        store.key(SMALL, ARM312, Installer("uv", "0.0-other")),
        store.key(SMALL, ARM312, Installer("pip", "0.0-test")),
    ]
    assert len({base, *others}) == len(others) + 1


def test_key_ignores_credentials_in_urls(store: Store) -> None:
    # Tokens such as CodeArtifact's rotate every few hours; the packages do not.
    one = InstallSpec(("six",), index=IndexOptions(index_url="https://aws:tok1@corp.example/s/"))
    two = InstallSpec(("six",), index=IndexOptions(index_url="https://aws:tok2@corp.example/s/"))
    assert store.key(one, ARM312, FAKE_UV) == store.key(two, ARM312, FAKE_UV)


def test_key_follows_find_links_folders_and_local_files(tmp_path: Path, store: Store) -> None:
    links = tmp_path / "links"
    links.mkdir()
    spec = InstallSpec(("six",), index=IndexOptions(find_links=(str(links),)))
    before = store.key(spec, ARM312, FAKE_UV)
    (links / "six-9.9-py3-none-any.whl").write_bytes(b"")
    assert store.key(spec, ARM312, FAKE_UV) != before

    wheel = tmp_path / "mylib-1.0-py3-none-any.whl"
    wheel.write_bytes(b"one")
    local = InstallSpec((str(wheel),))
    before = store.key(local, ARM312, FAKE_UV)
    wheel.write_bytes(b"two!")
    assert store.key(local, ARM312, FAKE_UV) != before


def test_pinned_specs() -> None:
    assert is_pinned(InstallSpec(("six==1.17.0", "idna===3.10", "/abs/lib.whl")))
    assert is_pinned(InstallSpec(()))
    assert not is_pinned(InstallSpec(("six==1.17.0", "idna")))
    assert not is_pinned(InstallSpec(("six==1.*",)))
    assert not is_pinned(InstallSpec(("six>=1.17",)))
    assert not is_pinned(InstallSpec(("lib @ git+https://example.com/lib@main",)))


# --- entries without an installer run ------------------------------------------------------


def test_empty_requirements_make_an_empty_entry_without_running_an_installer(
    tmp_path: Path, store: Store
) -> None:
    spec = InstallSpec((), index=IndexOptions(index_url="https://aws:secret@corp.example/s/"))
    entry = store.get_or_build(spec, ARM312, FAKE_UV)
    assert entry.files == 0 and entry.path.is_dir()
    assert store.materialize(entry, tmp_path / "dest") == 0
    assert (tmp_path / "dest").is_dir()
    # What `cache list` shows never holds the credentials.
    assert "secret" not in entry.manifest.read_text()
    assert store.entries()[0].spec.index.index_url == "https://***@corp.example/s/"
    assert store.get_or_build(spec, ARM312, FAKE_UV).build_id == entry.build_id


# --- real builds ---------------------------------------------------------------------------


def test_build_materialize_hard_links_and_verify(
    tmp_path: Path, store: Store, uv: Installer
) -> None:
    entry = store.get_or_build(SMALL, ARM312, uv)
    assert entry.path == store.root / "v1" / "entries" / entry.key / "tree"
    dest = tmp_path / "build"
    count = store.materialize(entry, dest)
    assert count == entry.files > 10
    assert (dest / "six.py").stat().st_ino == (entry.path / "six.py").stat().st_ino
    assert (dest / "idna" / "core.py").samefile(entry.path / "idna" / "core.py")
    # Store files are read-only: a build dir holds links to them.
    assert not (entry.path / "six.py").stat().st_mode & 0o222
    assert store.verify(entry) == []
    assert [e.key for e in store.entries()] == [entry.key]

    # A second materialize into the same dest merges (no error, same inodes).
    assert store.materialize(entry, dest) == count

    victim = entry.path / "idna" / "core.py"
    mode = victim.stat().st_mode
    victim.chmod(0o644)
    with open(victim, "ab") as f:
        f.write(b"# tampered\n")
    victim.chmod(mode)
    (entry.path / "stray.txt").write_text("x")
    problems = store.verify(entry)
    assert any(p.startswith("idna/core.py: size") for p in problems), problems
    assert "stray.txt: not in the manifest" in problems


def test_materialize_replaces_files_and_never_writes_through_a_symlinked_dir(
    tmp_path: Path, store: Store, uv: Installer
) -> None:
    entry = store.get_or_build(SMALL, ARM312, uv)
    dest = tmp_path / "build"
    dest.mkdir()
    (dest / "six.py").write_text("stale")
    outside = tmp_path / "somebodys-source"
    outside.mkdir()
    (outside / "precious.py").write_text("keep me")
    (dest / "idna").symlink_to(outside)
    store.materialize(entry, dest)
    assert (dest / "six.py").samefile(entry.path / "six.py")
    assert not (dest / "idna").is_symlink() and (dest / "idna" / "core.py").is_file()
    assert sorted(os.listdir(outside)) == ["precious.py"]


def test_materialize_copies_across_filesystems(tmp_path: Path, store: Store, uv: Installer) -> None:
    other = Path("/dev/shm")
    if not os.access(other, os.W_OK) or other.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("needs a writable /dev/shm on another filesystem than the store")
    entry = store.get_or_build(SMALL, ARM312, uv)
    dest = Path(tempfile.mkdtemp(dir=other, prefix="samlink-test-"))
    try:
        assert store.materialize(entry, dest) == entry.files
        copied = dest / "idna" / "core.py"
        assert copied.read_bytes() == (entry.path / "idna" / "core.py").read_bytes()
        assert not copied.samefile(entry.path / "idna" / "core.py")
    finally:
        shutil.rmtree(dest)


def test_a_deleted_store_file_is_detected_and_the_entry_rebuilt(
    tmp_path: Path, store: Store, uv: Installer
) -> None:
    first = store.get_or_build(SMALL, ARM312, uv)
    (first.path / "idna" / "core.py").unlink()
    # The cheap check (manifest present) passes; materialize walks the manifest and notices.
    entry, count = store.provide(SMALL, ARM312, uv, tmp_path / "build")
    assert entry.build_id != first.build_id
    assert count == entry.files
    assert (tmp_path / "build" / "idna" / "core.py").samefile(entry.path / "idna" / "core.py")
    assert store.verify(entry) == []


def test_unpinned_entries_expire_and_refresh_rebuilds(
    store: Store, uv: Installer, monkeypatch: pytest.MonkeyPatch
) -> None:
    unpinned = InstallSpec(("six",), index=PYPI)
    first = store.get_or_build(unpinned, ARM312, uv)
    assert store.get_or_build(unpinned, ARM312, uv).build_id == first.build_id
    monkeypatch.setenv("SAMLINK_STORE_TTL_HOURS", "0")
    second = store.get_or_build(unpinned, ARM312, uv)
    assert second.build_id != first.build_id
    assert len(store.entries()) == 1  # replaced, not added
    # Pinned entries do not expire, but refresh=True rebuilds them.
    pinned = store.get_or_build(SMALL, ARM312, uv)
    assert store.get_or_build(SMALL, ARM312, uv).build_id == pinned.build_id
    assert store.get_or_build(SMALL, ARM312, uv, refresh=True).build_id != pinned.build_id
    assert tmp_leftovers(store) == []


def test_prune_by_last_use_and_clear(store: Store) -> None:
    old = store.get_or_build(InstallSpec(()), ARM312, FAKE_UV)
    recent = store.get_or_build(InstallSpec(()), Target("3.11", "x86_64"), FAKE_UV)
    ten_days_ago = time.time() - 10 * 86400
    os.utime(old.path.parent / "last-used", (ten_days_ago, ten_days_ago))
    removed = store.prune(older_than_days=7)
    assert [e.key for e in removed] == [old.key]
    assert [e.key for e in store.entries()] == [recent.key]
    store.clear()
    assert store.entries() == []
    assert os.listdir(store.root / "v1" / "locks") == []


# --- several processes ---------------------------------------------------------------------

WORKER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from samlink.build.installer import IndexOptions, Installer, InstallSpec
    from samlink.build.store import Store
    from samlink.model.target import Target

    root, dest, go, exe, version = sys.argv[1:6]
    while not Path(go).exists():
        time.sleep(0.005)
    spec = InstallSpec(("six==1.17.0", "idna==3.10"),
                       index=IndexOptions(index_url="https://pypi.org/simple"))
    entry, count = Store(Path(root)).provide(
        spec, Target("3.12", "arm64"), Installer("uv", version, exe), Path(dest))
    print(json.dumps({"id": entry.build_id, "count": count}))
    """
)


def start_worker(
    tmp_path: Path, store: Store, dest: Path, go: Path, exe: str, version: str
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, str(store.root), str(dest), str(go), exe, version],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, so a kill reaches the installer too
    )


def test_two_processes_building_the_same_key_make_one_entry(
    tmp_path: Path, store: Store, uv: Installer
) -> None:
    go = tmp_path / "go"
    workers = [
        start_worker(tmp_path, store, tmp_path / f"dest{i}", go, uv.executable, uv.version)
        for i in range(2)
    ]
    go.touch()
    results = []
    for proc in workers:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
        results.append(json.loads(out))
    assert results[0]["id"] == results[1]["id"]  # the second used the first's entry
    assert len(store.entries()) == 1
    entry = store.entries()[0]
    for i in range(2):
        assert (tmp_path / f"dest{i}" / "idna" / "core.py").samefile(entry.path / "idna/core.py")
        assert results[i]["count"] == entry.files
    assert tmp_leftovers(store) == []


FAKE_INSTALLER = textwrap.dedent(
    """\
    #!{python}
    # Stand-in for uv: writes part of an install, says so, then hangs until killed.
    import sys, time
    from pathlib import Path
    target = Path(sys.argv[sys.argv.index("--target") + 1])
    (target / "six.py").write_text("# half")
    Path({marker!r}).touch()
    time.sleep(600)
    """
)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_a_build_killed_mid_install_leaves_nothing_trusted(
    tmp_path: Path, store: Store, uv: Installer, sig: signal.Signals
) -> None:
    # The installer is a stand-in script so the kill lands mid-install every time; the
    # rebuild afterwards uses the real uv (same name and version, so the same key).
    marker = tmp_path / "installing"
    fake = tmp_path / "fake-uv"
    fake.write_text(FAKE_INSTALLER.format(python=sys.executable, marker=str(marker)))
    fake.chmod(0o755)
    go = tmp_path / "go"
    go.touch()
    proc = start_worker(tmp_path, store, tmp_path / "dest", go, str(fake), uv.version)
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.01)
    os.killpg(proc.pid, sig)
    proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert store.entries() == []
    if sig == signal.SIGINT:
        assert tmp_leftovers(store) == []  # Ctrl-C cleans up after itself
    else:
        assert len(tmp_leftovers(store)) == 1  # SIGKILL cannot; the next build will

    entry, count = store.provide(SMALL, ARM312, uv, tmp_path / "dest2")
    assert count == entry.files and store.verify(entry) == []
    assert "# half" not in (entry.path / "six.py").read_text()
    assert tmp_leftovers(store) == []
