"""Turn on `mount_symlinks` for `sam local invoke` in the one SAM config file SAM reads."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import tomlkit
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from tomlkit.exceptions import ParseError, TOMLKitError

from samlink.errors import UsageError

# SAM looks for these in this order and reads only the first that exists
# (samcli.lib.config.samconfig.SamConfig.get_default_file, FILE_MANAGER_MAPPER's order).
CONFIG_NAMES = ("samconfig.toml", "samconfig.yaml", "samconfig.yml")
DEFAULT_ENV = "default"
CONFIG_VERSION = 0.1  # SAM refuses a config file without `version`

_COMMAND = "local_invoke"
_SECTION = "parameters"
_KEY = "mount_symlinks"


def find_config(project_dir: Path, config_file: Path | None = None) -> Path | None:
    """The existing config file SAM would read for the project in `project_dir`, or None."""
    if config_file is not None:
        # SAM reads a relative --config-file from the template's folder.
        path = config_file if config_file.is_absolute() else project_dir / config_file
        return path if path.is_file() else None
    for name in CONFIG_NAMES:
        if (project_dir / name).is_file():
            return project_dir / name
    return None


def enable_mount_symlinks(
    project_dir: Path, config_env: str = DEFAULT_ENV, config_file: Path | None = None
) -> tuple[Path, str, str]:
    """(the config file, old text or "", new text) with mount_symlinks on for local invoke."""
    path = find_config(project_dir, config_file)
    old = ""
    if path is not None:
        try:
            with open(path, encoding="utf-8", newline="") as f:
                old = f.read()
        except UnicodeDecodeError as err:
            raise UsageError(f"{path}: not UTF-8 text ({err.reason})", "save it as UTF-8") from None
        except OSError as err:
            raise UsageError(
                f"{path}: cannot read it ({err.strerror})", "make the SAM config file readable"
            ) from None
    elif config_file is not None:
        path = config_file if config_file.is_absolute() else project_dir / config_file
    else:
        # Only when there is no config at all: a new toml file would hide a yaml one.
        path = project_dir / CONFIG_NAMES[0]
    suffix = path.suffix.lower()
    if suffix == ".toml":
        return path, old, _enable_toml(path, old, config_env)
    if suffix in (".yaml", ".yml"):
        return path, old, _enable_yaml(path, old, config_env)
    raise UsageError(
        f"{path}: SAM reads config files ending in .toml, .yaml or .yml",
        "pass a samconfig.toml or samconfig.yaml with --config-file",
    )


def _by_hand(path: Path, env: str, why: str) -> UsageError:
    return UsageError(
        f"{path}: cannot turn on {_KEY} ({why})",
        f"add `{_KEY} = true` under [{env}.{_COMMAND}.{_SECTION}] by hand, then run again",
    )


def _eol(text: str) -> str:
    first = text.find("\n")
    return "\r\n" if first > 0 and text[first - 1] == "\r" else "\n"


def _expected(old: Mapping[str, Any], env: str) -> dict[str, Any]:
    """The old settings as plain data, plus the version and the one key samlink sets."""
    expected = json.loads(json.dumps(old, default=str))
    expected.setdefault("version", CONFIG_VERSION)
    section = expected.setdefault(env, {}).setdefault(_COMMAND, {}).setdefault(_SECTION, {})
    section[_KEY] = True
    return dict(expected)


def _section(doc: Mapping[str, Any], path: Path, env: str) -> Any:
    """The [env.local_invoke.parameters] mapping, None when missing; a non-mapping fails."""
    node: Any = doc
    for name in (env, _COMMAND, _SECTION):
        node = node.get(name)
        if node is None:
            return None
        if not isinstance(node, Mapping):
            raise _by_hand(path, env, f"{name} is not a table")
    return node


# --- TOML ----------------------------------------------------------------------------------------


def _enable_toml(path: Path, old: str, env: str) -> str:
    try:
        doc = tomlkit.parse(old)
    except ParseError as err:
        raise UsageError(
            f"{path}:{err.line}: {str(err).split(' at line ')[0]}", "fix the TOML"
        ) from None
    except TOMLKitError as err:
        # A key given twice is no ParseError and tomlkit says no line; SAM's reader refuses it.
        raise UsageError(f"{path}: {err}", "fix the TOML: each key once per table") from None
    before = doc.unwrap()
    section = _section(doc, path, env)
    if section is not None and section.get(_KEY) is True and "version" in doc:
        return old
    eol = _eol(old)
    if section is None:
        new = _append_lines(old, [f"[{_toml_key(env)}.{_COMMAND}.{_SECTION}]", f"{_KEY} = true"])
    else:
        section[_KEY] = True
        new = tomlkit.dumps(doc)
        if eol == "\r\n" and not re.search(r"(?<!\r)\n", old):
            new = re.sub(r"(?<!\r)\n", "\r\n", new)  # tomlkit writes its own lines with \n
    if "version" not in doc:
        new = f"version = {CONFIG_VERSION}{eol}" + (eol if new.strip() else "") + new
    try:
        actual = tomlkit.parse(new).unwrap()
    except TOMLKitError as err:
        raise _by_hand(path, env, f"the result would not parse: {err}") from None
    if actual != _expected(before, env):
        raise _by_hand(path, env, "the result would change other settings")
    return new


def _toml_key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else json.dumps(name)


def _append_lines(old: str, lines: list[str]) -> str:
    eol = _eol(old)
    text = old
    if text and not text.endswith("\n"):
        text += eol
    if text.strip() and not text.endswith(eol + eol):
        text += eol  # a blank line before the new table
    return text + eol.join(lines) + eol


# --- YAML ----------------------------------------------------------------------------------------


def _enable_yaml(path: Path, old: str, env: str) -> str:
    try:
        yaml = _round_trip_yaml(*_yaml_indents(old), _eol(old))
        doc = yaml.load(old) if old.strip() else None
    except MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark is not None else 0
        raise UsageError(
            f"{path}:{line}: {err.problem or 'invalid YAML'}", "fix the YAML"
        ) from None
    except YAMLError as err:
        raise UsageError(f"{path}: {str(err).splitlines()[0]}", "fix the YAML") from None
    if doc is None:
        doc = CommentedMap()
    if not isinstance(doc, CommentedMap):
        raise _by_hand(path, env, "it is not a mapping")
    before = _plain(doc)
    section = _section(doc, path, env)
    if section is not None and section.get(_KEY) is True and "version" in doc:
        return old
    if section is None:
        node: CommentedMap = doc
        for name in (env, _COMMAND, _SECTION):
            if node.get(name) is None:
                node[name] = CommentedMap()
            node = node[name]
        section = node
    section[_KEY] = True
    if "version" not in doc:
        doc.insert(0, "version", CONFIG_VERSION)
    out = io.StringIO()
    yaml.dump(doc, out)
    new = out.getvalue()
    if old.startswith("---") and not new.startswith("---"):
        new = "---" + _eol(old) + new
    try:
        actual = _plain(YAML(typ="safe").load(new))
    except YAMLError as err:
        raise _by_hand(path, env, f"the result would not parse: {err}") from None
    if actual != _expected(before, env):
        raise _by_hand(path, env, "the result would change other settings")
    return new


def _yaml_indents(text: str) -> tuple[int, int, int]:
    """(mapping indent, sequence indent, dash offset) as the file writes them; SAM's by default."""
    mapping, offset = 0, -1
    previous: tuple[int, str] | None = None
    for line in text.splitlines():
        content = line.split(" #", 1)[0].rstrip()
        if not content.strip() or content.lstrip().startswith("#"):
            continue
        column = len(content) - len(content.lstrip(" "))
        if previous is not None and previous[1].endswith(":") and column > previous[0]:
            if content.lstrip().startswith("- "):
                offset = column - previous[0] if offset < 0 else offset
            elif not mapping:
                mapping = column - previous[0]
        previous = (column, content)
    mapping = mapping or 2
    offset = max(offset, 0)
    return mapping, offset + 2, offset


def _round_trip_yaml(mapping: int, sequence: int, offset: int, eol: str) -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap a long line
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    yaml.line_break = eol  # type: ignore[assignment]  # ruamel declares it None
    return yaml


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


# --- reading a command's settings ----------------------------------------------------------------


def command_settings(
    project_dir: Path, command: str, config_env: str = DEFAULT_ENV
) -> dict[str, object]:
    """The settings SAM applies to `command` (e.g. `local_start_api`) from the config file it
    reads: `[env.global.parameters]`, then `[env.<command>.parameters]` over it."""
    path = find_config(project_dir)
    if path is None:
        return {}
    try:
        text = path.read_text(encoding="utf-8")
        if path.suffix.lower() == ".toml":
            doc: Any = tomlkit.parse(text).unwrap()
        else:
            doc = YAML(typ="safe").load(text) or {}
    except (OSError, UnicodeDecodeError, TOMLKitError, YAMLError) as err:
        raise UsageError(
            f"{path}: cannot read it ({str(err).splitlines()[0]})", "fix the SAM config file"
        ) from None
    settings: dict[str, object] = {}
    env = doc.get(config_env) if isinstance(doc, dict) else None
    for name in ("global", command):
        section = env.get(name) if isinstance(env, dict) else None
        parameters = section.get(_SECTION) if isinstance(section, dict) else None
        if isinstance(parameters, dict):
            settings.update({str(k): v for k, v in parameters.items()})
    return settings


@dataclass(frozen=True)
class ServerOptions:
    """The options `start-api` and `start-lambda` share with SAM's config sections."""

    host: str
    port: int
    env_vars: Path | None
    parameter_overrides: tuple[str, ...]
    debug_port: int | None


def server_options(
    project_dir: Path, command: str, typed: ServerOptions, given: frozenset[str]
) -> ServerOptions:
    """`typed` with the SAM config's `command` settings (e.g. `local_start_lambda`) applied as SAM
    applies them: an option typed on the command line (named in `given`) wins."""
    settings = command_settings(project_dir, command)
    changes: dict[str, Any] = {}
    for key, value in settings.items():
        if key in given:
            continue
        if key == "host":
            changes[key] = str(value)
        elif key in ("port", "debug_port"):
            changes[key] = _int_setting(command, key, value)
        elif key == "env_vars":
            changes[key] = Path(str(value))
        elif key == "parameter_overrides":
            items = value if isinstance(value, list) else [value]
            changes[key] = tuple(str(v) for v in items)
    chosen = replace(typed, **changes)
    if chosen.env_vars is not None and not chosen.env_vars.is_file():
        raise UsageError(f"--env-vars file {chosen.env_vars} not found", "pass a JSON file")
    return chosen


def _int_setting(command: str, key: str, value: object) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise UsageError(
            f"SAM config: {command} {key} = {value!r} is not a number", "fix samconfig"
        ) from None
