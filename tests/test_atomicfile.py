"""Whole-file writes: a writer SIGKILLed before its rename leaves a temp file that is samlink's by
name, and the next write into that folder (a real `samlink init`, the warm build's plan writer)
removes it. Temp files of writers still running are left alone."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import BIN, copy_example, run
from samlink import atomicfile
from samlink.build import plan

SAMLINK = BIN / "samlink"

# The child is held between writing its temp file and the rename (its os.replace never returns),
# so the SIGKILL lands exactly where a real kill leaves debris; the kill itself is real.
HELD_WRITER = """
import os, sys, time
from pathlib import Path
from samlink import atomicfile
from samlink.build import plan

def hold(*args):
    print("ready", flush=True)
    time.sleep(600)

os.replace = hold
if sys.argv[1] == "text":
    atomicfile.write_text(Path(sys.argv[2]), "half")
else:
    plan.write_atomic(sys.argv[2], b"half")
"""


def killed_writer(how: str, path: Path) -> str:
    """Run a writer for `path`, SIGKILL it mid-write; return the temp file it left."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HELD_WRITER, how, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    left = [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    assert len(left) == 1, left
    assert left[0].startswith(f".{path.name}.samlink-{proc.pid}-")
    return left[0]


def test_a_killed_init_leaves_a_temp_file_the_next_init_sweeps(
    tmp_path: Path, tool_env: dict[str, str]
) -> None:
    project = copy_example(tmp_path / "hello")
    template = project / "template.yaml"
    before = template.read_text()
    left = killed_writer("text", template)
    assert template.read_text() == before  # the killed write changed nothing
    assert atomicfile.writer_pid(left) is not None

    run([SAMLINK, "init"], project, tool_env)
    assert not [p for p in project.rglob("*.tmp")], "a dead writer's temp file survived"
    assert "BuildMethod: makefile" in template.read_text()


def test_the_warm_paths_writer_sweeps_too_and_spares_live_writers(tmp_path: Path) -> None:
    builds = tmp_path / ".samlink" / "builds"
    builds.mkdir(parents=True)
    dead = killed_writer("bytes", builds / "Fn.plan")
    alive = subprocess.Popen(["sleep", "600"])
    try:
        live_temp = builds / f".Other.plan.samlink-{alive.pid}-0000.tmp"
        live_temp.write_bytes(b"being written")
        unrelated = builds / ".notes.tmp"  # not samlink's name: never touched
        unrelated.write_bytes(b"")
        plan.write_atomic(str(builds / "Other.record"), b"{}")
        names = sorted(p.name for p in builds.iterdir())
        assert dead not in names
        assert names == sorted(["Other.record", live_temp.name, unrelated.name])
    finally:
        alive.kill()
        alive.wait()
    assert atomicfile.sweep(str(builds)) == [live_temp.name]


def test_modes_kept_and_new_files_follow_the_umask(tmp_path: Path) -> None:
    script = tmp_path / "run.sh"
    script.write_text("old")
    script.chmod(0o750)
    atomicfile.write_text(script, "new")
    assert script.read_text() == "new" and script.stat().st_mode & 0o777 == 0o750
    old = os.umask(0o027)
    try:
        atomicfile.write_text(tmp_path / "fresh" / "file.txt", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "fresh" / "file.txt").stat().st_mode & 0o777 == 0o640


def test_write_all_writes_every_file_or_none(tmp_path: Path) -> None:
    first = tmp_path / "template.yaml"
    first.write_text("old template")
    blocker = tmp_path / "code"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(OSError) as failed:
        atomicfile.write_all([(first, "new template"), (blocker / "Makefile", "all:")])
    assert failed.value.filename == str(blocker / "Makefile")  # the file asked for, not a temp
    assert first.read_text() == "old template"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["code", "template.yaml"]

    atomicfile.write_all([(first, "new"), (tmp_path / "sub" / "Makefile", "all:")])
    assert first.read_text() == "new" and (tmp_path / "sub" / "Makefile").read_text() == "all:"
    assert not [p for p in tmp_path.rglob("*.tmp")]


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare")
def test_write_all_puts_back_what_it_replaced_when_a_later_rename_fails(tmp_path: Path) -> None:
    # The second target is a mount point (a read-only bind mount of a file): its temp file is
    # written fine beside it, but the rename onto it fails (EBUSY), after the first succeeded.
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    first.write_text("old a")
    second.write_text("old b")
    script = (
        "import sys; from pathlib import Path; from samlink import atomicfile\n"
        "a, b = Path(sys.argv[1]), Path(sys.argv[2])\n"
        "try:\n"
        "    atomicfile.write_all([(a, 'new a'), (b, 'new b')])\n"
        "except OSError as exc:\n"
        "    print('failed', exc.filename)\n"
    )
    result = subprocess.run(
        [
            "unshare",
            "-m",
            "sh",
            "-c",
            f'mount --bind "$2" "$2" && mount -o remount,bind,ro "$2" && exec "{sys.executable}"'
            ' -c "$0" "$1" "$2"',
            script,
            str(first),
            str(second),
        ],
        capture_output=True,
        text=True,
    )
    if "mount" in result.stderr and result.returncode != 0:
        pytest.skip(f"mount namespaces not permitted here: {result.stderr.strip()}")
    assert result.stdout.strip() == f"failed {second}", result.stderr
    assert first.read_text() == "old a" and second.read_text() == "old b"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt"]
