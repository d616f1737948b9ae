"""What may ship: the files of a package or code dir that a build hands on, and sync builds.

Release builds, the real-file builds made for `samlink sync` uploads and `samlink check` share
this one rule for which files count (no caches, VCS folders, virtualenvs, tests or editor
droppings). Under `samlink sync` the SAM process carries SAMLINK_SYNC=1 down to make and
`samlink build`, which then calls `realize`: the top-level links of the dev build become real,
filtered files, hard-linked, not copied, because SAM zips the build dir through its links.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from samlink.errors import BuildError

SYNC_ENV = "SAMLINK_SYNC"

# Folders that never ship and never matter: caches, VCS and virtualenvs (dot names), tests.
_NOISE_DIRS = frozenset({"__pycache__", "node_modules", "tests", "test"})
_NOISE_DIR_SUFFIXES = (".egg-info", ".dist-info")
# Editor droppings: backups and autosaves (emacs), swap and probe files (vim), JetBrains' safe
# write temps, and bytecode.
_NOISE_FILES = ("*~", "#*#", "*.sw[a-p]", "4913", "*___jb_tmp___", "*___jb_old___", "*.py[co]")


def is_noise(name: str, *, is_dir: bool) -> bool:
    """Whether a file or folder name is clutter that never ships and never triggers a sync."""
    if name.startswith("."):
        return True
    if is_dir:
        return name in _NOISE_DIRS or name.endswith(_NOISE_DIR_SUFFIXES)
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in _NOISE_FILES)


def is_noise_path(path: Path, root: Path) -> bool:
    """Whether `path` (a file under `root`) is clutter or lies in a clutter folder."""
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        return True
    if not parts:
        return False
    return any(is_noise(p, is_dir=True) for p in parts[:-1]) or is_noise(parts[-1], is_dir=False)


def walk_files(root: Path) -> Iterator[Path]:
    """The files under `root` that are not clutter, following links to folders once."""
    if root.is_file():
        yield root
        return
    seen: set[tuple[int, int]] = set()
    for folder, dirs, files in os.walk(root, followlinks=True):
        info = os.stat(folder)
        if (info.st_dev, info.st_ino) in seen:  # a link loop
            dirs[:] = []
            continue
        seen.add((info.st_dev, info.st_ino))
        dirs[:] = sorted(
            d
            for d in dirs
            if not is_noise(d, is_dir=True) and not (Path(folder, d, "pyvenv.cfg")).exists()
        )
        for name in sorted(files):
            if not is_noise(name, is_dir=False):
                yield Path(folder, name)


def sync_mode() -> bool:
    """Whether this process runs under `samlink sync` (SAM passes the environment to make)."""
    return os.environ.get(SYNC_ENV) == "1"


def realize(dest: Path, code_dir: Path, scratch: Path | None = None) -> int:
    """Replace the top-level links of a dev build with real, filtered files; returns the count.

    Files are hard-linked. A source inside `code_dir` is taken from `scratch` (SAM's temp copy of
    the code dir, make's cwd) when there is one, and copied otherwise: SAM watches the code dir,
    and on some systems a hard link made to a watched file reads as an edit.
    """
    code_real = code_dir.resolve()
    if scratch is not None and scratch.resolve() == code_real:
        scratch = None
    count = 0
    for entry in sorted(dest.iterdir()):
        if not entry.is_symlink():
            continue
        target = entry.resolve()
        if not target.exists():
            raise BuildError(
                f"{entry} links to {target}, which is gone",
                "restore it, or `samlink unlink` the project",
            )
        source, hard = target, True
        if code_real == target or code_real in target.parents:
            copy = scratch / target.relative_to(code_real) if scratch else None
            if copy is not None and copy.exists():
                source = copy
            else:
                hard = False
        staged = entry.with_name(f".{entry.name}.samlink-real")
        _remove(staged)
        count += _place(source, staged, hard=hard)
        entry.unlink()
        staged.rename(entry)
    return count


def _place(source: Path, dest: Path, *, hard: bool) -> int:
    if source.is_file():
        _put(source, dest, hard)
        return 1
    count = 0
    dest.mkdir()
    for file in walk_files(source):
        target = dest / file.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        hard = _put(file, target, hard)
        count += 1
    return count


def _put(source: Path, dest: Path, hard: bool) -> bool:
    """Hard-link (or copy) one file; returns whether hard links still work for the next one."""
    if hard:
        try:
            os.link(source.resolve(), dest)
            return True
        except OSError as exc:  # another file system, or one without hard links
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
                raise
    shutil.copy2(source, dest)
    return False


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)
