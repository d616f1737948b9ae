"""`samlink sync`: one `sam sync --watch` process that also hears about linked sources.

SAM watches each function's CodeUri only, and its pinned watchdog skips symlinked folders, so an
edit to a linked library never reaches AWS. A second SAM process (`sam sync --code`) beside a
live `sam sync --watch` races it: SAM's zip flow wipes and rebuilds the build dir, and its locks
hold within one process only. So samlink never syncs by itself. It watches the linked sources
and, on a real change, rewrites a marker file inside the CodeUri of each resource the source
feeds (`<CodeUri>/.samlink-sync/<LogicalId>`, git-ignored, never built): SAM's own watcher sees
that, and SAM's own queue (one sync per resource at a time, later changes queued behind it) runs
the makefile build and the upload. Edits inside a CodeUri are SAM's alone, so none is synced twice.

SAM runs below a supervisor (samlink/reaper.py) whose lifeline is a pipe only this process
holds: however samlink ends (Ctrl-C, SIGTERM, SIGHUP, SIGKILL), SAM and what it started (make,
`samlink build`) end too, and the markers go. One sync per project: `.samlink/sync.lock` is held
(flock) by samlink and the supervisor and names them; a new sync refuses while the owner lives
and ends the processes of one that died without cleaning up.

What SAM uploads is the build dir zipped through its links. Under `samlink sync` the SAM process
carries SAMLINK_SYNC=1 down to make and `samlink build`, which then calls `realize`: the
top-level links of the dev build become real, filtered files, hard-linked, not copied.
"""

from __future__ import annotations

import codecs
import contextlib
import fcntl
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from samlink import atomicfile, reaper
from samlink.build.ship import SYNC_ENV
from samlink.errors import UsageError
from samlink.live.watch import (
    Change,
    LinkedSource,
    SourceWatcher,
    Watch,
    linked_sources,
    resources_fed,
)
from samlink.model import links
from samlink.model.template import Resource, Template

REAPER = Path(reaper.__file__)

MARKER_DIR = ".samlink-sync"
_MARKER_IGNORE = (
    "# samlink sync: markers that tell `sam sync --watch` a linked library changed\n*\n"
)
SAM_PREFIX = "[sam] "
LOCK_NAME = "sync.lock"
# How long SAM may take to finish an upload in flight after Ctrl-C before it is terminated.
STOP_GRACE = 60.0


# ---------------------------------------------------------------------------------------------
# Markers: how a linked-source edit reaches SAM's own watcher


def marker_path(resource: Resource) -> Path:
    assert resource.code_dir is not None
    return resource.code_dir / MARKER_DIR / marker_name(resource.logical_id)


def marker_name(resource_id: str) -> str:
    """A marker file's name: a nested application's full ID (App/Child/Fn) as App.Child.Fn."""
    return resource_id.replace("/", ".")


def prepare_markers(resources: Sequence[Resource]) -> list[Path]:
    """Create each resource's marker (before SAM starts watching); returns the marker folders.

    Folders left by a sync that was killed before it could clean up are made afresh.
    """
    made = []
    for resource in resources:
        path = marker_path(resource)
        if path.parent not in made:
            shutil.rmtree(path.parent, ignore_errors=True)
            made.append(path.parent)
        ignore = path.parent / ".gitignore"
        if not ignore.exists():
            atomicfile.write_text(ignore, _MARKER_IGNORE)
        if not path.exists():
            atomicfile.write_text(path, "0\n")
    return made


def touch(path: Path) -> None:
    """Change a marker's content: a write SAM's watcher reports as a change in the CodeUri."""
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"{time.time_ns()}\n")


def remove_markers(folders: Sequence[Path]) -> None:
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# The SAM command line


def sam_executable() -> str:
    """The `sam` a user would run; else the one installed beside samlink."""
    found = shutil.which("sam")
    if found:
        return found
    beside = Path(sys.executable).parent / "sam"
    if beside.exists():
        return str(beside)
    raise UsageError("the AWS SAM CLI (`sam`) is not on PATH", "pip install aws-sam-cli")


def watch_excludes(template: Template) -> list[str]:
    """`--watch-exclude` values that keep each marker and samlink's state to their resource."""
    values = []
    state = links.state_dir(template.path.parent).resolve()
    with_code = [r for r in template.resources.values() if r.code_dir is not None]
    for resource in with_code:
        assert resource.code_dir is not None
        code = resource.code_dir.resolve()
        for other in with_code:
            assert other.code_dir is not None
            if other.logical_id != resource.logical_id and other.code_dir.resolve() == code:
                # SAM matches `^.*<value>.*$` against the full path.
                name = re.escape(marker_name(other.logical_id))
                values.append(f"{resource.logical_id}=/{re.escape(MARKER_DIR)}/{name}$")
        if code == state.parent or code in state.parents:
            # Builds write their records there: SAM would sync on every build it runs.
            values.append(f"{resource.logical_id}=/{re.escape(links.STATE_DIR)}/")
    return values


def sam_command(
    sam: str,
    template_path: Path,
    sam_args: Sequence[str],
    *,
    stack_name: str | None,
    dependency_layer: bool,
    excludes: Sequence[str],
) -> list[str]:
    """`sam sync --watch` with the user's options passed through."""
    command = [sam, "sync", "--watch", "--template-file", str(template_path)]
    if stack_name:
        command += ["--stack-name", stack_name]
    command.append("--dependency-layer" if dependency_layer else "--no-dependency-layer")
    for value in excludes:
        command += ["--watch-exclude", value]
    return command + list(sam_args)


def check_sam_args(sam_args: Sequence[str]) -> None:
    """Refuse options that defeat samlink sync."""
    for arg in sam_args:
        if arg == "--no-watch":
            raise UsageError(
                "samlink sync always watches", "for a one-off sync run `sam sync` itself"
            )
        if arg in ("--use-container", "-u"):
            raise UsageError(
                "--use-container builds in SAM's image, without samlink or your checkouts",
                "drop --use-container",
            )
        if arg in ("-t", "--template", "--template-file") or arg.startswith(
            ("--template=", "--template-file=")
        ):
            raise UsageError("give the template to samlink sync itself", "samlink sync -t FILE")


# ---------------------------------------------------------------------------------------------
# SAM's output: what it syncs, and when it watches

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_SYNCING = re.compile(r"^Syncing (?:Lambda Function|Layer) (\S+)\.\.\.$")
_FINISHED = re.compile(r"Finished syncing (?:Lambda Function|Layer) (\S+)\.$")
_INFRA_START = "Starting infra sync."
_INFRA_DONE = ("Infra sync completed.", "Skipped infra sync", "Sync watch started.")
_INFRA_FAILED = "Failed to sync infra."
_CODE_ERROR = "Code sync encountered an error."


@dataclass(frozen=True)
class SamEvent:
    kind: (
        str  # "sync-start" | "sync-done" | "infra-start" | "infra-done" | "infra-failed" | "error"
    )
    resource: str = ""


def parse_sam_line(line: str) -> SamEvent | None:
    """What one line of `sam sync --watch` output says, if anything samlink acts on."""
    text = _ANSI.sub("", line).strip()
    if match := _SYNCING.match(text):
        return SamEvent("sync-start", match.group(1))
    if match := _FINISHED.search(text):
        return SamEvent("sync-done", match.group(1))
    if text == _INFRA_START:
        return SamEvent("infra-start")
    if text.startswith(_INFRA_DONE):
        return SamEvent("infra-done")
    if text.startswith(_INFRA_FAILED):
        return SamEvent("infra-failed")
    if text.startswith(_CODE_ERROR):
        return SamEvent("error")
    return None


class Console:
    """One writer for SAM's stream (prefixed, prompts included) and samlink's own lines."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self._stream = stream or sys.stdout
        self._lock = threading.Lock()
        self._at_line_start = True

    def sam(self, text: str) -> None:
        with self._lock:
            out = []
            for piece in text.splitlines(keepends=True):
                if self._at_line_start:
                    out.append(SAM_PREFIX)
                out.append(piece)
                self._at_line_start = piece.endswith("\n")
            self._write("".join(out))

    def say(self, message: str) -> None:
        with self._lock:
            self._write(("" if self._at_line_start else "\n") + f"samlink: {message}\n")
            self._at_line_start = True

    def _write(self, text: str) -> None:
        with contextlib.suppress(ValueError, OSError):  # a closed or broken stdout
            self._stream.write(text)
            self._stream.flush()


# ---------------------------------------------------------------------------------------------
# The session


@dataclass
class _Pending:
    """Linked-source changes that wait for a sync of one resource."""

    since: float
    what: list[str]
    started: float | None = None


@dataclass
class Session:
    """`sam sync --watch` plus the linked-source watcher, until SAM exits or Ctrl-C."""

    template: Template
    command: list[str]
    console: Console = field(default_factory=Console)
    grace: float = STOP_GRACE
    _events: queue.Queue[tuple[str, object]] = field(default_factory=queue.Queue)
    _pending: dict[str, _Pending] = field(default_factory=dict)
    _sources: list[LinkedSource] = field(default_factory=list)
    _managed: dict[str, Resource] = field(default_factory=dict)
    _watcher: SourceWatcher | None = None
    _proc: subprocess.Popen[bytes] | None = None
    lock: SyncLock | None = None
    _lifeline: int | None = None

    def run(self) -> int:
        self._managed = {r.logical_id: r for r in self.template.managed()}
        self._sources = linked_sources(self.template)
        made = prepare_markers(list(self._managed.values()))
        try:
            self._proc = self._start_sam(made)
            self._watch()
            self._announce()
            return self._loop()
        finally:
            if self._watcher is not None:
                self._watcher.stop()
            self._stop_sam()
            remove_markers(made)

    @property
    def _registry(self) -> Path:
        return (links.state_dir(self.template.path.parent) / "links.json").resolve()

    def _watch(self) -> None:
        if self._watcher is not None:
            self._watcher.stop()
        # The registry's folder must exist to be watched: `samlink link` may come later.
        self._registry.parent.mkdir(parents=True, exist_ok=True)
        watches = [Watch(s.path) for s in self._sources] + [Watch(self._registry)]
        self._watcher = SourceWatcher(watches, lambda batch: self._events.put(("changes", batch)))
        self._watcher.start()

    def _outside_code(self) -> dict[str, list[str]]:
        """Resource -> the linked projects SAM cannot see for it (outside its CodeUri)."""
        found: dict[str, list[str]] = {}
        for source in self._sources:
            for rid in source.resources:
                if source.kind == "metadata" or _inside(source.path, self._managed[rid]):
                    continue
                if source.project not in found.setdefault(rid, []):
                    found[rid].append(source.project)
        return found

    def _announce(self) -> None:
        outside = self._outside_code()
        if not outside:
            self.console.say("no linked source outside a CodeUri: SAM's own watcher sees them all")
        for rid, projects in sorted(outside.items()):
            self.console.say(f"watching {', '.join(sorted(projects))} for {rid}")

    def _start_sam(self, markers: Sequence[Path]) -> subprocess.Popen[bytes]:
        env = dict(os.environ)
        env[SYNC_ENV] = "1"
        samlink = shutil.which("samlink") or str(Path(sys.executable).parent / "samlink")
        if "SAMLINK" not in env and Path(samlink).exists():
            env["SAMLINK"] = samlink  # the make target runs this samlink, whatever make's PATH
        self.console.say("running " + " ".join(["sam", *self.command[1:]]))
        lifeline, self._lifeline = os.pipe()
        supervisor = [sys.executable, "-I", str(REAPER), "--lifeline", str(lifeline)]
        for folder in markers:
            supervisor += ["--remove", str(folder)]
        kept = (lifeline,) if self.lock is None else (lifeline, self.lock.fd)
        try:
            proc = subprocess.Popen(
                [*supervisor, "--", *self.command],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=env,
                # The current directory, as the user's own `sam sync` would run: SAM writes
                # .aws-sam/build there, where every samlink command looks for it (there is no
                # --build-dir for `sam sync`; see samlink.build.location).
                cwd=Path.cwd(),
                # Its own process group: Ctrl-C reaches samlink alone, which stops SAM in order
                # (SAM finishes the upload in flight), and the group is what is killed if it
                # hangs. The lock goes along: it is held while anything of this sync lives.
                start_new_session=True,
                pass_fds=kept,
            )
        finally:
            os.close(lifeline)
        if self.lock is not None:
            self.lock.record(proc.pid)
        assert proc.stdout is not None
        threading.Thread(
            target=self._read, args=(proc.stdout,), name="samlink-sam-output", daemon=True
        ).start()
        return proc

    def _read(self, stream: IO[bytes]) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        partial = ""
        fd = stream.fileno()
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                chunk = b""
            text = decoder.decode(chunk, final=not chunk)
            if text:
                self.console.sam(text)
                partial += text
                *lines, partial = partial.split("\n")
                for line in lines:
                    event = parse_sam_line(line)
                    if event is not None:
                        self._events.put(("sam", event))
            if not chunk:
                self._events.put(("eof", None))
                return

    def _loop(self) -> int:
        proc = self._proc
        assert proc is not None
        eof = False
        exited: float | None = None
        while True:
            try:
                kind, payload = self._events.get(timeout=0.5)
            except queue.Empty:
                if proc.poll() is not None:
                    exited = exited or time.monotonic()
                    # What SAM left running may hold its output open: do not wait for that.
                    if eof or time.monotonic() - exited > 2:
                        code = proc.returncode
                        return 128 - code if code < 0 else code
                continue
            if kind == "changes":
                assert isinstance(payload, list)
                self._on_changes(payload)
            elif kind == "sam":
                assert isinstance(payload, SamEvent)
                self._on_sam(payload)
            elif kind == "eof":
                eof = True

    def _on_changes(self, batch: list[Change]) -> None:
        seen = min((change.at for change in batch), default=time.monotonic())
        targets: dict[str, list[str]] = {}
        replan = False
        for change in batch:
            if change.path == self._registry:
                replan = True
                continue
            for rid, source in resources_fed(self._sources, change.path).items():
                replan = replan or source.kind == "metadata"
                resource = self._managed.get(rid)
                if resource is None or _inside(change.path, resource):
                    continue  # SAM's own watcher sees this one
                line = f"{source.project}: {_relative(change.path, source.root)} {change.kind}"
                if line not in targets.setdefault(rid, []):
                    targets[rid].append(line)
        if replan:
            for rid, lines in self._replan().items():
                targets.setdefault(rid, []).extend(lines)
        for rid, lines in targets.items():
            pending = self._pending.get(rid)
            if pending is None:
                self._pending[rid] = _Pending(seen, lines)
            else:
                # A sync already under way may have read the files before this change.
                pending.what += [w for w in lines if w not in pending.what]
                pending.started = None
            touch(marker_path(self._managed[rid]))

    def _replan(self) -> dict[str, list[str]]:
        """Links or a linked project's layout changed: watch anew; which resources it touches."""
        before = _projects_by_resource(self._sources)
        try:
            self._sources = linked_sources(self.template)
        except UsageError as exc:  # a broken link: SAM's build will say so too
            self.console.say(f"error: {exc}")
            return {}
        after = _projects_by_resource(self._sources)
        changed = {}
        for rid in set(before) | set(after):
            if before.get(rid, set()) != after.get(rid, set()) and rid in self._managed:
                added = sorted(after.get(rid, set()) - before.get(rid, set()))
                removed = sorted(before.get(rid, set()) - after.get(rid, set()))
                what = [f"link {name} added" for name in added]
                what += [f"link {name} removed" for name in removed]
                changed[rid] = what
        self._watch()
        self._announce()
        return changed

    def _on_sam(self, event: SamEvent) -> None:
        now = time.monotonic()
        pending = self._pending.get(event.resource)
        if event.kind == "sync-start" and pending is not None and pending.started is None:
            pending.started = now
        elif event.kind == "sync-done" and pending is not None and pending.started is not None:
            del self._pending[event.resource]
            more = len(pending.what) - 1
            what = pending.what[0] + (f" (+{more} more)" if more else "")
            self.console.say(f"{what} -> synced {event.resource} in {now - pending.since:.1f}s")
        elif event.kind == "infra-done":
            # SAM drops code changes while an infra sync runs: tell it again.
            for rid, waiting in self._pending.items():
                if waiting.started is None and rid in self._managed:
                    touch(marker_path(self._managed[rid]))

    def _stop_sam(self) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            self.console.say("stopping sam sync (it finishes the sync in flight)...")
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGINT)
            try:
                _wait_uninterrupted(proc, self.grace)
            except (subprocess.TimeoutExpired, KeyboardInterrupt):
                self.console.say("sam did not stop: terminating it")
        # Whatever SAM left running in its group (make, samlink build) goes with it.
        _kill_group(proc.pid, proc)
        if self._lifeline is not None:
            os.close(self._lifeline)
            self._lifeline = None
        self.console.say("stopped")


def _projects_by_resource(sources: Sequence[LinkedSource]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for source in sources:
        for rid in source.resources:
            found.setdefault(rid, set()).add(f"{source.project} ({source.root})")
    return found


def run(
    template: Template,
    sam_args: Sequence[str],
    *,
    stack_name: str | None,
    dependency_layer: bool,
    console: Console | None = None,
) -> int:
    """Run `samlink sync` until SAM exits or Ctrl-C; returns SAM's exit code (130 on Ctrl-C)."""
    check_sam_args(sam_args)
    command = sam_command(
        sam_executable(),
        template.path,
        sam_args,
        stack_name=stack_name,
        dependency_layer=dependency_layer,
        excludes=watch_excludes(template),
    )
    session = Session(template, command, console=console or Console())
    with _stop_signals(), SyncLock.acquire(template.path.parent, session.console) as lock:
        session.lock = lock
        end_unlocked_syncs(template.path, session.console)
        try:
            return session.run()
        except KeyboardInterrupt:
            return 130


# ---------------------------------------------------------------------------------------------
# One sync per project


@dataclass
class SyncLock:
    """`.samlink/sync.lock`, held (flock) by samlink sync and its supervisor, naming both."""

    fd: int
    path: Path

    @classmethod
    @contextlib.contextmanager
    def acquire(cls, project_dir: Path, console: Console) -> Iterator[SyncLock]:
        """Take the project's sync lock; refuse while its owner lives, end what a dead one left."""
        state = links.state_dir(project_dir)
        path = state / LOCK_NAME
        try:
            state.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise UsageError(
                f"cannot open {path}: {exc.strerror}",
                f"samlink sync keeps its lock and markers there: make {state} writable",
            ) from None
        try:
            if not _try_lock(fd):
                _end_stale(fd, path, console)
            lock = cls(fd, path)
            lock.record(None)
            yield lock
        finally:
            os.close(fd)

    def record(self, group: int | None) -> None:
        """Write who holds the lock: this process and the supervisor's process group."""
        me = os.getpid()
        data = {"pid": me, "start": reaper.start_time(me), "group": group}
        if group is not None:
            data["group_start"] = reaper.start_time(group)
        text = json.dumps(data).encode()
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, text, 0)


def end_unlocked_syncs(template_path: Path, console: Console) -> list[int]:
    """End the `sam sync --watch` of this template that a samlink sync without the lock (an
    older samlink, killed) left running; returns their pids. Linux only (/proc)."""
    wanted = [b"sync", b"--watch", b"--template-file", os.fsencode(template_path)]
    found = []
    for pid, parent, group in reaper.process_table():
        if pid == os.getpid():
            continue
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        # Only SAM started by samlink sync: a plain `sam sync` of the user's is not ours to end.
        if f"{SYNC_ENV}=1".encode() not in environ or not _holds(argv, wanted):
            continue
        if b"samlink" in _command_line(parent):
            raise UsageError(
                f"samlink sync is already running for this project (pid {parent})",
                f"stop it first (Ctrl-C in its terminal, or kill {parent}): two syncs would "
                "race on one stack",
            )
        found.append((pid, group))
    for pid, group in found:
        console.say(f"ending sam sync (pid {pid}) left running by an earlier samlink sync")
        for signum in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(OSError):
                os.killpg(group, signum)
                os.killpg(group, signal.SIGCONT)
            deadline = time.monotonic() + 5
            while _alive(pid, None) and time.monotonic() < deadline:
                time.sleep(0.1)
            if not _alive(pid, None):
                break
    return [pid for pid, _group in found]


def _command_line(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _holds(argv: list[bytes], wanted: list[bytes]) -> bool:
    """Whether `wanted` appears in `argv` in order, side by side (SAM's `sync` command line)."""
    return any(argv[i : i + len(wanted)] == wanted for i in range(len(argv)))


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _alive(pid: object, start: object) -> bool:
    """Whether `pid` is still the process that started at `start` (a pid can be reused)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return start is None or reaper.start_time(pid) in (None, start)


def _end_stale(fd: int, path: Path, console: Console) -> None:
    try:
        record = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except ValueError:
        record = {}
    owner = record.get("pid")
    if _alive(owner, record.get("start")):
        raise UsageError(
            f"samlink sync is already running for this project (pid {owner})",
            f"stop it first (Ctrl-C in its terminal, or kill {owner}): two syncs would race "
            "on one stack",
        )
    group = record.get("group")
    # The group's id cannot be reused while any member lives; only a live leader must be ours.
    if isinstance(group, int) and group > 0:
        leader_ok = _alive(group, record.get("group_start")) or not _alive(group, None)
        if leader_ok:
            console.say(
                f"ending the sam sync (process group {group}) of a samlink sync that died "
                f"(pid {owner})"
            )
            for signum in (signal.SIGTERM, signal.SIGKILL):
                with contextlib.suppress(OSError):
                    os.killpg(group, signum)
                    os.killpg(group, signal.SIGCONT)
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline:
                    if _try_lock(fd):
                        return
                    time.sleep(0.1)
    if not _try_lock(fd):
        raise UsageError(
            f"another samlink sync holds {path}",
            "end the processes that hold it (`fuser " + str(path) + "`), then start again",
        )


# ---------------------------------------------------------------------------------------------
# Helpers


def _inside(path: Path, resource: Resource) -> bool:
    """Whether SAM's watcher for this resource sees `path` (it watches the real CodeUri)."""
    if resource.code_dir is None:
        return False
    code = resource.code_dir.resolve()
    return path == code or code in path.parents


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _wait_uninterrupted(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """Wait for a process; a second Ctrl-C or the timeout raises."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise subprocess.TimeoutExpired(proc.args, timeout)
        try:
            proc.wait(timeout=min(remaining, 0.5))
            return
        except subprocess.TimeoutExpired:
            continue


def _kill_group(pgid: int, proc: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            break
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.1)
            if not _group_alive(pgid):
                return
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=1)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


@contextlib.contextmanager
def _stop_signals() -> Iterator[None]:
    """Ctrl-C, SIGTERM and SIGHUP (a closed terminal) stop samlink sync cleanly, even where a
    shell made SIGINT ignored."""

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    try:
        previous = [
            (sig, signal.signal(sig, interrupt))
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
        ]
    except ValueError:  # not the main thread
        yield None
        return
    try:
        yield None
    finally:
        for sig, handler in previous:
            signal.signal(sig, handler)
