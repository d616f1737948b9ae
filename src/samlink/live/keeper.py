"""Keep local build dirs fresh, no AWS involved (`samlink watch`).

Code edits need nothing (dev builds link to the live source). What does need work:
- a resource's requirements, its links, a linked project's metadata or layout, or its code dir's
  top-level entries changed: that resource alone is rebuilt, by `samlink build` into a staging
  dir that is then swapped in (`sam build Id` would wipe every other resource's artifacts);
- the template changed: a full `sam build`, into a staging build dir swapped in the same way;
- a materialized source (a flat-layout namespace package, copied as real files) changed: the
  changed files are copied again.
A build dir is never half-written: Ctrl-C drops the staging dir and keeps the last good build.
"""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from samlink import reaper
from samlink.build import location, state
from samlink.build.plan import RESOURCE_ENV
from samlink.build.rebuild import changing
from samlink.build.ship import SYNC_ENV, walk_files
from samlink.errors import UsageError
from samlink.live.sync import Console, sam_executable
from samlink.live.watch import (
    Change,
    LinkedSource,
    SourceWatcher,
    Watch,
    linked_sources,
)
from samlink.model import links, requirements
from samlink.model.template import Resource, load_template

STAGING = ".samlink-new"
RETIRED = ".samlink-old"


class Keeper:
    """Watches what builds depend on and redoes the smallest build that makes them fresh."""

    def __init__(
        self,
        template_path: Path,
        build_dir: Path | None,
        sam_build_args: tuple[str, ...],
        *,
        console: Console,
    ) -> None:
        self.template_path = template_path
        self.model = load_template(template_path)
        # Named but absent is fine here: watch builds it (sam build --build-dir creates it too).
        given = build_dir.resolve() if build_dir is not None else None
        self.build_root = given or location.find_build_dir(template=template_path).resolve()
        self.sam_build_args = sam_build_args
        self.console = console
        self.sources: list[LinkedSource] = []
        self._events: queue.Queue[list[Change]] = queue.Queue()
        self._watcher: SourceWatcher | None = None

    @property
    def registry(self) -> Path:
        return (links.state_dir(self.model.path.parent) / "links.json").resolve()

    def run(self) -> int:
        with contextlib.suppress(ValueError):  # not the main thread (an embedding caller)
            signal.signal(signal.SIGTERM, _interrupt)
        try:
            self._replan()
            if not (self.build_root / "template.yaml").is_file():
                self.full_build("no build yet")
            else:
                self.rebuild_stale({})
            self.console.say(
                f"watching {self.model.path.name}: requirements, links, template"
                + (", materialized sources" if any(s.materialized for s in self.sources) else "")
                + " (Ctrl-C stops)"
            )
            while True:
                batch = self._events.get()
                with contextlib.suppress(queue.Empty):
                    while True:  # a build may have let more bursts pile up: take them all
                        batch = batch + self._events.get_nowait()
                self.handle(batch)
        finally:
            if self._watcher is not None:
                self._watcher.stop()

    # -- planning --------------------------------------------------------------------------

    def _replan(self) -> None:
        # The registry's folder must exist to be watched: `samlink link` may come later.
        self.registry.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.sources = linked_sources(self.model)
        except UsageError as exc:  # a broken link: say so and keep watching the rest
            self.console.say(f"error: {exc}")
            self.sources = []
        watches = [Watch(path) for path in self._templates()] + [Watch(self.registry)]
        for resource in self.model.managed():
            assert resource.code_dir is not None
            watches.append(Watch(resource.code_dir, recursive=False))
            watches += [Watch(path) for path in _requirements_files(resource)]
        roots = {source.root for source in self.sources}
        for root in roots:
            watches += [Watch(root, recursive=False), Watch(root / "src", recursive=False)]
        watches += [Watch(s.path) for s in self.sources if s.materialized or s.kind == "metadata"]
        watcher = SourceWatcher(watches, self._events.put)
        old = self._watcher
        if old is not None and (old.watches, old.schedules()) == (
            watcher.watches,
            watcher.schedules(),
        ):
            return
        if old is not None:
            old.stop()
        self._watcher = watcher
        watcher.start()
        # Edits made before this watcher started (while building, or before `samlink watch`).
        self.catch_up_materialized()

    # -- reacting --------------------------------------------------------------------------

    def handle(self, batch: list[Change]) -> None:
        """Do what a burst of changes calls for."""
        paths = {change.path for change in batch}
        changed = [path for path in self._templates() if path in paths]
        if changed:
            try:
                self.model = load_template(self.template_path)
            except UsageError as exc:
                self.console.say(f"error: {exc} (the last good build stays)")
                return
            self.full_build(f"{changed[0].name} changed")
            self._replan()
            return
        self.refresh_materialized(batch)
        direct: dict[str, str] = {}
        for resource in self.model.managed():
            assert resource.code_dir is not None
            code = resource.code_dir.resolve()
            reqs = set(_requirements_files(resource))
            for change in batch:
                if change.path in reqs:
                    direct.setdefault(resource.logical_id, f"{change.path.name} changed")
                elif change.path.parent == code and change.kind != "modified":
                    direct.setdefault(resource.logical_id, f"{change.path.name} {change.kind}")
        self.rebuild_stale(direct)
        self._replan()

    def _templates(self) -> list[Path]:
        """The root template and its nested applications' (each once)."""
        found = [self.model.path] + [stack.template_path for stack in self.model.stacks.values()]
        return list(dict.fromkeys(found))

    def rebuild_stale(self, reasons: dict[str, str]) -> None:
        """Rebuild the resources given, and those whose build `samlink status` finds stale."""
        wanted = dict(reasons)
        try:
            report = state.collect(self.model.path, self.build_root)
        except UsageError as exc:
            self.console.say(f"error: {exc}")
            report = {"resources": []}
        for item in report["resources"]:
            if item.get("managed") and item.get("built") and item.get("stale"):
                wanted.setdefault(item["id"], "; ".join(item["stale"]))
        for rid, why in wanted.items():
            self.rebuild(self.model.get(rid), why)

    def rebuild(self, resource: Resource, why: str) -> bool:
        """Rebuild one resource into a staging dir and swap it in; other build dirs stay."""
        final = self.build_root / resource.logical_id
        if not final.is_dir():
            return self.full_build(f"{resource.logical_id} was never built")
        # A nested application's resource builds beside its dir (App/Child/.Fn.staging).
        staging = final.parent / f".{resource.local_id}{STAGING}"
        _remove(staging)
        env = {k: v for k, v in os.environ.items() if k != SYNC_ENV}
        env["ARTIFACTS_DIR"] = str(staging)
        self.console.say(f"rebuilding {resource.logical_id}: {why}")
        started = time.monotonic()
        assert resource.code_dir is not None
        command = [sys.executable, "-m", "samlink", "build", resource.local_id]
        command += ["--template", str(resource.template_path or self.model.path)]
        if resource.stack:  # the staging dir's name cannot tell which full ID it serves
            command += ["--root-template", str(self.model.path)]
            env[RESOURCE_ENV] = resource.logical_id
        try:
            # Below a supervisor: a samlink killed mid-rebuild takes the build along (issue 11).
            result = reaper.run(
                command, cwd=resource.code_dir, env=env, capture_output=True, text=True
            )
        except BaseException:
            _remove(staging)
            raise
        if result.returncode != 0:
            _remove(staging)
            self.console.sam(result.stdout + result.stderr)
            self.console.say(f"{resource.logical_id}: rebuild failed; the last good build stays")
            return False
        with changing(self.build_root):  # an invoke reading the build waits, and sees it whole
            _swap(staging, final)
        self.console.say(
            f"rebuilt {resource.logical_id} in {time.monotonic() - started:.1f}s ({why})"
        )
        return True

    def full_build(self, why: str) -> bool:
        """`sam build` into a staging build dir, swapped in whole when it succeeds."""
        staging = self.build_root.with_name(f".{self.build_root.name}{STAGING}")
        _remove(staging)
        command = [sam_executable(), "build", "--template-file", str(self.model.path)]
        command += ["--build-dir", str(staging), *self.sam_build_args]
        env = {k: v for k, v in os.environ.items() if k != SYNC_ENV}
        self.console.say(f"sam build: {why}")
        started = time.monotonic()
        # Below a supervisor (samlink/reaper.py): it ends sam and all it started when samlink
        # goes, SIGKILL too, as it learns from its lifeline, a pipe only this process writes to.
        lifeline, hold = os.pipe()
        supervisor = [sys.executable, "-I", str(Path(reaper.__file__)), "--lifeline"]
        try:
            proc = subprocess.Popen(
                [*supervisor, str(lifeline), "--", *command],
                cwd=self.model.path.parent,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                pass_fds=(lifeline,),
            )
        except BaseException:
            os.close(hold)
            raise
        finally:
            os.close(lifeline)
        assert proc.stdout is not None
        try:
            for raw in iter(proc.stdout.readline, b""):
                self.console.sam(raw.decode("utf-8", "replace"))
            code = proc.wait()
        except BaseException:
            # Ctrl-C reached sam too (same process group); wait for it, then drop its half.
            # Closing the lifeline (below) ends whatever is still there.
            with contextlib.suppress(Exception):
                proc.wait(timeout=30)
            _remove(staging)
            raise
        finally:
            os.close(hold)
        if code != 0:
            _remove(staging)
            self.console.say(f"sam build failed ({code}); the last good build stays")
            return False
        self.build_root.parent.mkdir(parents=True, exist_ok=True)
        with changing(self.build_root):
            _swap(staging, self.build_root)
        self.console.say(f"sam build done in {time.monotonic() - started:.1f}s")
        return True

    def catch_up_materialized(self) -> None:
        """Copy every materialized file that differs from its source into the builds."""
        changed = []
        for source in self.sources:
            if not source.materialized:
                continue
            for file in walk_files(source.path):
                relative = file.relative_to(source.path.parent)
                for dest in self._build_dests(source):
                    if not _same_file(file, dest / relative):
                        changed.append(Change(file, "modified"))
        self.refresh_materialized(changed)

    def _build_dests(self, source: LinkedSource) -> list[Path]:
        dests = []
        for rid in source.resources:
            resource = self.model.resources.get(rid)
            if resource is None or not (self.build_root / rid).is_dir():
                continue
            dest = self.build_root / rid
            dests.append(dest / "python" if resource.kind == "layer" else dest)
        return dests

    def refresh_materialized(self, batch: list[Change]) -> None:
        """Copy changed files of flat-layout namespace packages into the builds that hold them."""
        done = set()
        for change in batch:
            for source in self.sources:
                if not source.materialized or not source.holds(change.path):
                    continue
                relative = change.path.relative_to(source.path.parent)
                for dest in self._build_dests(source):
                    if (change.path, dest) in done:
                        continue
                    done.add((change.path, dest))
                    _copy_one(change.path, dest / relative)
                    rid = dest.relative_to(self.build_root).parts[0]
                    self.console.say(f"refreshed {relative.as_posix()} in {rid}")


def _requirements_files(resource: Resource) -> list[Path]:
    assert resource.code_dir is not None
    path = resource.code_dir / "requirements.txt"
    if not path.is_file():
        return [path.resolve()]
    try:
        parsed = requirements.parse(path)
    except UsageError:
        return [path.resolve()]
    return [p.resolve() for p in parsed.files]


def _same_file(a: Path, b: Path) -> bool:
    try:
        x, y = a.stat(), b.stat()
    except OSError:
        return False
    return (x.st_size, x.st_mtime_ns) == (y.st_size, y.st_mtime_ns)


def _copy_one(source: Path, dest: Path) -> None:
    """Copy one file into place whole (or remove it when the source is gone)."""
    if not source.is_file():
        with contextlib.suppress(FileNotFoundError):
            dest.unlink()
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    staged = dest.with_name(f".{dest.name}{STAGING}")
    shutil.copy2(source, staged)
    os.replace(staged, dest)


def _swap(staging: Path, final: Path) -> None:
    """Put `staging` where `final` is; Ctrl-C waits until both renames are done."""
    retired = final.with_name(f".{final.name}{RETIRED}")
    _remove(retired)
    with _signals_held():
        if final.exists() or final.is_symlink():
            final.rename(retired)
        staging.rename(final)
    _remove(retired)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt
