"""Nothing samlink starts outlives it: lifelines, subreapers and sweeps of whole process trees.

A process samlink starts (a sandbox's bootstrap, `sam sync --watch`) is watched by a supervisor
that ends everything below it when samlink goes, whatever signal ended samlink. The supervisor
learns that from its *lifeline*: the read end of a pipe whose only write end samlink holds (the
bootstrap's stdin). The kernel closes that end when samlink dies, even by SIGKILL, from any
thread; a parent-death signal would fire when the thread that started the child ends, which a
server's request threads do all the time. On Linux the supervisor is a child subreaper, so what a
handler detaches (`start_new_session=True`, a double fork) is re-parented to it, not to init, and
the sweep finds and kills it; elsewhere the process group is what is ended.

Stdlib only and valid on Python 3.8: bootstrap.py loads this file into the function's own
interpreter before it enters the sandbox, and `samlink sync` runs it as a script around SAM:

    python reaper.py --lifeline FD [--remove DIR]... -- sam sync --watch ...

For code that starts a sandbox (invoke, warm execution environments): start bootstrap.py with
`stdin=PIPE`, write its plan as ONE line, keep stdin open for the environment's life, and end
it with `stop(proc)`.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    import subprocess
    from collections.abc import Sequence
    from types import FrameType
    from typing import Any

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
_LINUX = sys.platform.startswith("linux")


class _Stop(Exception):
    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _prctl(option: int, value: int) -> bool:
    if not _LINUX:
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(option, value, 0, 0, 0)) == 0
    except (ImportError, OSError, AttributeError):
        return False


def set_parent_death_signal(signum: int) -> bool:
    """Linux: have the kernel send `signum` to this process when its parent thread ends."""
    return _prctl(_PR_SET_PDEATHSIG, signum)


def become_subreaper() -> bool:
    """Linux: orphans below this process are re-parented to it instead of to init."""
    return _prctl(_PR_SET_CHILD_SUBREAPER, 1)


def _stat_fields(pid: int | str) -> list[bytes] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: the fields start after its last ')'.
    return data[data.rindex(b")") + 2 :].split()


def start_time(pid: int) -> int | None:
    """When `pid` started, in clock ticks since boot (Linux), to tell a reused pid apart."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None


def process_table() -> list[tuple[int, int, int]]:
    """(pid, parent pid, process group) of every process: /proc on Linux, `ps` elsewhere."""
    table = []
    if _LINUX:
        try:
            # Inside a PID namespace /proc may still be the host's: its numbers are not ours.
            if os.readlink("/proc/self") != str(os.getpid()):
                return []
            names = os.listdir("/proc")
        except OSError:
            return []
        for name in names:
            fields = _stat_fields(name) if name.isdigit() else None
            if fields:
                table.append((int(name), int(fields[1]), int(fields[2])))
        return table
    import subprocess

    try:
        listing = subprocess.run(
            ["ps", "-A", "-o", "pid=,ppid=,pgid="], capture_output=True, text=True, check=False
        ).stdout
    except OSError:
        return []
    for line in listing.splitlines():
        parts = line.split()
        if len(parts) == 3 and all(part.isdigit() for part in parts):
            table.append((int(parts[0]), int(parts[1]), int(parts[2])))
    return table


def descendants(pid: int, table: list[tuple[int, int, int]] | None = None) -> list[int]:
    """Every process below `pid`, parents before their children."""
    children: dict[int, list[int]] = {}
    for each, parent, _group in process_table() if table is None else table:
        children.setdefault(parent, []).append(each)
    found: list[int] = []
    todo = [pid]
    while todo:
        below = children.get(todo.pop(0), [])
        found.extend(below)
        todo.extend(below)
    return found


def _below_me() -> list[int]:
    """What a sweep ends: the descendants, and the rest of the group this process leads (where
    there is no subreaper, an orphan that kept the group is found by it)."""
    me = os.getpid()
    table = process_table()
    found = descendants(me, table)
    if os.getpgid(0) == me:
        found += [p for p, _parent, group in table if group == me and p != me and p not in found]
    return found


def reap() -> list[tuple[int, int]]:
    """Collect every child of this process that has ended: (pid, wait status)."""
    ended: list[tuple[int, int]] = []
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return ended
        if pid == 0:
            return ended
        ended.append((pid, status))


def exit_code(status: int) -> int:
    """A wait status as a shell reports it (128 + signal for a killed process)."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def sweep(signum: int = signal.SIGKILL, grace: float = 0.0) -> None:
    """Send `signum` to every process below this one; after `grace`, kill what is left; reap all.

    Run by a subreaper (Linux), this ends detached grandchildren too: each is re-parented here
    as soon as its own parent dies. Elsewhere an orphan that left the process group is lost.
    """
    deadline = time.monotonic() + grace
    # A process stuck in the kernel (uninterruptible I/O) cannot be waited out forever.
    give_up = deadline + 10.0
    while True:
        below = _below_me()
        reap()
        if not below or time.monotonic() > give_up:
            return
        late = time.monotonic() >= deadline
        for pid in below:
            try:
                os.kill(pid, signal.SIGKILL if late else signum)
                if not late and signum != signal.SIGKILL:
                    os.kill(pid, signal.SIGCONT)  # a stopped process acts on SIGTERM only now
            except (ProcessLookupError, PermissionError):
                pass
        if late or signum == signal.SIGKILL:
            deadline = 0.0
        time.sleep(0.02)


def supervise(
    child: int,
    lifeline: int | None,
    *,
    forward: Sequence[int] = (),
    grace: float = 0.0,
    on_lost: Sequence[str] = (),
) -> int:
    """Wait for `child`; end everything below when it exits, the lifeline closes or a stop signal
    comes (SIGTERM, SIGINT, SIGHUP, minus `forward`, which are passed on to the child).

    Returns the child's exit code (128 + signal when it was killed or a stop signal ended the
    wait). `on_lost`: folders removed when the lifeline closes (the owner died without cleaning).
    """
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    os.set_blocking(wake_r, False)
    previous_wakeup = signal.set_wakeup_fd(wake_w)

    def on_stop(signum: int, _frame: FrameType | None) -> None:
        raise _Stop(signum)

    def on_forward(signum: int, _frame: FrameType | None) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signum)

    signal.signal(signal.SIGCHLD, lambda _s, _f: None)
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, on_forward if signum in forward else on_stop)
    code: int | None = None
    lost = False
    try:
        while code is None:
            for pid, status in reap():
                if pid == child:
                    code = exit_code(status)
            if code is not None:
                break
            watched = [wake_r] + ([lifeline] if lifeline is not None else [])
            ready, _, _ = select.select(watched, [], [])
            if wake_r in ready:
                try:
                    while os.read(wake_r, 512):
                        pass
                except BlockingIOError:
                    pass
            if lifeline is not None and lifeline in ready:
                try:
                    data = os.read(lifeline, 4096)
                except OSError:
                    data = b""
                if not data:
                    lost = True
                    break
    except _Stop as stop:
        code = 128 + stop.signum
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
    if os.getpid() == 1:
        # The init of a PID namespace: the kernel kills everything in it when this one exits.
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)
    else:
        sweep(signal.SIGTERM if grace else signal.SIGKILL, grace)
    signal.set_wakeup_fd(previous_wakeup)
    if lost:
        import shutil

        for folder in on_lost:
            shutil.rmtree(folder, ignore_errors=True)
    return code if code is not None else 128 + signal.SIGKILL


def stop(proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """End a supervised process: close its lifeline (its stdin), then kill its group if it stays."""
    if proc.stdin is not None and not proc.stdin.closed:
        with contextlib.suppress(OSError):
            proc.stdin.close()
    import subprocess

    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            proc.kill()
    proc.wait()


class _Hold:
    """The write end of a lifeline, closed once, from whichever thread comes first."""

    def __init__(self, fd: int) -> None:
        import threading

        self._fd: int | None = fd
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


class Stopper:
    """Ends, from any thread, the commands `run(..., stopper=it)` runs, and every one started
    after: `stop()` closes their lifelines, so each supervisor ends its whole tree (SIGTERM, then
    SIGKILL after a grace) and `run` returns a failure at once. A server told to stop during its
    start-up build ends the build this way instead of waiting for it."""

    def __init__(self) -> None:
        import threading

        self._lock = threading.Lock()
        self._holds: set[_Hold] = set()
        self.stopped = False

    def stop(self) -> None:
        with self._lock:
            self.stopped = True
            holds = list(self._holds)
        for hold in holds:
            hold.close()

    def _add(self, hold: _Hold) -> None:
        with self._lock:
            self._holds.add(hold)
            stopped = self.stopped
        if stopped:
            hold.close()

    def _discard(self, hold: _Hold) -> None:
        with self._lock:
            self._holds.discard(hold)


def run(
    argv: Sequence[str], *, stopper: Stopper | None = None, **popen: Any
) -> subprocess.CompletedProcess[Any]:
    """`subprocess.run(argv, **popen)`, with the command below a supervisor: when this process
    ends, whatever signal ends it (SIGKILL too), or `stopper` says stop, the command and
    everything it started end."""
    import subprocess

    if popen.pop("capture_output", False):
        popen["stdout"] = popen["stderr"] = subprocess.PIPE
    lifeline, fd = os.pipe()
    hold = _Hold(fd)
    supervisor = [sys.executable, "-I", os.path.abspath(__file__), "--lifeline", str(lifeline)]
    try:
        proc = subprocess.Popen([*supervisor, "--", *argv], pass_fds=(lifeline,), **popen)
    except BaseException:
        hold.close()
        raise
    finally:
        os.close(lifeline)
    if stopper is not None:
        stopper._add(hold)  # closed at once when it already said stop
    try:
        out, err = proc.communicate()
    finally:
        hold.close()  # on an exception (Ctrl-C) the supervisor ends the command
        if stopper is not None:
            stopper._discard(hold)
        proc.wait()
    return subprocess.CompletedProcess(list(argv), proc.returncode, out, err)


def _run_command(argv: Sequence[str], lifeline: int, remove: Sequence[str], grace: float) -> int:
    become_subreaper()
    child = os.fork()
    if child == 0:
        try:
            os.close(lifeline)
            # If the supervisor itself is killed outright, the command goes with it.
            set_parent_death_signal(signal.SIGKILL)
            # A shell starts background jobs with SIGINT ignored; the command must still stop.
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.execvp(argv[0], list(argv))
        except BaseException as exc:  # the child must never return
            sys.stderr.write(f"samlink: cannot run {argv[0]}: {exc}\n")
        os._exit(127)
    return supervise(child, lifeline, forward=(signal.SIGINT,), grace=grace, on_lost=tuple(remove))


def main(args: Sequence[str]) -> int:
    """`reaper.py --lifeline FD [--grace S] [--remove DIR]... -- COMMAND...`"""
    lifeline = -1
    grace = 3.0
    remove: list[str] = []
    rest = list(args)
    while rest and rest[0] != "--":
        option = rest.pop(0)
        value = rest.pop(0)
        if option == "--lifeline":
            lifeline = int(value)
        elif option == "--grace":
            grace = float(value)
        elif option == "--remove":
            remove.append(value)
        else:
            sys.stderr.write(f"reaper: unknown option {option}\n")
            return 2
    command = rest[1:]
    if lifeline < 0 or not command:
        sys.stderr.write("reaper: usage: --lifeline FD [--remove DIR]... -- COMMAND...\n")
        return 2
    return _run_command(command, lifeline, remove, grace)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
