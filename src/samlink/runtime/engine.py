"""The engine behind `samlink start-lambda` and `samlink start-api`: a template's functions in warm,
live execution environments.

Each function gets a `warm.Pool` of sandboxed awslambdaric processes (init once, module state
kept, one request at a time each), up to its ReservedConcurrentExecutions or `max_concurrency`,
then requests queue. The engine watches what the environments were made from and keeps them
fresh without a restart: an edit to a function's code, a linked library (a top-level link target
of its build dir), a layer or the --env-vars file retires its environments (the next request runs
in a fresh one; busy ones finish their request first); a requirements change rebuilds only that
function first, as `samlink invoke` does; a template edit reloads the function table and tells
the callbacks given to `on_reload` (the gateway reloads its routes). One log line per reload.

A front end (commands/start_lambda.py, commands/start_api.py) makes an Engine, awaits `start()`,
calls `invoke()` from its request handlers, and awaits `close()` when it stops: everything the
engine started is gone then.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from samlink import reaper
from samlink.build import location, rebuild, state
from samlink.build.watcher import Change, SourceWatcher, Watch
from samlink.errors import BuildError, UsageError
from samlink.model.template import Template, load_template
from samlink.runtime import report
from samlink.runtime.from_template import spec_from_template
from samlink.runtime.invoke import InvokeSpec, prepare
from samlink.runtime.python import ensure_debugger
from samlink.runtime.warm import Pool, Result

__all__ = ["Engine", "Result", "UnknownFunction"]

_NO_OVERRIDES: Mapping[str, str] = {}


class UnknownFunction(UsageError):
    """`invoke()` of a function the template does not define (or cannot run here)."""

    def __init__(self, function_id: str, known: list[str]) -> None:
        self.function_id = function_id
        super().__init__(
            f"no function named {function_id!r}",
            "functions here: " + (", ".join(known) or "none"),
        )


def _stderr_line(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


class Engine:
    """A template's functions in warm, live, Docker-free execution environments."""

    def __init__(
        self,
        template_path: Path,
        *,
        build_dir: Path | None = None,
        env_vars: Path | None = None,
        parameter_overrides: Mapping[str, str] = _NO_OVERRIDES,
        build: bool = True,
        max_concurrency: int = 4,
        debug_port: int | None = None,
        log: Callable[[str], None] = _stderr_line,
    ) -> None:
        self._template = load_template(template_path)
        self._root = location.find_build_dir(build_dir, template=template_path)
        self._env_vars = env_vars
        self._overrides = dict(parameter_overrides)
        self._build = build
        self._max = max(1, max_concurrency)
        self._debug_port = debug_port
        self._log = log
        self._callbacks: list[Callable[[Template], None]] = []
        self._pools: dict[str, Pool] = {}
        self._epoch = 0  # counts retirements and reloads: a pool made across one is stale
        self._old_pools: set[Pool] = set()  # retired by a template edit, closed with the engine
        self._making: dict[str, asyncio.Lock] = {}
        self._stamps: dict[str, list[tuple[int, int]]] = {}
        self._changes: asyncio.Lock | None = None
        self._watcher: SourceWatcher | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self._stopper = reaper.Stopper()  # ends the builds in flight when the engine closes

    @property
    def template(self) -> Template:
        """The template as it is now (reloaded on edits)."""
        return self._template

    @property
    def build_dir(self) -> Path:
        return self._root

    def function_ids(self) -> list[str]:
        """The functions this engine can run (Python Zip functions), in template order."""
        return runnable(self._template)

    def on_reload(self, callback: Callable[[Template], None]) -> None:
        """Call `callback(template)` on the event loop after each template reload."""
        self._callbacks.append(callback)

    async def start(self) -> None:
        """Bring stale builds up to date (unless build=False), then start watching."""
        self._loop = asyncio.get_running_loop()
        self._changes = asyncio.Lock()
        if self._build:
            await asyncio.to_thread(self._bring_all_up_to_date)
        else:
            for function_id in self.function_ids():
                if not (self._root / function_id).is_dir():
                    raise location.not_built(
                        self._root, self._template.path, what=f"{function_id} is not built"
                    )
        self._watch()

    async def start_unless(self, stop: asyncio.Event) -> bool:
        """`start()`, unless `stop` is set first (Ctrl-C or SIGTERM during the start-up build):
        then the build in flight ends at once, its whole process tree by its supervisor and its
        half-made dirs removed, and this returns False once it is gone (the engine is closed).
        An error of `start()` itself is raised."""
        starting = asyncio.ensure_future(self.start())
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            if not starting.done():
                self._closed = True
                self._stopper.stop()
                await asyncio.gather(starting, return_exceptions=True)
                await self.close()
        if self._closed:
            return False
        await starting  # raises what start() raised
        return True

    async def invoke(
        self, function_id: str, payload: bytes, *, invocation_type: str = "RequestResponse"
    ) -> Result:
        """Run one request in a warm environment of `function_id`.

        Raises UnknownFunction, and report.RequestTooLarge for an event Lambda would refuse.
        A function that cannot start (not built, no interpreter) is an "error" Result whose
        payload says why (and the log says it too).
        """
        if function_id not in self.function_ids():
            raise UnknownFunction(function_id, self.function_ids())
        report.check_request(payload, invocation_type)
        try:
            pool = await self._pool(function_id)
            if self._stamps.get(function_id) != self._stamp(function_id):
                # Replaced under us (`sam build` in another terminal, `samlink watch`): the
                # environments run what was there before.
                self.retire(function_id, "its build dir was replaced")
            return await pool.invoke(payload)
        except (UsageError, BuildError) as err:
            message = f"{err.message} ({err.hint})" if err.hint else err.message
            self._log(f"samlink: {function_id}: cannot run: {message}")
            body = json.dumps({"errorMessage": message, "errorType": "Samlink.SandboxError"})
            return Result("error", body.encode(), "", 0.0, message)

    def retire(self, function_id: str, reason: str) -> None:
        """The next request of `function_id` runs in a fresh environment; says why in one line."""
        self._epoch += 1
        pool = self._pools.get(function_id)
        self._log(f"samlink: {reason}: {function_id} gets a fresh environment")
        if pool is None:
            return
        self._stamps[function_id] = self._stamp(function_id)
        try:
            pool.retire(self._spec(function_id))
        except (UsageError, BuildError) as err:
            self._log(f"samlink: {function_id}: {err.message}")
            pool.retire()

    async def reload_template(self) -> None:
        """Read the template again; retire what changed; tell the on_reload callbacks."""
        try:
            fresh = load_template(self._template.path)
        except UsageError as err:
            self._log(f"samlink: template changed but cannot be read, kept the old one: {err}")
            return
        old = self._template
        self._template = fresh
        self._epoch += 1
        if self._build:
            await asyncio.to_thread(self._bring_all_up_to_date)
        changed = [
            fid
            for fid in self.function_ids()
            if old.resources.get(fid) != fresh.resources.get(fid)
            or _reserved(old, fid) != _reserved(fresh, fid)
            or _passed(old, fid) != _passed(fresh, fid)
        ]
        gone = [fid for fid in self._pools if fid not in self.function_ids()]
        for fid in [*gone, *changed]:
            pool = self._pools.pop(fid, None)
            if pool is not None:
                # Requests running there finish first; the next ones get a pool made from the
                # new template (its runtime, limits and variables may differ).
                pool.retire()
                self._old_pools.add(pool)
        what = ", ".join(changed + [f"{g} (removed)" for g in gone]) or "no function changed"
        self._log(f"samlink: {fresh.path.name} changed: reloaded ({what})")
        self._watch()
        for callback in self._callbacks:
            callback(fresh)

    async def close(self) -> None:
        """Stop watching, end every environment and any build in flight (no process left)."""
        self._closed = True
        self._stopper.stop()
        if self._watcher is not None:
            watcher, self._watcher = self._watcher, None
            await asyncio.to_thread(watcher.stop)
        for task in list(self._tasks):
            task.cancel()
        pools, self._pools = [*self._pools.values(), *self._old_pools], {}
        self._old_pools = set()
        await asyncio.gather(*(pool.close() for pool in pools), return_exceptions=True)

    # --- environments ---------------------------------------------------------------------------

    async def _pool(self, function_id: str) -> Pool:
        pool = self._pools.get(function_id)
        if pool is not None:
            return pool
        lock = self._making.setdefault(function_id, asyncio.Lock())
        async with lock:
            pool = self._pools.get(function_id)
            while pool is None:
                epoch = self._epoch
                # In a thread: a published layer may be downloaded first (remote_layers).
                spec = await asyncio.to_thread(self._spec, function_id)
                ready = await asyncio.to_thread(prepare, spec)
                if self._debug_port is not None:
                    await asyncio.to_thread(ensure_debugger, ready.interpreter)
                if epoch != self._epoch:
                    continue  # an edit or a template reload came meanwhile: read it again
                limit = self._limit(function_id)
                pool = Pool(spec, ready, limit=limit, log=self._log, debug_port=self._debug_port)
                self._pools[function_id] = pool
                self._stamps[function_id] = self._stamp(function_id)
            return pool

    def _spec(self, function_id: str) -> InvokeSpec:
        return spec_from_template(
            self._template.path,
            function_id,
            env_vars_file=self._env_vars,
            parameter_overrides=self._overrides,
            build_dir=self._root,
        )

    def _stamp(self, function_id: str) -> list[tuple[int, int]]:
        """Which build a function's environments were made from: its build dir's and its
        layers' (inode, mtime); a rebuild swaps in a new dir, `sam build` makes new ones."""
        resource = self._template.resources[function_id]
        found = []
        for name in (function_id, *resource.layers):
            try:
                info = (self._root / name).stat()
            except OSError:
                found.append((0, 0))
                continue
            found.append((info.st_ino, info.st_mtime_ns))
        return found

    def _limit(self, function_id: str) -> int:
        if self._debug_port is not None:
            return 1  # one debugger, one process to attach to
        reserved = _reserved(self._template, function_id)
        return min(self._max, max(1, reserved)) if reserved is not None else self._max

    # --- builds ---------------------------------------------------------------------------------

    def _bring_all_up_to_date(self) -> None:
        for function_id in self.function_ids():
            if self._closed:
                return
            self._bring_up_to_date(function_id)

    def _bring_up_to_date(self, function_id: str) -> list[str]:
        return rebuild.bring_up_to_date(
            self._template, function_id, self._root, self._log, self._stopper
        )

    # --- watching -------------------------------------------------------------------------------

    def _watch(self) -> None:
        if self._closed:
            return
        old = self._watcher
        if old is not None:
            old.stop()
        watches = [Watch(path, recursive=False) for path in self._templates()]
        if self._env_vars is not None:
            watches.append(Watch(self._env_vars.resolve(), recursive=False))
        for roots in self._feeds().values():
            watches.extend(Watch(path, recursive=path.is_dir()) for path in roots)
        watcher = SourceWatcher(watches, self._changed)
        watcher.start()
        self._watcher = watcher

    def _templates(self) -> list[Path]:
        """The root template and its nested applications' (each once)."""
        stacks = [stack.template_path for stack in self._template.stacks.values()]
        return list(dict.fromkeys([self._template.path, *stacks]))

    def _feeds(self) -> dict[str, list[Path]]:
        """Per function: the paths whose edits its environments must not outlive."""
        feeds: dict[str, list[Path]] = {}
        template, root = self._template, self._root
        for function_id in self.function_ids():
            resource = template.resources[function_id]
            paths: list[Path] = []
            if resource.code_dir is not None:
                paths.append(resource.code_dir)
            paths += _link_targets(root / function_id)
            project = template.path.parent  # flat-layout namespace packages: copies, no links
            paths += [source for _, source, _ in state.copied_sources(project, function_id)]
            for layer_id in resource.layers:
                layer = template.resources.get(layer_id)
                if layer is None:
                    continue
                if layer.code_dir is not None:
                    paths.append(layer.code_dir)
                paths += _link_targets(root / layer_id / "python")
                paths += [source for _, source, _ in state.copied_sources(project, layer_id)]
            feeds[function_id] = sorted({Path(os.path.realpath(p)) for p in paths if p.exists()})
        return feeds

    def _changed(self, changes: list[Change]) -> None:
        # Called on the watcher's thread: the work happens on the event loop.
        loop = self._loop
        if loop is None or self._closed:
            return
        loop.call_soon_threadsafe(self._spawn, changes)

    def _spawn(self, changes: list[Change]) -> None:
        task = asyncio.ensure_future(self._apply(changes))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _apply(self, changes: list[Change]) -> None:
        assert self._changes is not None
        async with self._changes:
            if self._closed:
                return
            paths = [c.path for c in changes]
            templates = {Path(os.path.realpath(path)) for path in self._templates()}
            if templates.intersection(paths):  # the root template or a nested application's
                await self.reload_template()
                return
            if self._env_vars is not None and Path(os.path.realpath(self._env_vars)) in paths:
                for function_id in list(self._pools):
                    self.retire(function_id, f"{self._env_vars.name} changed")
                return
            rewatch = False
            for function_id, roots in self._feeds().items():
                hit = [p for p in paths if any(p == r or r in p.parents for r in roots)]
                if not hit:
                    continue
                reason = f"{_shown(hit[0], roots)} changed"
                if len(hit) > 1:
                    reason += f" (and {len(hit) - 1} more)"
                if self._build:
                    try:
                        rebuilt = await asyncio.to_thread(self._bring_up_to_date, function_id)
                    except (UsageError, BuildError) as err:
                        self._log(f"samlink: {function_id}: rebuild failed: {err.message}")
                        rebuilt = []
                    if rebuilt:
                        reason += f", rebuilt ({'; '.join(rebuilt)})"
                        rewatch = True  # a rebuild may link other libraries
                self.retire(function_id, reason)
            if rewatch:
                self._watch()


def runnable(template: Template) -> list[str]:
    """The functions of `template` samlink can run: Python Zip functions with a handler."""
    return [
        r.logical_id
        for r in template.resources.values()
        if r.kind == "function"
        and r.handler is not None
        and r.runtime is not None
        and r.runtime.startswith("python")
    ]


def _reserved(template: Template, function_id: str) -> int | None:
    """ReservedConcurrentExecutions of a function (Globals apply), if set to a number."""
    document = template.document
    resource = (document.get("Resources") or {}).get(function_id) or {}
    value = (resource.get("Properties") or {}).get("ReservedConcurrentExecutions")
    if value is None:
        value = ((document.get("Globals") or {}).get("Function") or {}).get(
            "ReservedConcurrentExecutions"
        )
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _link_targets(folder: Path) -> list[Path]:
    """Where the top-level links of a build dir lead (the linked sources it runs)."""
    if not folder.is_dir():
        return []
    return [Path(os.path.realpath(e)) for e in sorted(folder.iterdir()) if e.is_symlink()]


def _shown(path: Path, roots: list[Path]) -> str:
    for root in roots:
        if root in path.parents:
            return f"{root.name}/{path.relative_to(root)}"
    return path.name


def _passed(template: Template, function_id: str) -> dict[str, str | None] | None:
    """The parameters a nested application's function gets from its parents (None at the
    root): an edit to a parent's Parameters changes what it sees."""
    resource = template.resources.get(function_id)
    stack = template.stacks.get(resource.stack) if resource is not None and resource.stack else None
    return stack.parameters if stack is not None else None
