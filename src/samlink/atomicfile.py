"""Write files whole or not at all, through temp files that are recognisably samlink's.

A writer killed between writing its temp file and the rename (SIGKILL, a power cut) leaves
`.<name>.samlink-<pid>-<random>.tmp` behind; the next write into that folder removes the temp
files of writers that are no longer running. Only `os` at module level: the warm build
(samlink.build.plan) writes through here.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

_MARK = ".samlink-"
_SUFFIX = ".tmp"


def write_text(path: Path, text: str) -> None:
    """Replace `path` with `text` atomically, keeping the old file's mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes(str(path), text.encode("utf-8"))


def write_bytes(path: str, data: bytes) -> None:
    """Replace `path` with `data` whole (a temp file in the same folder, then a rename).

    The old file's mode is kept; a new file gets 0666 less the umask, as open() would give it.
    """
    sweep(os.path.dirname(path) or ".")
    tmp = _stage(path, data)
    try:
        os.replace(tmp, path)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise


def write_all(files: list[tuple[Path, str]]) -> None:
    """Replace every file with its text, or none of them.

    Every new text is written to a temp file beside its target, and every old file kept by a
    hard link, before anything is renamed; a rename that still fails (a file that is a mount
    point, say) puts back the files already replaced. Raises the OSError that stopped it.
    """
    staged: list[tuple[str, str, str | None]] = []  # (target, temp, backup of the old file)
    made: list[Path] = []
    target = ""
    try:
        for path, text in files:
            target = str(path)
            missing = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
            path.parent.mkdir(parents=True, exist_ok=True)
            made += reversed(missing)
            sweep(str(path.parent))
            backup = None
            if os.path.lexists(target):
                if not os.access(target, os.W_OK):
                    # A file its owner made read-only is not replaced behind their back (a
                    # rename in a writable folder would), and root gets the same answer.
                    import errno  # the error path only: the warm build imports this module

                    raise PermissionError(errno.EACCES, "it is read-only", target)
                backup = os.path.join(str(path.parent), temp_name(path.name))
                try:
                    os.link(target, backup)
                except OSError:  # no hard links on this file system: a copy will do
                    with open(target, "rb") as f:
                        backup = _stage(target, f.read())
            staged.append((target, _stage(target, text.encode("utf-8")), backup))
    except BaseException as exc:
        _discard(staged, made)
        if isinstance(exc, OSError):  # name the file the caller asked for, not a temp file
            raise OSError(exc.errno, exc.strerror, target) from exc
        raise
    done: list[tuple[str, str, str | None]] = []
    try:
        for item in staged:
            target = item[0]
            os.replace(item[1], item[0])
            done.append(item)
    except BaseException as exc:
        for replaced, _temp, backup in reversed(done):
            if backup is not None:
                os.replace(backup, replaced)
            else:
                os.unlink(replaced)
        _discard([item for item in staged if item not in done] + done, made)
        if isinstance(exc, OSError):
            raise OSError(exc.errno, exc.strerror, target) from exc
        raise
    for _target, _temp, backup in staged:
        if backup is not None and os.path.lexists(backup):
            os.unlink(backup)


def _stage(target: str, data: bytes) -> str:
    """A temp file beside `target` holding `data`, with the old file's mode (or the umask's)."""
    folder, name = os.path.split(target)
    try:
        mode: int | None = os.stat(target).st_mode & 0o7777
    except FileNotFoundError:
        mode = None
    tmp = os.path.join(folder, temp_name(name))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666 if mode is None else 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            if mode is not None:
                os.fchmod(f.fileno(), mode)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        os.unlink(tmp)
        raise
    return tmp


def _discard(staged: list[tuple[str, str, str | None]], made: list[Path]) -> None:
    for _target, temp, backup in staged:
        for leftover in (temp, backup):
            if leftover is not None and os.path.lexists(leftover):
                os.unlink(leftover)
    for folder in reversed(made):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


def temp_name(name: str) -> str:
    """The temp file name for `name`: hidden, and naming samlink and the writer's pid."""
    return f".{name}{_MARK}{os.getpid()}-{os.urandom(4).hex()}{_SUFFIX}"


def writer_pid(temp: str) -> int | None:
    """The pid in a samlink temp file name, or None for any other name."""
    if not (temp.startswith(".") and temp.endswith(_SUFFIX)):
        return None
    _, mark, tail = temp[: -len(_SUFFIX)].rpartition(_MARK)
    pid, dash, _ = tail.partition("-")
    if not mark or not dash or not pid.isdigit():
        return None
    return int(pid)


def sweep(folder: str) -> list[str]:
    """Remove the temp files of samlink writers that died in `folder`; return their names."""
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    removed = []
    for name in names:
        pid = writer_pid(name)
        if pid is None or running(pid):
            continue
        try:
            os.unlink(os.path.join(folder, name))
        except OSError:
            continue  # gone already (another sweeper), or not ours to remove
        removed.append(name)
    return removed


def running(pid: int) -> bool:
    """Whether process `pid` is alive (this one included; another user's counts as alive)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True
