"""`samlink invoke`: run a built function as Lambda lays it out, with or without Docker."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import click

from samlink.build import location, rebuild
from samlink.errors import UsageError
from samlink.model import samconfig
from samlink.model.template import load_template
from samlink.runtime import report
from samlink.runtime.docker import ContainerOptions, emulation_hint, emulation_missing


def run(
    template_path: Path,
    function_id: str,
    *,
    event: str | None,
    env_vars: Path | None,
    parameter_overrides: tuple[str, ...],
    docker: bool | None,
    no_build: bool,
    build_dir: Path | None = None,
    container: ContainerOptions | None = None,
) -> int:
    """Invoke once; the exit code (0 ok, 1 function error, init error or timeout)."""
    container = container or ContainerOptions()
    if container != ContainerOptions() and docker is None:
        docker = True  # a container option says which path the user means
    elif container != ContainerOptions() and docker is False:
        raise UsageError(
            "--skip-pull-image, --docker-network, --container-env-vars, --add-host, "
            "--invoke-image, --debug-port and --config-* apply to sam local invoke only",
            "drop --no-docker, or drop the container options",
        )
    template = load_template(template_path)
    root = location.find_build_dir(build_dir, template=template_path)
    resource = template.get(function_id)
    if resource.kind != "function":
        raise UsageError(f"{function_id} is a layer", "invoke a function that uses it")
    payload = _read_event(event)
    report.check_request(payload)  # before any build: Lambda refuses it without running code
    overrides = parse_parameter_overrides(parameter_overrides)
    if env_vars is not None and not env_vars.is_file():
        raise UsageError(f"--env-vars file {env_vars} not found", "pass a JSON file")
    # Checked before any build or engine probe: bad input is refused with nothing done.
    container = _with_project_config(container, template.path.parent)

    from samlink import runtime

    use_docker = runtime.engine_available() if docker is None else docker
    if use_docker:
        cannot = emulation_missing(resource.architecture)
        if cannot and docker:
            raise UsageError(cannot, emulation_hint(resource.architecture))
        if cannot:
            click.echo(f"samlink: {cannot}: running it without Docker", err=True)
            use_docker = False
    if not no_build:
        _bring_up_to_date(template, function_id, root, docker=use_docker)
    elif not (root / function_id).is_dir():
        raise location.not_built(root, template_path, what=f"{function_id} is not built")
    if use_docker:
        runtime.check_sam_version()
        from samlink.audit.doctor import check_engine_paths

        # A VM-based engine mounts link targets outside its shared folders as empty dirs.
        for finding in check_engine_paths(template):
            if finding.status != "ok":
                click.echo(f"samlink: warning: {finding.message} (fix: {finding.fix})", err=True)
        argv = runtime.sam_local_invoke_argv(
            function_id,
            template=runtime.built_template(template.path, root),
            event=event,
            env_vars=env_vars,
            parameter_overrides=parameter_overrides,
            options=container,
        )
        with rebuild.reading(root):
            return runtime.run_sam_local_invoke(
                argv, timeout=resource.timeout, architecture=resource.architecture
            )
    # Another samlink may be swapping in a rebuild: read and run the old build or the new whole.
    with rebuild.reading(root):
        spec = runtime.spec_from_template(
            template.path,
            function_id,
            env_vars_file=env_vars,
            parameter_overrides=overrides,
            build_dir=root,
        )
        result = runtime.invoke(spec, payload)
    sys.stdout.buffer.write(result.payload + b"\n")
    sys.stdout.flush()
    return result.exit_code


def _with_project_config(options: ContainerOptions, project_dir: Path) -> ContainerOptions:
    """The options with the project's SAM config file named: SAM would look for one next to the
    built template it is given, and find none, so no `local_invoke` setting would apply."""
    found = samconfig.find_config(project_dir, options.config_file)
    if options.config_file is not None and found is None:
        raise UsageError(
            f"--config-file {options.config_file} not found",
            f"give a path relative to {project_dir} or an absolute one",
        )
    if options.container_env_vars is not None and not options.container_env_vars.is_file():
        raise UsageError(
            f"--container-env-vars file {options.container_env_vars} not found",
            "pass a JSON file",
        )
    return replace(options, config_file=found)


def _bring_up_to_date(template: object, function_id: str, root: Path, *, docker: bool) -> None:
    from samlink.model.template import Template

    assert isinstance(template, Template)
    rebuild.bring_up_to_date(template, function_id, root, lambda line: click.echo(line, err=True))


def _read_event(event: str | None) -> bytes:
    if event is None:
        return b"{}"
    if event == "-":
        data = sys.stdin.buffer.read()
        where = "standard input"
    else:
        path = Path(event)
        if not path.is_file():
            raise UsageError(f"event file {event} not found", "pass -e FILE, or -e - for stdin")
        data = path.read_bytes()
        where = event
    try:
        json.loads(data or b"null")
    except ValueError as exc:
        raise UsageError(f"event {where} is not JSON: {exc}", "pass a JSON document") from None
    return data


def parse_parameter_overrides(values: tuple[str, ...]) -> dict[str, str]:
    """SAM's two forms: `Key=Value` and `ParameterKey=Key,ParameterValue=Value`."""
    found: dict[str, str] = {}
    for value in values:
        for item in value.split():
            if item.startswith("ParameterKey="):
                key_part, _, value_part = item.partition(",ParameterValue=")
                key = key_part.removeprefix("ParameterKey=")
                if not value_part and "ParameterValue=" not in item:
                    raise UsageError(
                        f"bad parameter override {item!r}",
                        "use Key=Value or ParameterKey=K,ParameterValue=V",
                    )
                found[key] = value_part
            elif "=" in item:
                key, _, val = item.partition("=")
                found[key] = val
            else:
                raise UsageError(
                    f"bad parameter override {item!r}",
                    "use Key=Value or ParameterKey=K,ParameterValue=V",
                )
    return found
