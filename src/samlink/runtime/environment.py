"""What a function's environment holds: its variables by SAM's rules, plus Lambda's and SAM's."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path

from samlink.errors import UsageError

# SAM's stand-ins when no credentials are configured.
_DEFAULT_KEY = "defaultkey"
_DEFAULT_SECRET = "defaultsecret"
ACCOUNT_ID = "123456789012"


def environment_for(
    template_env: Mapping[str, object],
    function_id: str,
    env_vars_file: Path | None,
    parameters: Mapping[str, str],
    resolve: Callable[[object, Mapping[str, str]], object],
    *,
    shell: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The function's variables as `sam local invoke` resolves them.

    Only variables the template declares reach the function. Each starts from the template value
    (with `!Ref`s to parameters resolved), is replaced by a same-named variable of the shell, then
    by the `--env-vars` file: its "Parameters" object for every function, then the function's own.
    Values that stay intrinsic functions become "" (SAM's rule).
    """
    overrides = _file_overrides(env_vars_file, function_id)
    shell_env = os.environ if shell is None else shell
    result: dict[str, str] = {}
    for name, value in template_env.items():
        chosen: object = resolve(value, parameters)
        if name in shell_env:
            chosen = shell_env[name]
        if name in overrides:
            chosen = overrides[name]
        result[name] = stringify(chosen)
    return result


def stringify(value: object) -> str:
    """A value as Lambda gets it: booleans as true/false, unresolved intrinsics and null as ""."""
    if value is None or isinstance(value, (dict, list, tuple)):
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


def _file_overrides(env_vars_file: Path | None, function_id: str) -> dict[str, object]:
    if env_vars_file is None:
        return {}
    hint = 'the file is JSON: {"Parameters": {"NAME": "value"}, "<FunctionId>": {"NAME": "value"}}'
    try:
        data = json.loads(env_vars_file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(
            f"cannot read --env-vars file {env_vars_file}: {exc.strerror}", hint
        ) from exc
    except ValueError as exc:
        raise UsageError(f"--env-vars file {env_vars_file} is not valid JSON: {exc}", hint) from exc
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise UsageError(f"--env-vars file {env_vars_file} must map names to objects", hint)
    overrides: dict[str, object] = {}
    overrides.update(data.get("Parameters") or {})
    # As SAM: a nested function's own logical ID first, then its full ID (App/Child/Fn).
    overrides.update(data.get(function_id.rsplit("/", 1)[-1]) or data.get(function_id) or {})
    return overrides


def default_region(environ: Mapping[str, str] | None = None) -> str:
    """The region SAM would use: AWS_REGION, AWS_DEFAULT_REGION, else us-east-1."""
    env = os.environ if environ is None else environ
    return env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"


def sam_variables(
    *,
    function_name: str,
    handler: str,
    memory_size: int,
    timeout: int,
    region: str,
    environ: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """What `sam local invoke` adds for every function: configuration, region and credentials."""
    env = os.environ if environ is None else environ
    result = {
        "AWS_SAM_LOCAL": "true",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_size),
        "AWS_LAMBDA_FUNCTION_TIMEOUT": str(timeout),
        "AWS_LAMBDA_FUNCTION_HANDLER": handler,
        "AWS_LAMBDA_FUNCTION_NAME": function_name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"aws/lambda/{function_name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "$LATEST",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_ACCESS_KEY_ID": env.get("AWS_ACCESS_KEY_ID") or _DEFAULT_KEY,
        "AWS_SECRET_ACCESS_KEY": env.get("AWS_SECRET_ACCESS_KEY") or _DEFAULT_SECRET,
        "AWS_ACCOUNT_ID": ACCOUNT_ID,
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
    }
    if env.get("AWS_SESSION_TOKEN"):
        result["AWS_SESSION_TOKEN"] = env["AWS_SESSION_TOKEN"]
    return result


def runtime_variables(
    *,
    runtime: str,
    handler: str,
    api_address: str,
    task_root: str,
    runtime_dir: str,
    opt: str | None,
    interpreter_bin: str,
) -> dict[str, str]:
    """What the managed Python runtime sets before it starts: paths, locale, time zone, the API."""
    lib_dirs = [
        "/lib64",
        "/usr/lib64",
        runtime_dir,
        f"{runtime_dir}/lib",
        task_root,
        f"{task_root}/lib",
    ]
    bin_dirs = [interpreter_bin, "/usr/local/bin", "/usr/bin/", "/bin"]
    if opt is not None:
        lib_dirs.append(f"{opt}/lib")
        bin_dirs.append(f"{opt}/bin")
    return {
        "PATH": ":".join(bin_dirs),
        "LD_LIBRARY_PATH": ":".join(lib_dirs),
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "LAMBDA_TASK_ROOT": task_root,
        "LAMBDA_RUNTIME_DIR": runtime_dir,
        "_HANDLER": handler,
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{runtime}",
        "AWS_LAMBDA_RUNTIME_API": api_address,
    }
