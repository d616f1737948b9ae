"""Command line: parse arguments and dispatch; the work is in samlink.commands."""

from __future__ import annotations

import os
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from samlink import __version__
from samlink.errors import UsageError

F = TypeVar("F", bound=Callable[..., Any])


def template_option(func: F) -> F:
    return click.option(
        "-t",
        "--template",
        "template",
        type=click.Path(path_type=Path),
        default=Path("template.yaml"),
        show_default=True,
        help="SAM or CloudFormation template (YAML or JSON).",
    )(func)


def build_dir_option(func: F) -> F:
    return click.option(
        "--build-dir",
        type=click.Path(path_type=Path),
        help="SAM build dir (default: .aws-sam/build under the current directory, as SAM).",
    )(func)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="samlink")
def cli() -> None:
    """Live local libraries in AWS SAM Python functions."""


@cli.command()
@click.argument("ids", nargs=-1)
@template_option
@click.option("--dry-run", is_flag=True, help="Print the diffs; write nothing.")
@click.option("--force", is_flag=True, help="Replace build targets samlink did not write.")
@click.option(
    "--config-env",
    default="default",
    show_default=True,
    help="SAM config environment that gets mount_symlinks.",
)
def init(ids: tuple[str, ...], template: Path, dry_run: bool, force: bool, config_env: str) -> None:
    """Switch Python functions and layers to makefile builds."""
    from samlink.commands import init as command

    sys.exit(command.run(template, ids, dry_run=dry_run, force=force, config_env=config_env))


@cli.command()
@click.argument("path", type=click.Path(path_type=Path))
@template_option
@click.option("--name", help="Distribution name the project must have.")
@click.option(
    "--function",
    "functions",
    multiple=True,
    help="Link into this resource even if its requirements do not name it.",
)
def link(path: Path, template: Path, name: str | None, functions: tuple[str, ...]) -> None:
    """Use a local checkout of a library in this machine's builds."""
    from samlink.commands import link as command

    sys.exit(command.link(template, path, name=name, functions=functions))


@cli.command()
@click.argument("names", nargs=-1)
@template_option
@click.option("--all", "all_links", is_flag=True, help="Remove every link.")
def unlink(names: tuple[str, ...], template: Path, all_links: bool) -> None:
    """Go back to the pinned versions."""
    from samlink.commands import link as command

    sys.exit(command.unlink(template, names, all_links=all_links))


@cli.command()
@template_option
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@build_dir_option
def status(template: Path, as_json: bool, build_dir: Path | None) -> None:
    """Show links, what they reach, and what is stale or broken."""
    from samlink.commands import status as command

    sys.exit(command.run(template, as_json=as_json, build_dir=build_dir))


@cli.command()
@click.argument("resource_id", metavar="ID")
@click.option(
    "-t",
    "--template",
    type=click.Path(path_type=Path),
    help="Template; relative to the Makefile when --makefile is given.",
)
@click.option(
    "--makefile",
    "makefile_list",
    metavar="MAKEFILE_LIST",
    hidden=True,
    help="$(MAKEFILE_LIST) of the generated target.",
)
@click.option(
    "--root-template",
    type=click.Path(path_type=Path),
    hidden=True,
    help="The root template of a nested application's target (relative like --template).",
)
@click.option(
    "--release",
    is_flag=True,
    envvar="SAMLINK_RELEASE",
    help="Real files only, links ignored (also SAMLINK_RELEASE=1).",
)
@click.option(
    "--allow-local",
    is_flag=True,
    envvar="SAMLINK_ALLOW_LOCAL",
    help="Release: vendor local-path requirements (also SAMLINK_ALLOW_LOCAL=1).",
)
@click.option(
    "--installer",
    type=click.Choice(["uv", "pip"]),
    envvar="SAMLINK_INSTALLER",
    help="Installer (default uv; also SAMLINK_INSTALLER).",
)
@click.option(
    "--refresh",
    is_flag=True,
    envvar="SAMLINK_REFRESH",
    help="Reinstall even if the store has the dependencies (also SAMLINK_REFRESH=1).",
)
def build(
    resource_id: str,
    template: Path | None,
    makefile_list: str | None,
    root_template: Path | None,
    release: bool,
    allow_local: bool,
    installer: str | None,
    refresh: bool,
) -> None:
    """Fill $ARTIFACTS_DIR for one resource (the body of a build-<ID> make target)."""
    from samlink.build.assemble import Options
    from samlink.commands import build as command

    options = Options(
        release=release, allow_local=allow_local, installer=installer, refresh=refresh
    )
    sys.exit(
        command.run(
            resource_id,
            template=template,
            makefile_list=makefile_list,
            options=options,
            root_template=root_template,
        )
    )


@cli.group()
def cache() -> None:
    """The shared dependency store (SAMLINK_CACHE_DIR)."""


@cache.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the entries as JSON.")
def cache_list(as_json: bool) -> None:
    """Show every store entry: target, requirements, size, last use."""
    from samlink.commands import cache as command

    sys.exit(command.list_entries(as_json=as_json))


@cache.command("prune")
@click.option(
    "--older-than",
    "days",
    type=click.FloatRange(min=0),
    default=30,
    show_default=True,
    metavar="DAYS",
    help="Remove entries no build used for this many days.",
)
@click.option("--json", "as_json", is_flag=True, help="Print what was removed as JSON.")
def cache_prune(days: float, as_json: bool) -> None:
    """Remove entries not used lately, and leftovers of killed builds."""
    from samlink.commands import cache as command

    sys.exit(command.prune(days, as_json=as_json))


@cache.command("clear")
def cache_clear() -> None:
    """Remove every entry; the next build installs again."""
    from samlink.commands import cache as command

    sys.exit(command.clear())


@cache.command("verify")
@click.option("--fix", is_flag=True, help="Remove damaged entries (the next build reinstalls).")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def cache_verify(fix: bool, as_json: bool) -> None:
    """Check every stored file against its sha256; exit 1 if any entry is damaged."""
    from samlink.commands import cache as command

    sys.exit(command.verify(fix=fix, as_json=as_json))


@cli.command()
@click.argument("function_id", metavar="ID")
@template_option
@click.option("-e", "--event", help="Event JSON file, or - for standard input (default: {}).")
@click.option("--env-vars", type=click.Path(path_type=Path), help="Environment overrides (JSON).")
@click.option("--parameter-overrides", multiple=True, help="Key=Value template parameters.")
@click.option(
    "--docker/--no-docker",
    default=None,
    help="Use sam local invoke (default: when a container engine answers).",
)
@click.option("--no-build", is_flag=True, help="Do not rebuild a stale build dir first.")
@build_dir_option
# Handed on to `sam local invoke` (each implies --docker), as are the project's SAM config's
# local_invoke settings.
@click.option("--config-file", type=click.Path(path_type=Path), help="SAM config file (docker).")
@click.option("--config-env", help="SAM config environment (docker; default: default).")
@click.option("--skip-pull-image", is_flag=True, help="Use the local image (docker).")
@click.option("--docker-network", help="Docker network for the container (docker).")
@click.option(
    "--container-env-vars", type=click.Path(path_type=Path), help="Container env JSON (docker)."
)
@click.option("--add-host", multiple=True, help="HOST:IP for the container (docker).")
@click.option("--invoke-image", multiple=True, help="[ID=]IMAGE to run it in (docker).")
@click.option("--debug-port", type=int, multiple=True, help="Debugger port (docker).")
def invoke(
    function_id: str,
    template: Path,
    event: str | None,
    env_vars: Path | None,
    parameter_overrides: tuple[str, ...],
    docker: bool | None,
    no_build: bool,
    build_dir: Path | None,
    config_file: Path | None,
    config_env: str | None,
    skip_pull_image: bool,
    docker_network: str | None,
    container_env_vars: Path | None,
    add_host: tuple[str, ...],
    invoke_image: tuple[str, ...],
    debug_port: tuple[int, ...],
) -> None:
    """Run a built function as Lambda lays it out; the result JSON goes to stdout."""
    from samlink.commands import invoke as command
    from samlink.runtime.docker import ContainerOptions

    container = ContainerOptions(
        config_file=config_file,
        config_env=config_env,
        skip_pull_image=skip_pull_image,
        docker_network=docker_network,
        container_env_vars=container_env_vars,
        add_host=add_host,
        invoke_image=invoke_image,
        debug_port=debug_port,
    )

    sys.exit(
        command.run(
            template,
            function_id,
            event=event,
            env_vars=env_vars,
            parameter_overrides=parameter_overrides,
            docker=docker,
            no_build=no_build,
            build_dir=build_dir,
            container=container,
        )
    )


def server_options(default_port: int, port_help: str) -> Callable[[F], F]:
    """The options `start-lambda` and `start-api` share (SAM's local_start_* ones)."""

    def apply(func: F) -> F:
        for option in reversed(
            [
                template_option,
                click.option(
                    "--host", default="127.0.0.1", show_default=True, help="Address to listen on."
                ),
                click.option(
                    "--port",
                    "-p",
                    type=int,
                    default=default_port,
                    show_default=True,
                    help=port_help,
                ),
                click.option(
                    "--env-vars",
                    type=click.Path(path_type=Path),
                    help="Environment overrides (JSON).",
                ),
                click.option(
                    "--parameter-overrides", multiple=True, help="Key=Value template parameters."
                ),
                click.option(
                    "--no-build", is_flag=True, help="Do not rebuild stale functions first."
                ),
                click.option(
                    "--max-concurrency",
                    type=click.IntRange(min=1),
                    default=4,
                    show_default=True,
                    help="Warm environments per function (ReservedConcurrentExecutions caps it).",
                ),
                click.option(
                    "--debug-port",
                    "-d",
                    type=click.IntRange(min=1, max=65535),
                    help="Run functions under debugpy listening here (waits for the client).",
                ),
                build_dir_option,
            ]
        ):
            func = option(func)
        return func

    return apply


def typed_on_command_line(ctx: click.Context) -> frozenset[str]:
    """The options the user typed (they win over the SAM config's settings, as in SAM)."""
    from click.core import ParameterSource

    typed = ParameterSource.COMMANDLINE
    return frozenset(name for name in ctx.params if ctx.get_parameter_source(name) is typed)


@cli.command("start-lambda")
@server_options(3001, "Port to serve.")
@click.pass_context
def start_lambda(ctx: click.Context, /, template: Path, **options: Any) -> None:
    """The Lambda Invoke API (boto3 endpoint_url) over warm, live environments."""
    from samlink.commands import start_lambda as command

    sys.exit(command.run(template, **options, given=typed_on_command_line(ctx)))


@cli.command()
@template_option
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@build_dir_option
@click.option(
    "--sources-only",
    "--no-build",
    "sources_only",
    is_flag=True,
    help="Check sources only (pre-commit): no build dir is read or needed.",
)
@click.option(
    "--allow-local",
    is_flag=True,
    envvar="SAMLINK_ALLOW_LOCAL",
    help="Local-path requirements are vendored on purpose: warn only (also SAMLINK_ALLOW_LOCAL=1).",
)
def check(
    template: Path, as_json: bool, build_dir: Path | None, sources_only: bool, allow_local: bool
) -> None:
    """Fail (exit 1) when a deploy would ship this machine's dev state."""
    from samlink.commands import check as command

    sys.exit(
        command.run(
            template,
            as_json=as_json,
            build_dir=build_dir,
            sources_only=sources_only,
            allow_local=allow_local,
        )
    )


@cli.command()
@template_option
@click.option("--json", "as_json", is_flag=True, help="Print the diagnosis as JSON.")
@build_dir_option
def doctor(template: Path, as_json: bool, build_dir: Path | None) -> None:
    """Diagnose this machine and project: each check ok, warn or fail, with its fix."""
    from samlink.commands import doctor as command

    sys.exit(command.run(template, as_json=as_json, build_dir=build_dir))


@cli.command(context_settings={"ignore_unknown_options": True})
@template_option
@click.option("--stack-name", help="Stack to sync (else SAM reads it from samconfig).")
@click.option(
    "--dependency-layer/--no-dependency-layer",
    default=False,
    show_default=True,
    help="SAM's auto dependency layer (empty for makefile builds, so off by default).",
)
@click.argument("sam_args", nargs=-1, type=click.UNPROCESSED, metavar="[SAM SYNC OPTIONS]...")
def sync(
    template: Path, stack_name: str | None, dependency_layer: bool, sam_args: tuple[str, ...]
) -> None:
    """`sam sync --watch`, plus edits to linked libraries outside each CodeUri."""
    from samlink.commands import sync as command

    sys.exit(
        command.run(template, sam_args, stack_name=stack_name, dependency_layer=dependency_layer)
    )


@cli.command(context_settings={"ignore_unknown_options": True})
@template_option
@click.option(
    "-b",
    "--build-dir",
    type=click.Path(path_type=Path),
    help="SAM's build dir (default: .aws-sam/build under the current directory, as SAM).",
)
@click.argument(
    "sam_build_args", nargs=-1, type=click.UNPROCESSED, metavar="[SAM BUILD OPTIONS]..."
)
def watch(template: Path, build_dir: Path | None, sam_build_args: tuple[str, ...]) -> None:
    """Keep local build dirs fresh as requirements, links and the template change."""
    from samlink.commands import watch as command

    sys.exit(command.run(template, build_dir=build_dir, sam_build_args=sam_build_args))


@cli.command("start-api")
@server_options(3000, "Port of the APIs.")
@click.option(
    "--function-url-port",
    type=click.IntRange(min=1, max=65535),
    help="First port for function URLs, one each, consecutive (default: free ports).",
)
@click.pass_context
def start_api(ctx: click.Context, /, template: Path, **options: Any) -> None:
    """Local API Gateway (REST, HTTP API) and function URLs over warm, live environments."""
    from samlink.commands import start_api as command

    sys.exit(command.run(template, **options, given=typed_on_command_line(ctx)))


def main() -> None:
    """Entry point: user mistakes are one line and exit 2; our own bugs leave a traceback file."""
    try:
        cli.main(standalone_mode=False)
    except UsageError as exc:
        hint = f" (hint: {exc.hint})" if exc.hint else ""
        message = " ".join(f"{exc.message}{hint}".splitlines())  # one line, always
        click.echo(f"samlink: error: {message}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("samlink: interrupted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2 if isinstance(exc, click.UsageError) else exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("samlink: interrupted", err=True)
        sys.exit(130)
    except OSError as exc:
        # The last resort for the file system saying no (full, read-only, a loop) where no
        # command said it more precisely: one line, and the traceback kept for a bug report.
        from samlink.errors import os_error

        log = _save_traceback()
        error = os_error(exc, "samlink could not go on")
        click.echo(
            f"samlink: error: {error.message} (hint: {error.hint}; details in {log})", err=True
        )
        sys.exit(2)
    except Exception:
        fd, log = tempfile.mkstemp(prefix="samlink-crash-", suffix=".log")
        with os.fdopen(fd, "w") as f:
            traceback.print_exc(file=f)
        click.echo(f"samlink: internal error (a bug in samlink); traceback in {log}", err=True)
        traceback.print_exc(limit=-1)
        sys.exit(3)


def _save_traceback() -> str:
    fd, log = tempfile.mkstemp(prefix="samlink-error-", suffix=".log")
    with os.fdopen(fd, "w") as f:
        traceback.print_exc(file=f)
    return log
