"""`samlink watch` and the watcher under it: real watchdog, real `sam build`, real files."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import BIN, copy_lib, run
from samlink.build.ship import is_noise
from samlink.live.watch import Change, SourceWatcher, Watch, linked_sources
from samlink.model.template import load_template

SAMLINK = BIN / "samlink"


# -- helpers shared with test_sync.py ----------------------------------------------------------


class Live:
    """A long-running command in its own process group, its output collected line by line."""

    def __init__(
        self, cmd: list[str | Path], cwd: Path, env: dict[str, str], stdin: str | None = None
    ) -> None:
        self.token = uuid.uuid4().hex
        env = {**env, "SAMLINK_TEST_TOKEN": self.token}  # inherited by every descendant
        self.proc = subprocess.Popen(
            [str(c) for c in cmd],
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # a process group of its own, as a terminal's job
        )
        if stdin is not None:
            assert self.proc.stdin is not None
            self.proc.stdin.write(stdin)
            self.proc.stdin.close()
        self.lines: list[str] = []
        self._cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    @property
    def output(self) -> str:
        with self._cond:
            return "\n".join(self.lines)

    def mark(self) -> int:
        with self._cond:
            return len(self.lines)

    def wait_for(self, pattern: str, timeout: float = 180, start: int = 0) -> re.Match[str]:
        """The first line from `start` on that matches; fails after `timeout` or on exit."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            index = start
            while True:
                while index < len(self.lines):
                    match = regex.search(self.lines[index])
                    if match:
                        return match
                    index += 1
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and index >= len(self.lines)):
                    raise AssertionError(
                        f"no line matching {pattern!r} (exit {self.proc.poll()}):\n"
                        + "\n".join(self.lines[-80:])
                    )
                self._cond.wait(min(left, 1.0))

    def count(self, pattern: str, start: int = 0) -> int:
        regex = re.compile(pattern)
        with self._cond:
            return sum(1 for line in self.lines[start:] if regex.search(line))

    def interrupt(self) -> None:
        """SIGINT to the whole process group, as a terminal's Ctrl-C sends it."""
        os.killpg(self.proc.pid, signal.SIGINT)

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
        for pid in processes_with(self.token):
            os.kill(pid, signal.SIGKILL)


def processes_with(token: str) -> list[int]:
    """Live processes whose environment carries the token (everything a Live started)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if f"SAMLINK_TEST_TOKEN={token}".encode() in environ.split(b"\0") and state != "Z":
            found.append(int(entry.name))
    return found


def wait_until(check: object, timeout: float = 120, what: str = "condition") -> None:
    assert callable(check)
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


# -- the watcher -------------------------------------------------------------------------------


@pytest.fixture
def watched(tmp_path: Path) -> Iterator[tuple[Path, queue.Queue[list[Change]]]]:
    package = tmp_path / "lib" / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("A = 1\n")
    (package / "sub" / "mod.py").write_text("B = 1\n")
    (package / "__pycache__").mkdir()
    batches: queue.Queue[list[Change]] = queue.Queue()
    watcher = SourceWatcher([Watch(package)], batches.put, quiet=0.2)
    watcher.start()
    try:
        yield package, batches
    finally:
        watcher.stop()


def settle(batches: queue.Queue[list[Change]], wait: float = 1.5) -> list[Change]:
    """Every change reported within `wait` seconds."""
    found: list[Change] = []
    deadline = time.monotonic() + wait
    while (left := deadline - time.monotonic()) > 0:
        try:
            found += batches.get(timeout=left)
        except queue.Empty:
            break
    return found


def test_watcher_reports_edits_once_per_burst(
    watched: tuple[Path, queue.Queue[list[Change]]],
) -> None:
    package, batches = watched
    for n in range(5):
        (package / "sub" / "mod.py").write_text(f"B = {n}\n")
    (package / "new.py").write_text("C = 1\n")
    batch = batches.get(timeout=10)
    assert sorted((c.path.name, c.kind) for c in batch) == [
        ("mod.py", "modified"),
        ("new.py", "created"),
    ]
    assert settle(batches) == []


def test_watcher_ignores_clutter_and_attribute_changes(
    watched: tuple[Path, queue.Queue[list[Change]]], tmp_path: Path
) -> None:
    package, batches = watched
    (package / "__pycache__" / "mod.cpython-312.pyc").write_bytes(b"x")
    (package / ".mod.py.swp").write_text("x")
    (package / "mod.py~").write_text("x")
    (package / "#mod.py#").write_text("x")
    (package / "4913").write_text("")
    (package / ".git").mkdir()
    (package / ".git" / "index").write_text("x")
    (package / "tests").mkdir()
    (package / "tests" / "test_x.py").write_text("x")
    # What sync builds do to linked files: hard links made and removed; and a chmod.
    os.link(package / "__init__.py", tmp_path / "hard-link")
    (tmp_path / "hard-link").unlink()
    os.chmod(package / "__init__.py", 0o600)
    assert settle(batches, 2.0) == []


def test_watcher_sees_an_atomic_save_as_one_edit(
    watched: tuple[Path, queue.Queue[list[Change]]],
) -> None:
    package, batches = watched
    temp = package / "__init__.py.tmp-save"
    temp.write_text("A = 2\n")
    temp.rename(package / "__init__.py")
    assert [(c.path.name, c.kind) for c in settle(batches)] == [("__init__.py", "modified")]


def test_noise_names() -> None:
    for name in ("__pycache__", ".git", ".venv", "tests", "pkg.egg-info"):
        assert is_noise(name, is_dir=True)
    for name in ("x.pyc", "x.py~", ".x.py.swp", "#x.py#", "4913", "x.py___jb_tmp___", ".DS_Store"):
        assert is_noise(name, is_dir=False)
    for name in ("x.py", "data.txt", "py.typed", "testing.py"):
        assert not is_noise(name, is_dir=False)
    assert not is_noise("pkg", is_dir=True)


# -- samlink watch with a real sam build -------------------------------------------------------

HANDLER = "def lambda_handler(event, context):\n    return 1\n"

TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.12
    Handler: app.lambda_handler
Resources:
  Linked:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: linked/
  Other:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: other/
"""

EXTRA = """\
  Added:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: other/
"""


def tree_state(root: Path) -> dict[str, tuple[int, int]]:
    """(inode, mtime_ns) of a folder and everything under it: equal means untouched."""
    state = {".": (root.stat().st_ino, root.stat().st_mtime_ns)}
    for path in root.rglob("*"):
        info = path.lstat()
        state[str(path.relative_to(root))] = (info.st_ino, info.st_mtime_ns)
    return state


@pytest.mark.sam
def test_watch_keeps_builds_fresh(
    tmp_path: Path, tool_env: dict[str, str], wheelhouse: Path
) -> None:
    project = tmp_path / "project"
    for name in ("linked", "other"):
        (project / name).mkdir(parents=True)
        (project / name / "app.py").write_text(HANDLER)
    (project / "template.yaml").write_text(TEMPLATE)
    requirements = project / "linked" / "requirements.txt"
    requirements.write_text(f"--no-index\n--find-links {wheelhouse}\nacme-single==1.0.0\n")
    run([SAMLINK, "init"], project, tool_env)
    checkouts = tmp_path / "checkouts"
    checkouts.mkdir()
    ns_flat = copy_lib("ns_flat", checkouts)
    build = project / ".aws-sam" / "build"

    live = Live([SAMLINK, "watch"], project, tool_env)
    try:
        live.wait_for(r"samlink: watching template\.yaml")
        assert (build / "Linked" / "acme_single.py").is_file()  # the first full build
        other_before = tree_state(build / "Other")

        # Requirements change: that resource alone is rebuilt, swapped in whole.
        mark = live.mark()
        requirements.write_text(requirements.read_text() + "acme-flit==1.0.0\n")
        live.wait_for(r"samlink: rebuilt Linked in .* \(requirements\.txt changed\)", start=mark)
        assert (build / "Linked" / "acme_flit" / "__init__.py").is_file()
        assert tree_state(build / "Other") == other_before

        # A new link (and a flat-layout namespace project: its files are materialized).
        mark = live.mark()
        run([SAMLINK, "link", ns_flat, "--function", "Linked"], project, tool_env)
        live.wait_for(r"samlink: rebuilt Linked in .*links changed", start=mark)
        copied = build / "Linked" / "acme" / "nsflat" / "__init__.py"
        assert copied.is_file() and not copied.is_symlink()
        assert tree_state(build / "Other") == other_before

        # An edit to a materialized source is copied in; nothing is rebuilt.
        mark = live.mark()
        source = ns_flat / "acme" / "nsflat" / "__init__.py"
        source.write_text(source.read_text() + "EDITED = True\n")
        live.wait_for(r"samlink: refreshed acme/nsflat/__init__\.py in Linked", start=mark)
        assert "EDITED = True" in copied.read_text()
        assert live.count(r"rebuil|sam build", start=mark) == 0

        # A new top-level file in a code dir needs a link of its own in the build.
        mark = live.mark()
        (project / "linked" / "helpers.py").write_text("X = 1\n")
        live.wait_for(r"samlink: rebuilt Linked in .*helpers\.py created", start=mark)
        assert (build / "Linked" / "helpers.py").is_symlink()

        # The template changes: a full sam build.
        mark = live.mark()
        template = project / "template.yaml"
        template.write_text(template.read_text() + EXTRA)
        live.wait_for(r"samlink: sam build done", start=mark)
        assert (build / "Added" / "app.py").exists()
        assert (build / "Linked" / "acme_flit").is_dir()

        # Ctrl-C during a rebuild: the last good build stays whole, nothing is left running.
        mark = live.mark()
        requirements.write_text(requirements.read_text().replace("acme-flit==1.0.0\n", ""))
        live.wait_for(r"samlink: rebuilding Linked", start=mark)
        live.interrupt()
        assert live.proc.wait(timeout=60) == 130
        wait_until(lambda: not processes_with(live.token), 30, "no process left")
        assert (build / "Linked" / "app.py").exists()
        assert (build / "Linked" / "acme_single.py").is_file()
        leftovers = [p.name for p in build.parent.rglob("*samlink-*")]
        assert leftovers == []
    finally:
        live.kill()


def test_linked_sources_name_what_feeds_what(
    tmp_path: Path, tool_env: dict[str, str], wheelhouse: Path
) -> None:
    project = tmp_path / "project"
    for name in ("linked", "other"):
        (project / name).mkdir(parents=True)
        (project / name / "app.py").write_text("")
    (project / "template.yaml").write_text(TEMPLATE)
    (project / "linked" / "requirements.txt").write_text(
        f"--no-index\n--find-links {wheelhouse}\nacme-st-src==1.0.0\n"
    )
    run([SAMLINK, "init"], project, tool_env)
    lib = copy_lib("st_src", tmp_path)
    run([SAMLINK, "link", lib], project, tool_env)
    sources = linked_sources(load_template(project / "template.yaml"))
    by_kind = {(s.kind, s.path): s.resources for s in sources}
    assert by_kind[("package", (lib / "src" / "acme_st_src").resolve())] == ("Linked",)
    assert by_kind[("metadata", (lib / "pyproject.toml").resolve())] == ("Linked",)
    assert all(s.project == "acme-st-src" for s in sources)
