"""The warm `samlink build`: replay the last build's plan when none of its inputs changed.

SAM reruns the make target on every `sam build` and every `sam sync` change, into an emptied
ARTIFACTS_DIR, so a build with nothing changed should cost about what hard-linking the tree
does. A full build (`assemble.build`) ends by saving a PLAN, `.samlink/builds/<Id>.plan`: the
store entry's files, the steps that followed (`Op`s: links, small files, copies), the summary,
and a STAMP of every input it read (stat of files, names in folders, a digest of the
environment variables that matter). `main`, the console entry, takes the exact argument shape
of the generated make target, recomputes the stamp and, when it matches, replays the plan;
anything else, or any doubt, goes to the click CLI and the full build.

The full build applies its steps with `apply`, so a replay makes the same tree by construction.

Start-up is most of a warm build: this module imports only what Python has loaded before
`site` runs (os, sys, marshal, stat, time), and the plan is marshal data, not JSON (`json` pulls in
`re` and `enum`, about 10 ms). shutil, samlink.sync and the CLI are imported only when needed.
"""

from __future__ import annotations

import marshal
import os
import stat
import sys
import time

from samlink import __version__

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; mypy reads these, Python never runs them
    from collections.abc import Iterable, Mapping, Sequence
    from typing import Any

# One step of a build after its dependencies are in place, `rel` relative to the build dir:
# ("symlink", rel, target) | ("write", rel, text) | ("unlink", rel) | ("rmtree", rel)
# | ("copy", rel, source) | ("namespace", name, source, path_root).
Op = tuple[str, ...]
Stamp = list[tuple[str, str, object]]
Part = tuple[list[str], list[str]]  # dirs, files of a store entry, relative to its tree

PLAN_FORMAT = 1
PLAN_SUFFIX = ".plan"
DEBUG_ENV = "SAMLINK_DEBUG"
# Environment variables read by a build: pip's and uv's settings, samlink's options, where pip
# looks for its files and samlink keeps its store, and PATH (uv or keyring found on it).
ENV_PREFIXES = ("PIP_", "UV_", "SAMLINK_")
ENV_NAMES = (
    "HOME",
    "PATH",
    "VIRTUAL_ENV",
    "XDG_CACHE_HOME",
    "XDG_CONFIG_DIRS",
    "XDG_CONFIG_HOME",
)
# Read by the build but not changing what it makes: the mode is chosen at replay, REFRESH is
# checked on its own, DEBUG only talks.
ENV_IGNORED = frozenset({DEBUG_ENV, "SAMLINK_SYNC"})
# An input whose ctime is this close to the build's start may have changed after the build
# read it (coarse file system clocks, the template read before the build starts): no plan.
RACY_NS = 1_000_000_000
# Fewer files than this are linked by one process (a fork costs about a millisecond).
_PARALLEL_FILES = 1000
# Never copied from a namespace package's source (the same rule as the rest of a build).
_SKIP_SUFFIXES = (".pyc",)


class Miss(Exception):
    """Why the plan cannot be replayed (only told under SAMLINK_DEBUG=1)."""


# --- the console entry -----------------------------------------------------------------------


def main() -> int | None:
    """Console entry: replay a warm `samlink build` if nothing changed, else run the CLI."""
    started = time.monotonic()
    argv = sys.argv[1:]
    if argv[:1] == ["build"]:
        try:
            return replay(argv, started)
        except KeyboardInterrupt:
            print("samlink: interrupted", file=sys.stderr)
            return 130
        except Miss as miss:
            _debug(f"full build ({miss})")
        except Exception as exc:  # any doubt: the full build decides, and reports real errors
            _debug(f"full build (replay failed: {type(exc).__name__}: {exc})")
    from samlink.cli import main as cli_main

    cli_main()
    return None


def replay(argv: Sequence[str], started: float) -> int:
    """Replay the plan for `build ID --template T [--makefile M]`; raises Miss otherwise."""
    if len(argv) == 6 and argv[2] == "--template" and argv[4] == "--makefile":
        makefile = _makefile_from_list(argv[5])
        template = os.path.join(os.path.dirname(makefile), argv[3])
    elif len(argv) == 4 and argv[2] == "--template":
        makefile, template = "", argv[3]
    else:
        raise Miss("not the make target's arguments")
    resource = argv[1]
    artifacts = os.environ.get("ARTIFACTS_DIR")
    if not artifacts or not resource.isalnum():
        raise Miss("no ARTIFACTS_DIR, or an unusual resource id")
    if os.environ.get("SAMLINK_REFRESH"):
        raise Miss("SAMLINK_REFRESH is set")
    template = os.path.realpath(template)
    path = plan_path(os.path.dirname(template), resource)
    try:
        with open(path, "rb") as f:
            plan: dict[str, Any] = marshal.loads(f.read())
    except FileNotFoundError:
        raise Miss("no plan yet") from None
    except (OSError, EOFError, ValueError, TypeError) as exc:
        raise Miss(f"unreadable plan: {exc}") from None
    check(plan, template, resource)

    dest = os.path.realpath(artifacts)
    if plan["kind"] == "layer":
        dest = os.path.join(dest, "python")
    materialize(plan["tree"], dest, plan["top"], plan["halves"], plan["symlinks"])
    materialized = apply(dest, plan["ops"])
    touch(plan["marker"])
    seconds = time.monotonic() - started
    _update_record(plan, dest, materialized)
    summary = dict(plan["summary"], seconds=seconds, materialized=materialized)
    finish(plan["id"], dest, summary, makefile=bool(makefile))
    _debug("replayed the plan")
    return 0


def check(plan: Mapping[str, Any], template: str, resource: str) -> None:
    """Raise Miss unless `plan` is for this template, resource and unchanged inputs."""
    if not isinstance(plan, dict) or plan.get("format") != PLAN_FORMAT:
        raise Miss("plan of another format")
    if plan["samlink"] != __version__ or plan["prefix"] != sys.prefix:
        raise Miss("plan made by another samlink")
    if plan["template"] != template or plan["id"] != resource:
        raise Miss("plan of another template")
    if plan["env"] != env_digest(os.environ, plan["env_extra"]):
        raise Miss("environment changed")
    for kind, path, value in plan["stamp"]:
        if observe(kind, path) != value:
            raise Miss(f"{path} changed")
    expires = plan["expires"]
    if expires is not None and time.time() > expires:
        raise Miss("the store entry is due for a refresh (unpinned requirements)")


# Both under links.STATE_DIR (".samlink"); samlink.links imports packaging, so it is not used here.
def plan_path(project_dir: str, resource: str) -> str:
    """Where the plan of `resource` lives (next to its build record)."""
    return os.path.join(project_dir, ".samlink", "builds", resource + PLAN_SUFFIX)


def record_path(project_dir: str, resource: str) -> str:
    """The build record of `resource` (assemble writes it; `samlink status` reads it)."""
    return os.path.join(project_dir, ".samlink", "builds", resource + ".json")


def _makefile_from_list(value: str) -> str:
    # As makefile.makefile_from_list: the first existing file made of a prefix of the words.
    words = value.strip().split(" ")
    for end in range(1, len(words) + 1):
        candidate = " ".join(words[:end])
        if candidate and os.path.isfile(candidate):
            return os.path.realpath(candidate)
    raise Miss("Makefile not found")


def _debug(message: str) -> None:
    if os.environ.get(DEBUG_ENV) == "1":
        print(f"samlink: fast path: {message}", file=sys.stderr)


# --- the stamp ---------------------------------------------------------------------------------


def observe(kind: str, path: str) -> object:
    """What an input looks like now; any change means the plan is not to be trusted.

    "f": a file (size, mtime, ctime, inode; None if missing); "m": the same for a file that is
    never rewritten (a store manifest); "d": the names a build sees in a folder (no dot names;
    folders end in "/", links carry their real target); "l": a find-links folder's listing,
    as the store key takes it; "r": where a path really is (a code dir reached by a link).
    """
    if kind in ("f", "m"):
        try:
            st = os.stat(path)
        except OSError:
            return None
        return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
    if kind == "d":
        try:
            with os.scandir(path) as it:
                names = []
                for entry in it:
                    name = entry.name
                    if name.startswith("."):
                        continue
                    if entry.is_symlink():
                        name += "@" + os.path.realpath(entry.path)
                    if entry.is_dir():
                        name += "/"
                    names.append(name)
        except OSError:
            return None
        names.sort()
        return names
    if kind == "l":
        try:
            return sorted(os.listdir(path))
        except OSError:
            return None
    if kind == "r":
        return os.path.realpath(path)
    raise ValueError(f"unknown stamp kind {kind!r}")


def make_stamp(inputs: Iterable[tuple[str, str]], since_ns: int) -> Stamp | None:
    """The stamp of `inputs` now; None if one of them changed while the build ran."""
    stamp: Stamp = []
    seen: set[tuple[str, str]] = set()
    for kind, path in inputs:
        if (kind, path) in seen:
            continue
        seen.add((kind, path))
        value = observe(kind, path)
        if kind not in ("m", "r") and value is not None:
            try:
                changed = os.stat(path).st_ctime_ns
            except OSError:
                return None
            if changed >= since_ns - RACY_NS:
                return None
        stamp.append((kind, path, value))
    return stamp


def env_names(environ: Mapping[str, str], extra: Iterable[str] = ()) -> list[str]:
    """The variables a build depends on: by prefix, by name, and `extra` (from requirements)."""
    names = {n for n in environ if n.startswith(ENV_PREFIXES) and n not in ENV_IGNORED}
    return sorted(names | set(ENV_NAMES) | set(extra))


def env_digest(environ: Mapping[str, str], extra: Iterable[str] = ()) -> str:
    """A digest of the values of `env_names` (stored instead of them: index URLs hold tokens)."""
    try:
        from _blake2 import blake2b  # hashlib's own backend; hashlib loads OpenSSL (~4 ms)
    except ImportError:  # pragma: no cover - an interpreter without it
        from hashlib import blake2b
    digest = blake2b(digest_size=20)
    for name in env_names(environ, extra):
        value = environ.get(name)
        if value is not None:
            digest.update(f"{name}={value}\0".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


# --- replaying ---------------------------------------------------------------------------------


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
) -> None:
    """Hard-link a store entry's files into `dest`, as Store.materialize does.

    A file missing from the store raises FileNotFoundError (the full build then rebuilds the
    entry); another file system raises too (the full build copies). Into an empty dir, with
    two CPUs and many files, a second process links the second half: the kernel's work
    (about 5 us a link, 40 us a mkdir) is most of a warm build, and threads would only take
    turns holding the GIL.
    """
    os.makedirs(dest, exist_ok=True)
    fresh = not os.listdir(dest)  # SAM empties it first; else the store's care, in one process
    prefix, source = dest + "/", tree + "/"
    _fill(prefix, source, top, ())
    if fresh and len(halves) == 2 and _parallel(halves):
        pid = os.fork()
        if pid == 0:  # the child: its half, then out without running any Python clean-up
            code = 1
            try:
                _fill(prefix, source, *halves[1])
                code = 0
            finally:
                os._exit(code)
        try:
            _fill(prefix, source, *halves[0])
        finally:
            _pid, status = os.waitpid(pid, 0)
        if status != 0:
            raise OSError(f"the process linking half of the files failed ({status})")
    else:
        for dirs, files in halves:
            _fill(prefix, source, dirs, files)
    for rel, target in symlinks:
        _remove(prefix + rel)
        os.symlink(target, prefix + rel)


def _parallel(halves: Sequence[Part]) -> bool:
    if not hasattr(os, "fork") or sum(len(files) for _dirs, files in halves) < _PARALLEL_FILES:
        return False
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (cpus or 1) > 1


def _fill(prefix: str, source: str, dirs: Sequence[str], files: Sequence[str]) -> None:
    mkdir, link = os.mkdir, os.link
    try:
        for rel in dirs:
            mkdir(prefix + rel)
    except FileExistsError:  # not an empty dir: redo with the store's care (idempotent)
        for rel in dirs:
            make_dir(prefix + rel)
    try:
        for rel in files:
            link(source + rel, prefix + rel)
    except FileExistsError:
        for rel in files:
            _link(source + rel, prefix + rel)


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
            _copy(op[2], path)
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


def _copy(source: str, path: str) -> None:
    """A release build's copy of one top-level entry of the code dir."""
    import shutil

    _remove(path)
    if os.path.isdir(source):
        shutil.copytree(source, path, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    else:
        shutil.copy2(source, path)


def _copy_namespace(source: str, path_root: str, dest: str) -> int:
    """Real files of a flat-layout namespace package (its root is the project root)."""
    import shutil

    count = 0
    for folder, dirs, files in os.walk(source):
        dirs[:] = [d for d in dirs if d != "__pycache__" and not d.startswith(".")]
        for name in files:
            if name.endswith(_SKIP_SUFFIXES):
                continue
            file = os.path.join(folder, name)
            target = os.path.join(dest, os.path.relpath(file, path_root))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            if os.path.lexists(target):
                os.unlink(target)
            shutil.copy2(file, target)
            count += 1
    return count


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


def _update_record(plan: Mapping[str, Any], dest: str, materialized: list[str]) -> None:
    # The full build's record stays true while it is the file the plan saw and this build went
    # to the same place and copied as many files; else it is rewritten (json costs start-up).
    record = plan["record"]
    path = record_path(os.path.dirname(plan["template"]), plan["id"])
    if (
        record["dest"] == dest
        and record["materialized"] == materialized
        and observe("f", path) == plan["record_stamp"]
    ):
        return
    import contextlib
    import json

    record = dict(record, dest=dest, built=time.time(), materialized=materialized)
    with contextlib.suppress(OSError):  # as the full build: a read-only project still builds
        write_atomic(path, (json.dumps(record, indent=2) + "\n").encode())


def write_atomic(path: str, data: bytes) -> None:
    """Replace `path` with `data` whole (a temp file in the same folder, then a rename)."""
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise


# --- the end of every build: summary, and real files under `samlink sync` ---------------------


def finish(resource: str, dest: str, summary: Mapping[str, Any], *, makefile: bool) -> None:
    """Print the build's summary; under `samlink sync`, first turn its links into real files."""
    release = bool(summary["release"])
    if os.environ.get("SAMLINK_SYNC") == "1" and not release:
        # Under `samlink sync` SAM zips this dir for upload, following links: hand it real,
        # filtered files instead (no __pycache__, tests, editor files), as hard links.
        from pathlib import Path

        from samlink import sync

        scratch = Path.cwd() if makefile else None
        count = sync.realize(Path(dest), Path(summary["code_dir"]), scratch)
        print(render_summary(resource, summary, mode="sync"))
        print(f"samlink: {resource}: sync build: {count} linked files as real files")
        return
    print(render_summary(resource, summary, mode="release" if release else "dev"))


def render_summary(name: str, summary: Mapping[str, Any], *, mode: str) -> str:
    """The lines a build prints at its end (make's output reaches the `sam build` user).

    `summary`: files, seconds, code_dir, code_linked, linked [(name, root, origin)],
    materialized. `mode` is "dev", "release" or "sync" (a dev build that `samlink sync` uploads
    as files).
    """
    lines = [f"samlink: {name}: {summary['files']} dependency files in {summary['seconds']:.2f}s"]
    if mode == "release":
        lines.append(f"samlink: {name}: RELEASE build, real files only")
        return "\n".join(lines)
    linked = summary["linked"]
    if mode == "sync":
        names = ", ".join(project for project, _root, _origin in linked) or "no linked library"
        lines.append(
            f"samlink: {name}: SYNC build for a dev stack: the function code and {names}, "
            "as they are on this machine now"
        )
        return "\n".join(lines)
    lines.append(
        f"samlink: {name}: DEV BUILD with live links to this machine's files "
        "(`sam deploy` would ship them as they are now):"
    )
    if summary["code_linked"]:
        lines.append(f"samlink:   function code -> {summary['code_dir']}")
    for project, root, origin in linked:
        lines.append(f"samlink:   {project} -> {root} ({origin})")
    for item in summary["materialized"]:
        lines.append(f"samlink:   copied, not live (refresh with `samlink watch`): {item}")
    lines.append(
        "samlink: `sam local invoke` mounts these links (mount_symlinks, SAM >= 1.134); "
        "`sam local start-api`/`start-lambda` cannot: use `samlink invoke` there"
    )
    lines.append("samlink: to deploy, build with SAMLINK_RELEASE=1 and run `samlink check`")
    return "\n".join(lines)


def save_plan(project_dir: str, plan: dict[str, Any]) -> None:
    """Write a plan (marshal data: read back without importing anything)."""
    folder = os.path.join(project_dir, ".samlink", "builds")
    os.makedirs(folder, exist_ok=True)
    write_atomic(plan_path(project_dir, plan["id"]), marshal.dumps(plan))


def drop_plan(project_dir: str, resource: str) -> None:
    """Forget a plan (a build that cannot be replayed)."""
    import contextlib

    with contextlib.suppress(OSError):  # a read-only project keeps no plan either
        os.unlink(plan_path(project_dir, resource))
