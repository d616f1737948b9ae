"""An InvokeSpec from a SAM template and its build, with SAM's rules for variables and layers."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from samlink.build import location
from samlink.errors import UsageError
from samlink.model.template import Template, load_template, resolve_value, stack_parameters
from samlink.runtime import remote_layers
from samlink.runtime.environment import default_region, environment_for
from samlink.runtime.invoke import InvokeSpec


def spec_from_template(
    template_path: Path,
    function_id: str,
    *,
    env_vars_file: Path | None = None,
    parameter_overrides: Mapping[str, str] | None = None,
    build_dir: Path | None = None,
    region: str | None = None,
) -> InvokeSpec:
    """The built function `function_id` of the template, ready for `invoke`.

    `build_dir` defaults to where `sam build` writes: the SAM config's `build_dir`, else
    `.aws-sam/build` under the current directory (`samlink.build.location.find_build_dir`).
    """
    template = load_template(template_path)
    resource = template.get(function_id)
    if resource.kind != "function":
        raise UsageError(
            f"{function_id} is a layer; invoke one of its functions",
            "functions here: " + ", ".join(_functions(template)),
        )
    if resource.handler is None or resource.runtime is None:
        raise UsageError(
            f"{function_id} has no Handler or Runtime samlink can run",
            resource.reason or "samlink invoke runs Zip functions on python3.x",
        )
    builds = build_dir if build_dir is not None else location.find_build_dir(template=template.path)
    chosen_region = region or default_region()
    # A nested application's function sees its own template's parameters: its defaults and
    # what its parents pass down (SAM's nested stacks); --parameter-overrides apply to the root.
    parameters = stack_parameters(template, resource.stack, parameter_overrides)

    def resolve(value: object, params: Mapping[str, str]) -> object:
        return resolve_value(value, params, region=chosen_region)

    layer_dirs: list[Path] = []
    for layer in resource.layers:
        if layer in template.resources:
            layer_dirs.append(builds / layer)
        else:
            # A published layer, from SAM's layer cache (downloaded there first if missing).
            layer_dirs.append(remote_layers.fetch(layer))
    return InvokeSpec(
        function_name=function_id,
        code_dir=builds / function_id,
        layer_dirs=tuple(layer_dirs),
        handler=resource.handler,
        runtime=resource.runtime,
        architecture=resource.architecture,
        environment=environment_for(
            resource.environment, function_id, env_vars_file, parameters, resolve
        ),
        timeout=resource.timeout,
        memory_size=resource.memory_size,
        region=chosen_region,
    )


def _functions(template: Template) -> list[str]:
    return [r.logical_id for r in template.resources.values() if r.kind == "function"]
