"""A debounced, noise-free file watcher: bursts of real changes, never clutter.

watchdog maps inotify's IN_ATTRIB (a chmod; on some systems a hard link made to the file) to the
same "modified" event as a write, and hard links to linked sources are what sync builds are made
of, so a "modified" event only counts when the file's mtime or size changed. What is clutter
(`__pycache__`, an editor's swap file, `.git`) is the ship rule's noise filter. It sits this low
so that the warm execution environments (samlink.runtime) and `samlink sync`/`watch` share it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from samlink.build.ship import is_noise, is_noise_path, walk_files


@dataclass(frozen=True)
class Watch:
    """A file, or a folder watched with its subfolders (`recursive`) or only its direct files."""

    path: Path
    recursive: bool = True


@dataclass(frozen=True)
class Change:
    path: Path
    kind: str  # "created" | "modified" | "deleted"
    at: float = 0.0  # time.monotonic() when it was first seen in its burst


class SourceWatcher:
    """Calls `on_changes` with each burst of real changes, once the burst has been quiet a while."""

    def __init__(
        self,
        watches: Iterable[Watch],
        on_changes: Callable[[list[Change]], None],
        *,
        quiet: float = 0.3,
        max_wait: float = 2.0,
    ) -> None:
        self._watches = sorted(
            {Watch(w.path.resolve(), w.recursive) for w in watches}, key=lambda w: str(w.path)
        )
        self._on_changes = on_changes
        self._quiet = quiet
        self._max_wait = max_wait
        self._stats: dict[Path, tuple[int, int]] = {}
        self._pending: dict[Path, Change] = {}
        self._first = 0.0
        self._last = 0.0
        self._cond = threading.Condition()
        self._stopping = False
        self._observer: object | None = None
        self._thread = threading.Thread(
            target=self._flush_loop, name="samlink-debounce", daemon=True
        )

    @property
    def watches(self) -> list[Watch]:
        return list(self._watches)

    def start(self) -> None:
        """Snapshot the watched files, then start watching."""
        from watchdog.observers import Observer

        for watch in self._watches:
            for path in self._files(watch):
                self._remember(path)
        observer = Observer()
        handler = _Handler(self)
        for folder, recursive in self.schedules():
            observer.schedule(handler, str(folder), recursive=recursive)  # type: ignore[no-untyped-call]
        observer.daemon = True
        observer.start()  # type: ignore[no-untyped-call]
        self._observer = observer
        self._thread.start()

    def stop(self) -> None:
        """Stop watching; a burst still waiting for quiet is dropped."""
        observer = self._observer
        if observer is not None:
            observer.stop()  # type: ignore[attr-defined]
            observer.join(timeout=5)  # type: ignore[attr-defined]
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def schedules(self) -> list[tuple[Path, bool]]:
        """The folders to observe now (a watched path's folder may appear later)."""
        wanted: dict[Path, bool] = {}
        for watch in self._watches:
            if watch.path.is_dir():
                wanted[watch.path] = wanted.get(watch.path, False) or watch.recursive
            elif watch.path.parent.is_dir():
                wanted.setdefault(watch.path.parent, False)
        covered = [p for p, recursive in wanted.items() if recursive]
        return [
            (path, recursive)
            for path, recursive in sorted(wanted.items())
            if not any(other in path.parents for other in covered)
        ]

    def _files(self, watch: Watch) -> Iterator[Path]:
        if watch.path.is_file():
            yield watch.path
        elif watch.path.is_dir() and watch.recursive:
            yield from walk_files(watch.path)
        elif watch.path.is_dir():
            for entry in watch.path.iterdir():
                if entry.is_file() and not is_noise(entry.name, is_dir=False):
                    yield entry

    def relevant(self, path: Path, *, is_dir: bool = False) -> bool:
        """Whether a path is watched here and is not clutter."""
        for watch in self._watches:
            if path == watch.path:
                return True
            if watch.recursive and watch.path in path.parents:
                noisy = is_noise_path(path, watch.path)
                return not (noisy or (is_dir and is_noise(path.name, is_dir=True)))
            if not watch.recursive and path.parent == watch.path:
                return not is_noise(path.name, is_dir=is_dir)
        return False

    def _remember(self, path: Path) -> tuple[int, int] | None:
        try:
            info = path.stat()
        except OSError:
            self._stats.pop(path, None)
            return None
        key = (info.st_mtime_ns, info.st_size)
        self._stats[path] = key
        return key

    def event(self, kind: str, path: Path, *, is_dir: bool) -> None:
        """Record one watchdog event (called from the observer's thread)."""
        if not self.relevant(path, is_dir=is_dir):
            return
        with self._cond:
            if kind == "modified":
                if is_dir:
                    return  # a folder's own mtime: the file event that caused it comes too
                before = self._stats.get(path)
                if before is not None and self._remember(path) == before:
                    return  # attributes only (chmod, a hard link made or removed)
                if before is None:
                    self._remember(path)
            elif kind == "created":
                if path in self._stats:
                    kind = "modified"  # an editor's atomic save replaced a file we know
                self._remember(path)
            elif kind == "deleted":
                self._stats.pop(path, None)
                earlier = self._pending.get(path)
                if earlier is not None and earlier.kind == "created":
                    del self._pending[path]  # a temp file that came and went in one burst
                    return
            now = time.monotonic()
            earlier = self._pending.get(path)
            if earlier is not None and earlier.kind == "created" and kind == "modified":
                kind = "created"
            if not self._pending:
                self._first = now
            self._last = now
            self._pending[path] = Change(path, kind, earlier.at if earlier else now)
            self._cond.notify_all()

    def _flush_loop(self) -> None:
        while True:
            with self._cond:
                while not self._stopping:
                    if self._pending:
                        now = time.monotonic()
                        due = min(self._last + self._quiet, self._first + self._max_wait)
                        if now >= due:
                            break
                        self._cond.wait(due - now)
                    else:
                        self._cond.wait()
                if self._stopping:
                    return
                batch = sorted(self._pending.values(), key=lambda c: str(c.path))
                self._pending = {}
            self._on_changes(batch)


class _Handler:
    """Translates watchdog events for a SourceWatcher."""

    def __init__(self, watcher: SourceWatcher) -> None:
        self._watcher = watcher

    def dispatch(self, event: object) -> None:
        kind = getattr(event, "event_type", "")
        is_dir = bool(getattr(event, "is_directory", False))
        src = Path(os.fsdecode(getattr(event, "src_path", "")))
        if kind in ("modified", "closed"):
            self._watcher.event("modified", src, is_dir=is_dir)
        elif kind in ("created", "deleted"):
            self._watcher.event(kind, src, is_dir=is_dir)
        elif kind == "moved":
            dest = Path(os.fsdecode(getattr(event, "dest_path", "")))
            self._watcher.event("deleted", src, is_dir=is_dir)
            self._watcher.event("created", dest, is_dir=is_dir)
            if is_dir:
                for path in walk_files(dest):
                    self._watcher.event("created", path, is_dir=False)
