"""The plan of a Lambda-like filesystem: what /var/task, /opt and /var/runtime show, what is hidden.

Planning only reads the build directories; the plan is carried out inside the child process by
`bootstrap.py` (a private mount namespace), so nothing here mounts anything.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

TASK_ROOT = "/var/task"
RUNTIME_DIR = "/var/runtime"
OPT = "/opt"
# Laid over the host's folders first, so every mount point we create lives in memory.
_COVERED = ("/var", "/opt")
# Folders whose loss would break the interpreter or the system: never hidden.
_SYSTEM = frozenset(
    {
        "/",
        "/bin",
        "/boot",
        "/dev",
        "/etc",
        "/home",
        "/lib",
        "/lib32",
        "/lib64",
        "/libx32",
        "/media",
        "/mnt",
        "/nix",
        "/opt",
        "/proc",
        "/root",
        "/run",
        "/sbin",
        "/snap",
        "/srv",
        "/sys",
        "/tmp",
        "/usr",
        "/var",
    }
)
# Lambda's /tmp is 512 MB of fresh, writable space by default.
_TMP_DATA = "mode=1777,size=512m"


@dataclass(frozen=True)
class Entry:
    """One name in the sandbox and the real host path shown there."""

    target: str
    source: Path
    is_dir: bool


@dataclass(frozen=True)
class Layout:
    """Everything the sandbox shows and hides, in the order it must be mounted."""

    task: tuple[Entry, ...]
    opt_dirs: tuple[str, ...]  # folders made under /opt where layers overlap or hold links
    opt: tuple[Entry, ...]
    runtime: Entry
    kept: tuple[Entry, ...]  # interpreter folders under /var or /opt, shown again in place
    fresh_tmp: bool
    hidden: tuple[Path, ...]
    notes: tuple[str, ...]  # things left out, for the log


def plan_layout(
    code_dir: Path, layer_dirs: Iterable[Path], runtime_dir: Path, protected: Iterable[Path]
) -> Layout:
    """Plan /var/task (top-level links resolved), /opt (layers merged) and what to hide."""
    notes: list[str] = []
    code = Path(os.path.realpath(code_dir))
    task = tuple(_task_entries(code, notes))
    layers = [Path(os.path.realpath(layer)) for layer in layer_dirs]
    opt_dirs: list[str] = []
    opt: list[Entry] = []
    _merge(OPT, layers, _dirs_holding_links(layers), opt_dirs, opt, notes)
    keep = tuple(Path(os.path.realpath(p)) for p in protected)
    kept = tuple(
        Entry(str(p), p, True) for p in _outermost(p for p in keep if _under_any(p, _COVERED))
    )
    fresh_tmp = not any(_within(p, Path("/tmp")) for p in keep)
    covered = [Path(c) for c in _COVERED] + ([Path("/tmp")] if fresh_tmp else [])
    roots = [code, *layers]
    linked = [e.source for e in (*task, *opt) if not _under_any(e.source, roots)]
    hidden = hidden_dirs([*roots, *linked], keep, covered)
    runtime = Entry(RUNTIME_DIR, Path(os.path.realpath(runtime_dir)), True)
    return Layout(task, tuple(opt_dirs), tuple(opt), runtime, kept, fresh_tmp, hidden, tuple(notes))


def layout_ops(layout: Layout) -> list[dict[str, object]]:
    """The mount steps `bootstrap.py` carries out, in order."""
    ops: list[dict[str, object]] = [
        {"op": "tmpfs", "path": "/var", "data": "mode=0755,size=1m"},
        {"op": "tmpfs", "path": OPT, "data": "mode=0755,size=1m"},
        {"op": "mkdir", "path": TASK_ROOT},
        {"op": "tmpfs", "path": TASK_ROOT, "data": "mode=0755,size=1m"},
    ]

    def bind(entry: Entry) -> dict[str, object]:
        return {
            "op": "bind",
            "src": str(entry.source),
            "dst": entry.target,
            "dir": entry.is_dir,
            "early": _under_any(entry.source, _COVERED),
        }

    ops += [bind(entry) for entry in layout.task]
    ops.append(bind(layout.runtime))
    ops += [{"op": "mkdir", "path": path} for path in layout.opt_dirs]
    ops += [bind(entry) for entry in layout.opt]
    ops += [bind(entry) for entry in layout.kept]
    ops += [{"op": "ro", "path": path} for path in (TASK_ROOT, OPT, "/var")]
    if layout.fresh_tmp:
        ops.append({"op": "tmpfs", "path": "/tmp", "data": _TMP_DATA})
    ops += [
        {"op": "tmpfs", "path": str(p), "data": "mode=0755,size=4k", "ro": True}
        for p in layout.hidden
    ]
    return ops


def opt_site_dirs(opt_root: str, version: tuple[int, int]) -> list[str]:
    """The two site dirs the managed runtime adds for a layer root, most specific first."""
    return [
        f"{opt_root}/python/lib/python{version[0]}.{version[1]}/site-packages",
        f"{opt_root}/python",
    ]


def hidden_dirs(
    sources: Iterable[Path], protected: Iterable[Path], covered: Iterable[Path]
) -> tuple[Path, ...]:
    """Host folders to cover with an empty tmpfs so the sources' host paths do not resolve.

    For each source the folder holding it is hidden (a leaked `.pth` line usually names the source
    root or its `src/`), or the source itself when that folder holds what the interpreter needs.
    """
    keep = list(protected)
    skip = list(covered)
    picks: list[Path] = []
    for source in sources:
        for candidate in (source.parent, source):
            if candidate.is_dir() and _hideable(candidate, keep):
                picks.append(candidate)
                break
    picks = [p for p in picks if not _under_any(p, skip)]
    return tuple(_outermost(picks))


def _hideable(path: Path, protected: list[Path]) -> bool:
    if str(path) in _SYSTEM:
        return False
    return not any(_within(keep, path) for keep in protected)


def _task_entries(code: Path, notes: list[str]) -> Iterable[Entry]:
    # Only top-level entries can be links: that is all `sam local invoke --mount-symlinks` and
    # Lambda's zip agree on. Deeper links are shown as they are.
    with os.scandir(code) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            path = Path(entry.path)
            if entry.is_symlink():
                real = Path(os.path.realpath(path))
                if not real.exists():
                    notes.append(f"{path} -> {os.readlink(path)} is a dangling link: left out")
                    continue
                yield Entry(f"{TASK_ROOT}/{entry.name}", real, real.is_dir())
            else:
                yield Entry(f"{TASK_ROOT}/{entry.name}", path, entry.is_dir())


def _dirs_holding_links(layers: list[Path]) -> set[Path]:
    """Folders of the layers with a symlink somewhere below: these must be rebuilt, not bound."""
    found: set[Path] = set()
    for layer in layers:
        for folder, dirs, files in os.walk(layer):
            if any(os.path.islink(os.path.join(folder, name)) for name in (*dirs, *files)):
                here = Path(folder)
                while here not in found:
                    found.add(here)
                    if here == layer:
                        break
                    here = here.parent
    return found


def _merge(
    target: str,
    sources: list[Path],
    linky: set[Path],
    dirs: list[str],
    entries: list[Entry],
    notes: list[str],
) -> None:
    # Lambda extracts layers into /opt in order, so a later layer's file wins over an earlier one;
    # folders present in several layers are merged name by name.
    names: dict[str, list[Path]] = {}
    for source in sources:
        with os.scandir(source) as found:
            for entry in found:
                names.setdefault(entry.name, []).append(Path(entry.path))
    for name in sorted(names):
        candidates: list[Path] = []
        for path in names[name]:
            real = Path(os.path.realpath(path))
            if real.exists():
                candidates.append(real)
            else:
                notes.append(f"{path} -> {os.readlink(path)} is a dangling link: left out")
        if not candidates:
            continue
        where = f"{target}/{name}"
        if not candidates[-1].is_dir():
            entries.append(Entry(where, candidates[-1], False))
            continue
        merged: list[Path] = []
        for real in reversed(candidates):
            if not real.is_dir():
                break
            merged.insert(0, real)
        if len(merged) == 1 and merged[0] not in linky:
            entries.append(Entry(where, merged[0], True))
        else:
            dirs.append(where)
            _merge(where, merged, linky, dirs, entries, notes)


def _within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _under_any(path: Path, folders: Iterable[Path | str]) -> bool:
    return any(_within(path, Path(folder)) for folder in folders)


def _outermost(paths: Iterable[Path]) -> list[Path]:
    ordered = sorted(set(paths), key=lambda p: (len(p.parts), str(p)))
    result: list[Path] = []
    for path in ordered:
        if not _under_any(path, result):
            result.append(path)
    return result
