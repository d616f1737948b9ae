"""`samlink start-api`: a local API Gateway and function URLs over warm, live environments."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from samlink.commands.invoke import parse_parameter_overrides
from samlink.errors import UsageError
from samlink.model.samconfig import ServerOptions, server_options
from samlink.model.template import Template, load_template
from samlink.runtime.gateway.app import GatewayServer, Outcome, route_lines
from samlink.runtime.gateway.routes import Gateway, read_gateway


def run(
    template_path: Path,
    *,
    host: str,
    port: int,
    env_vars: Path | None,
    parameter_overrides: tuple[str, ...],
    no_build: bool,
    max_concurrency: int,
    function_url_port: int | None,
    debug_port: int | None,
    build_dir: Path | None,
    given: frozenset[str] = frozenset(),
) -> int:
    """Serve until SIGINT/SIGTERM (exit 0); `given` names the options typed on the command line
    (they win over the SAM config's local_start_api settings, as in SAM). Stopped during the
    start-up build, it ends the build and exits 128 + the signal (130, 143), as a shell reports."""
    chosen = server_options(
        template_path.parent,
        "local_start_api",
        ServerOptions(host, port, env_vars, parameter_overrides, debug_port),
        given,
    )
    host, port, env_vars = chosen.host, chosen.port, chosen.env_vars
    parameter_overrides, debug_port = chosen.parameter_overrides, chosen.debug_port
    overrides = parse_parameter_overrides(parameter_overrides)
    template = load_template(template_path)
    gateway = read_gateway(template, overrides)
    if not gateway.routes and not gateway.urls:
        raise UsageError(
            f"{template_path}: no Api or HttpApi events, APIs or function URLs to serve",
            "add an Api/HttpApi event or FunctionUrlConfig to a function, or use "
            "samlink invoke / start-lambda",
        )
    # Routes are checked (collisions) before anything starts.
    server = GatewayServer(
        _not_started, gateway, host=host, port=port, url_port=function_url_port, log=_log
    )
    return asyncio.run(
        _serve(
            server,
            gateway,
            template_path,
            overrides,
            env_vars=env_vars,
            build=not no_build,
            max_concurrency=max_concurrency,
            debug_port=debug_port,
            build_dir=build_dir,
        )
    )


async def _serve(
    server: GatewayServer,
    gateway: Gateway,
    template_path: Path,
    overrides: dict[str, str],
    *,
    env_vars: Path | None,
    build: bool,
    max_concurrency: int,
    debug_port: int | None,
    build_dir: Path | None,
) -> int:
    from samlink.runtime.engine import Engine

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals: list[int] = []

    def stopping(signum: int) -> None:
        signals.append(signum)
        stop.set()

    # Our own handlers: a background job of a non-interactive shell starts with SIGINT ignored.
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping, signum)
    engine = Engine(
        template_path,
        build_dir=build_dir,
        env_vars=env_vars,
        parameter_overrides=overrides,
        build=build,
        max_concurrency=max_concurrency,
        debug_port=debug_port,
        log=_log,
    )
    server.invoke = engine.invoke
    tasks: set[asyncio.Task[None]] = set()

    def reloaded(template: Template) -> None:
        task = loop.create_task(_reload(server, template, overrides))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    try:
        await server.start()
        if not await engine.start_unless(stop):
            _log("samlink start-api: stopped during the start-up build")
            return 128 + signals[0]
        engine.on_reload(reloaded)
        for note in gateway.notes:
            _log(f"samlink: note: {note}")
        for line in [*route_lines(gateway), *server.url_lines()]:
            print(line, flush=True)
        _log(
            f"samlink start-api: serving on http://{server.host}:{server.port}/ "
            "(Ctrl-C to stop; edits to code, linked libraries and the template are picked up live)"
        )
        await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        await server.close()
        await engine.close()
    _log("samlink start-api: stopped")
    return 0


async def _reload(server: GatewayServer, template: Template, overrides: dict[str, str]) -> None:
    try:
        gateway = read_gateway(template, overrides)
        await server.reload(gateway)
    except UsageError as err:
        _log(f"samlink: template changed, routes NOT reloaded: {err.message} ({err.hint})")
        return
    urls = len(gateway.urls)
    _log(
        f"samlink: template changed: {len(gateway.routes)} routes, {urls} function URL"
        f"{'' if urls == 1 else 's'}: " + "; ".join([*route_lines(gateway), *server.url_lines()])
    )


async def _not_started(function_id: str, payload: bytes) -> Outcome:
    raise RuntimeError("the engine has not started")


def _log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
