"""A build tree on disk: hard-link a store entry's files in, and carry out a build's steps.

The full build (`assemble`, `store`) and the replay of a plan (`plan`) make trees with these
same functions, so a replay makes the same tree by construction. Standard library only, and
only what Python loads before `site` runs (os, stat): a warm build's start-up is its cost.
"""

from __future__ import annotations

import os
import stat

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; mypy reads these, Python never runs them
    from collections.abc import Iterable, Iterator, Sequence

# One step of a build after its dependencies are in place, `rel` relative to the build dir:
# ("symlink", rel, target) | ("write", rel, text) | ("unlink", rel) | ("rmtree", rel)
# | ("copy", rel, source, project_root) | ("namespace", name, source, path_root).
Op = tuple[str, ...]
Part = tuple[list[str], list[str]]  # dirs, files of a store entry, relative to its tree

# Fewer files than this are linked by one process (a fork costs about a millisecond).
_PARALLEL_FILES = 1000
# How the process linking the second half says that it found a file changed in place.
_CHANGED_EXIT = 3


class ChangedInPlace(Exception):
    """A store file was written since its entry was published (through a build dir's link)."""


# Never copied from a namespace package's source (the same rule as the rest of a build).
_SKIP_SUFFIXES = (".pyc",)


def split_tree(dirs: Sequence[str], files: Sequence[str]) -> tuple[list[str], list[Part]]:
    """A store entry's rows as top-level dirs plus two halves that can be linked at once.

    A half holds whole subtrees below the top level (a dir, everything under it, in the
    manifest's order), so neither waits for a folder the other makes.
    """
    top = [rel for rel in dirs if "/" not in rel]
    groups: dict[str, Part] = {}
    for rel in dirs:
        if "/" in rel:
            key = "/".join(rel.split("/", 2)[:2])
            groups.setdefault(key, ([], []))[0].append(rel)
    for rel in files:
        key = "/".join(rel.split("/", 2)[:2]) if rel.count("/") > 1 else rel.partition("/")[0]
        groups.setdefault(key, ([], []))[1].append(rel)
    halves: list[Part] = [([], []), ([], [])]
    load = [0, 0]
    # Largest first onto the lighter half; a mkdir costs about as much as 8 hard links.
    for group_dirs, group_files in sorted(
        groups.values(), key=lambda g: len(g[0]) * 8 + len(g[1]), reverse=True
    ):
        lighter = 0 if load[0] <= load[1] else 1
        halves[lighter][0].extend(group_dirs)
        halves[lighter][1].extend(group_files)
        load[lighter] += len(group_dirs) * 8 + len(group_files)
    return top, halves


def materialize(
    tree: str,
    dest: str,
    top: Sequence[str],
    halves: Sequence[Part],
    symlinks: Sequence[tuple[str, str]],
    sealed_ns: int,
) -> None:
    """Hard-link a store entry's files into `dest`, as Store.materialize does.

    The guard against edits in place: a store file whose mtime is newer than `sealed_ns` (the
    newest when the entry was published) was written through some build dir's hard link, and
    raises ChangedInPlace; the full build then reinstalls the entry. One lstat per file.

    A file missing from the store raises FileNotFoundError (the full build then rebuilds the
    entry); another file system raises too (the full build copies). Into an empty dir, with
    two CPUs and many files, a second process links the second half: the kernel's work
    (about 5 us a link, 40 us a mkdir) is most of a warm build, and threads would only take
    turns holding the GIL.
    """
    dest = os.path.abspath(dest)
    os.makedirs(dest, exist_ok=True)
    fresh = not os.listdir(dest)  # SAM empties it first; else the store's care, in one process
    prefix = dest + "/"
    # Store paths are taken relative to the entry's tree, from inside it: a link or an lstat
    # then walks a few path components instead of a dozen, which pays for most of the guard.
    try:
        back = os.open(".", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:  # an unreadable cwd: absolute paths, a little slower
        back, source = -1, tree + "/"
    else:
        source = ""
        try:
            os.chdir(tree)
        except BaseException:
            os.close(back)
            raise
    try:
        _fill(prefix, source, top, (), sealed_ns)
        if fresh and len(halves) == 2 and _parallel(halves):
            pid = os.fork()
            if pid == 0:  # the child: its half, then out without running any Python clean-up
                code = 1
                try:
                    _fill(prefix, source, *halves[1], sealed_ns)
                    code = 0
                except ChangedInPlace:
                    code = _CHANGED_EXIT
                finally:
                    os._exit(code)
            try:
                _fill(prefix, source, *halves[0], sealed_ns)
            finally:
                _pid, status = os.waitpid(pid, 0)
            if os.WIFEXITED(status) and os.WEXITSTATUS(status) == _CHANGED_EXIT:
                raise ChangedInPlace("a file of the store entry was changed in place")
            if status != 0:
                raise OSError(f"the process linking half of the files failed ({status})")
        else:
            for dirs, files in halves:
                _fill(prefix, source, dirs, files, sealed_ns)
    finally:
        if back >= 0:
            os.fchdir(back)  # the sync build after a replay takes SAM's scratch dir from the cwd
            os.close(back)
    for rel, target in symlinks:
        _remove(prefix + rel)
        os.symlink(target, prefix + rel)


def _parallel(halves: Sequence[Part]) -> bool:
    if not hasattr(os, "fork") or sum(len(files) for _dirs, files in halves) < _PARALLEL_FILES:
        return False
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (cpus or 1) > 1


def _fill(
    prefix: str, source: str, dirs: Sequence[str], files: Sequence[str], sealed_ns: int
) -> None:
    mkdir, link, lstat = os.mkdir, os.link, os.lstat
    try:
        for rel in dirs:
            mkdir(prefix + rel)
    except FileExistsError:  # not an empty dir: redo with the store's care (idempotent)
        for rel in dirs:
            make_dir(prefix + rel)
    try:
        for rel in files:
            src = source + rel
            link(src, prefix + rel)
            # After the link, so a missing file still raises FileNotFoundError from link.
            if lstat(src).st_mtime_ns > sealed_ns:
                raise ChangedInPlace(f"{rel} was changed in place")
    except FileExistsError:
        for rel in files:
            _link(source + rel, prefix + rel)
            if lstat(source + rel).st_mtime_ns > sealed_ns:
                raise ChangedInPlace(f"{rel} was changed in place") from None


def make_dir(path: str) -> None:
    """Make a dir for a build tree, replacing a file or a symlink that stands in its place."""
    try:
        os.mkdir(path)
    except FileExistsError:
        # Never merge into a symlinked directory: it may point into someone's source tree.
        if os.path.islink(path) or not os.path.isdir(path):
            _remove(path)
            os.mkdir(path)


def _link(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except FileExistsError:
        try:
            if os.path.samestat(os.stat(src), os.lstat(dst)):
                return  # already this very file
        except OSError:
            pass
        _remove(dst)
        os.link(src, dst)


def apply(dest: str, ops: Iterable[Op]) -> list[str]:
    """Carry out a build's steps after its dependencies are in `dest`; returns what was copied
    from namespace packages (for the summary)."""
    materialized: list[str] = []
    for op in ops:
        kind, rel = op[0], op[1]
        path = os.path.join(dest, rel)
        if kind == "symlink":
            _remove(path)
            os.symlink(op[2], path)
        elif kind == "write":
            os.makedirs(os.path.dirname(path), exist_ok=True)
            _remove(path)  # never write through a hard link into the store
            with open(path, "w", encoding="utf-8") as f:
                f.write(op[2])
        elif kind == "unlink":
            if os.path.isfile(path):
                os.unlink(path)  # a hard link: the store's copy stays
        elif kind == "rmtree":
            import shutil

            shutil.rmtree(path)
        elif kind == "copy":
            if len(op) < 4:
                raise ValueError("a copy step without its project root (an older plan)")
            _copy(op[2], path, op[3])
        elif kind == "namespace":
            count = _copy_namespace(op[2], op[3], dest)
            materialized.append(copied_label(rel, count, op[2]))
        else:
            raise ValueError(f"unknown build step {kind!r}")
    return materialized


def _remove(path: str) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        import shutil

        shutil.rmtree(path)
    else:
        os.unlink(path)


def _copy(source: str, path: str, project_root: str) -> None:
    """A release build's copy of one top-level entry of the code dir, by the rule of what may
    ship (samlink.build.ship): links inside the project are followed, as SAM follows them; one
    that leaves it, dangles or loops stops the build before anything is copied."""
    import shutil
    from pathlib import Path

    from samlink.build.ship import files_to_ship, release_skip

    items = files_to_ship(Path(source), Path(project_root), release_skip)
    _remove(path)
    for item in items:
        target = os.path.join(path, item.rel) if item.rel else path
        if item.folder:
            os.makedirs(target, exist_ok=True)
        else:
            shutil.copy2(item.source, target)


def _copy_namespace(source: str, path_root: str, dest: str) -> int:
    """Real files of a flat-layout namespace package (its root is the project root)."""
    import shutil

    count = 0
    for file in _namespace_files(source):
        if os.path.islink(file):  # the rule of what may ship decides (a copy would follow it)
            _judge(file, source)
        target = os.path.join(dest, os.path.relpath(file, path_root))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if os.path.lexists(target):
            os.unlink(target)
        shutil.copy2(file, target)
        count += 1
    return count


def _namespace_files(folder: str) -> Iterator[str]:
    """The files under a namespace package's folder that a build copies (and `stale_copy`
    compares): no `__pycache__`, no hidden folders, no bytecode."""
    for parent, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if d != "__pycache__" and not d.startswith(".")]
        for name in files:
            if not name.endswith(_SKIP_SUFFIXES):
                yield os.path.join(parent, name)


def stale_copy(source: str, path_root: str, dest: str) -> str | None:
    """The first file (relative to `path_root`) whose copy in `dest` no longer matches the
    flat-layout namespace package `source` (a size or mtime that differs, a file added or
    gone); None when the copies are current. What `_copy_namespace` copies, one stat each side:
    copies keep their source's mtime (copy2), so the build dir is its own stamp."""
    wanted: set[str] = set()
    for file in _namespace_files(source):
        rel = os.path.relpath(file, path_root)
        wanted.add(rel)
        try:
            st = os.stat(file)
        except OSError:
            continue  # a dangling link: the build says so
        try:
            copy = os.lstat(os.path.join(dest, rel))
        except OSError:
            return rel
        if (copy.st_size, copy.st_mtime_ns) != (st.st_size, st.st_mtime_ns):
            return rel
    for file in _namespace_files(os.path.join(dest, os.path.relpath(source, path_root))):
        rel = os.path.relpath(file, dest)
        if rel not in wanted:
            return rel
    return None


def _judge(link: str, boundary: str) -> None:
    """Raise the build's one-line error when samlink.build.ship's rule refuses `link`."""
    from pathlib import Path

    from samlink.build.ship import judge  # only when there is a link: it costs start-up time

    refusal = judge(Path(link), Path(boundary))
    if refusal is not None:
        raise refusal.error()


def copied_label(name: str, count: int, source: str) -> str:
    """How the summary and the build record name a namespace package copied as real files."""
    return f"{name} ({count} files copied from {source})"


def touch(marker: str) -> None:
    """Mark a store entry as used (its mtime drives `samlink cache prune`), as the store does."""
    # No contextlib.suppress here: contextlib costs start-up time.
    try:
        os.utime(marker)
    except FileNotFoundError:
        try:  # noqa: SIM105
            open(marker, "a").close()
        except OSError:
            pass
    except OSError:
        pass  # a read-only store still serves builds
