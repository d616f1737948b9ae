"""Advisory locks (flock) that keep samlink processes from interleaving on one project.

Read-modify-write of a project's files (template, Makefiles, samconfig, .gitignore, links.json)
happens under `project_lock`; a build dir is swapped in under an exclusive `folder_lock` on the
folder that holds it and read under a shared one. The kernel drops a lock when its holder dies,
so a killed samlink never leaves one held. A folder is locked through its own inode, which stays
the same while the files in it are replaced by renames (a lock on a file that is replaced would
lock the old inode), and nothing is created for the lock.
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
    with folder_lock(project_dir):
        yield None


@contextlib.contextmanager
def folder_lock(folder: Path, *, shared: bool = False) -> Iterator[bool]:
    """Hold a lock on a folder itself (nothing is created); yields whether a lock is held."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        yield False
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield True
    finally:
        os.close(fd)
