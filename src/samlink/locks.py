"""Advisory locks (flock) that keep samlink processes from interleaving on one project.

Read-modify-write of a project's files (template, Makefiles, samconfig, .gitignore, links.json)
happens under `project_lock`; a build root's dirs are swapped under an exclusive `file_lock` and
read under a shared one. The kernel drops a lock when its holder dies, so a killed samlink never
leaves one held. A folder is locked through its own inode, which stays the same while the files
in it are replaced by renames (a lock on a file that is replaced would lock the old inode).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def project_lock(project_dir: Path) -> Iterator[None]:
    """Hold the project's lock (exclusive) while its files are read, changed and written.

    A folder that cannot be opened is not locked: the command that follows reports the real
    problem (a missing template, a path that is not a folder).
    """
    try:
        fd = os.open(project_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        yield None
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield None
    finally:
        os.close(fd)


@contextlib.contextmanager
def file_lock(path: Path, *, shared: bool = False) -> Iterator[bool]:
    """Hold a lock on `path` (created if it can be); yields whether a lock is held.

    Where the file can neither be created nor opened (a read-only build), nobody else can
    change what it guards through samlink either: the caller goes on unlocked.
    """
    fd = -1
    for flags in (os.O_RDWR | os.O_CREAT, os.O_RDONLY):
        try:
            fd = os.open(path, flags | os.O_CLOEXEC, 0o644)
            break
        except OSError:
            continue
    if fd < 0:
        yield False
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield True
    finally:
        os.close(fd)
