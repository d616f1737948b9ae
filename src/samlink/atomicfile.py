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
    folder, name = os.path.split(path)
    sweep(folder or ".")
    try:
        mode: int | None = os.stat(path).st_mode & 0o7777
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
        os.replace(tmp, path)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise


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
        if pid is None or _running(pid):
            continue
        try:
            os.unlink(os.path.join(folder, name))
        except OSError:
            continue  # gone already (another sweeper), or not ours to remove
        removed.append(name)
    return removed


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True
