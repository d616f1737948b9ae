"""The SAM / CloudFormation template model, and the round-trip edit to makefile builds."""

from __future__ import annotations

import copy
import dataclasses
import datetime
import difflib
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.scalarbool import ScalarBoolean

from samlink.errors import UsageError

SERVERLESS_FUNCTION = "AWS::Serverless::Function"
LAMBDA_FUNCTION = "AWS::Lambda::Function"
SERVERLESS_LAYER = "AWS::Serverless::LayerVersion"
LAMBDA_LAYER = "AWS::Lambda::LayerVersion"
SERVERLESS_APPLICATION = "AWS::Serverless::Application"
CLOUDFORMATION_STACK = "AWS::CloudFormation::Stack"
# Why a nested application is not managed (said once, never an error).
REMOTE_REASON = (
    "a nested application whose template is not local "
    "(S3, a URL, the Serverless Application Repository)"
)
FUNCTION_TYPES = (SERVERLESS_FUNCTION, LAMBDA_FUNCTION)
LAYER_TYPES = (SERVERLESS_LAYER, LAMBDA_LAYER)
SUPPORTED_RUNTIMES = tuple(f"python3.{minor}" for minor in range(9, 15))
ARCHITECTURES = ("x86_64", "arm64")

DEFAULT_TIMEOUT = 3
DEFAULT_MEMORY_SIZE = 128

# What SAM's Globals plugin copies from Globals.Function that matters here.
_GLOBAL_FUNCTION_KEYS = (
    "Runtime",
    "CodeUri",
    "Architectures",
    "Handler",
    "Layers",
    "Environment",
    "Timeout",
    "MemorySize",
)

# Values `sam local` uses for pseudo parameters (samcli IntrinsicsSymbolTable).
_ACCOUNT_ID = "123456789012"
_STACK_NAME = "local"


@dataclass(frozen=True)
class Resource:
    """One function or layer of a template, with Globals applied and values resolved."""

    logical_id: str
    type: str
    kind: str  # "function" | "layer"
    code_dir: Path | None
    runtime: str | None
    architecture: str
    handler: str | None
    layers: tuple[str, ...]
    environment: dict[str, object] = field(hash=False)
    timeout: int
    memory_size: int
    build_method: str | None
    managed: bool
    reason: str
    line: int | None
    # The nested application that holds it ("" for the root template, "App/Child" two levels
    # down); `logical_id` is the full ID SAM shows and accepts ("App/Child/Fn").
    stack: str = ""
    template_path: Path | None = None  # the template that defines it (the root's or a child's)

    @property
    def local_id(self) -> str:
        """The logical ID inside its own template (the make target's `build-<ID>`)."""
        return self.logical_id.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Stack:
    """One template of a project: the root ("") or a nested application with a local template."""

    path: str  # "" | "App" | "App/Child"
    template_path: Path  # absolute
    # Its Parameters defaults, overridden by what the parent passes (resolved with the parent's).
    parameters: dict[str, str | None] = field(hash=False)
    document: dict[str, Any] = field(hash=False, compare=False, repr=False)
    given: dict[str, Any] = field(hash=False, compare=False, repr=False)  # the parent's Parameters


@dataclass(frozen=True)
class Template:
    """A parsed template: its functions and layers in template order, and parameter defaults."""

    path: Path
    format: str  # "yaml" | "json"
    resources: dict[str, Resource] = field(hash=False)
    parameters: dict[str, str | None] = field(hash=False)
    # The whole template as plain data (intrinsics in long form), for readers of other resource
    # types (APIs, function URLs); Globals are not applied here.
    document: dict[str, Any] = field(default_factory=dict, hash=False, compare=False, repr=False)
    # Every template of the project by stack path, the root's as "" (SAM's nested applications
    # and AWS::CloudFormation::Stack resources with a local template, any depth).
    stacks: dict[str, Stack] = field(default_factory=dict, hash=False, compare=False, repr=False)
    # Full IDs of nested applications whose template is not local (S3, the Serverless
    # Application Repository): not managed, never an error.
    remote: tuple[str, ...] = ()

    def managed(self) -> list[Resource]:
        """The resources samlink builds, in template order."""
        return [r for r in self.resources.values() if r.managed]

    def get(self, logical_id: str) -> Resource:
        """The function or layer `logical_id`, or a UsageError naming the known ones."""
        try:
            return self.resources[logical_id]
        except KeyError:
            pass
        known = list(self.resources)
        nested = [r.logical_id for r in self.resources.values() if r.local_id == logical_id]
        close = nested[:1] or difflib.get_close_matches(logical_id, known, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        if known:
            hint += "functions and layers here: " + ", ".join(known)
        else:
            hint += f"{self.path.name} defines no Lambda functions or layers"
        raise UsageError(f"{self.path.name}: no function or layer named {logical_id!r}", hint)

    def select(self, ids: Sequence[str]) -> list[Resource]:
        """The named resources (all managed ones when `ids` is empty); unmanaged names fail."""
        if not ids:
            return self.managed()
        chosen: list[Resource] = []
        for logical_id in dict.fromkeys(ids):
            resource = self.get(logical_id)
            if not resource.managed:
                managed = ", ".join(r.logical_id for r in self.managed()) or "none"
                raise UsageError(
                    f"{logical_id} is not a {resource.kind} samlink can build: {resource.reason}",
                    "samlink handles Zip functions and layers on python3.9-python3.14 with local "
                    f"code; leave it out (managed here: {managed})",
                )
            chosen.append(resource)
        return chosen


def load_template(path: Path) -> Template:
    """Parse a SAM or CloudFormation template (YAML or JSON) into the model.

    Nested applications with a local template are walked as SAM walks them (any depth): their
    functions and layers join `resources` under their full IDs ("App/Child/Fn").
    """
    parsed = _parse_file(path)
    root = _build(parsed)
    if not _nested(parsed.doc):
        return root
    return _walk(root, parsed, only=None)


def load_stack(path: Path, stack: str) -> Template:
    """The root template `path` walked along one stack path only ("App/Child"): the resources
    of that stack under their full IDs, read from the templates on the way and no others."""
    parsed = _parse_file(path)
    root = _build(parsed)
    if not stack:
        return root
    return _walk(root, parsed, only=stack)


def stack_parameters(
    template: Template, stack: str, overrides: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The parameter values of one stack when the root gets `overrides` (--parameter-overrides
    apply to the root; a child gets its defaults and what its parent passes, resolved)."""
    values = {k: v for k, v in template.parameters.items() if v is not None}
    values.update(overrides or {})
    path = ""
    for name in [part for part in stack.split("/") if part]:
        path = f"{path}/{name}" if path else name
        child = template.stacks[path]
        values = {
            k: v
            for k, v in _child_parameters(child.document, child.given, values).items()
            if v is not None
        }
    return values


def resolve_value(
    value: object, parameters: Mapping[str, str | None], *, region: str = "us-east-1"
) -> object:
    """Resolve Ref to parameters and pseudo parameters, simple Fn::Sub and Fn::Join.

    What cannot be resolved is returned as it was.
    """
    if isinstance(value, list):
        return [resolve_value(item, parameters, region=region) for item in value]
    if not isinstance(value, dict):
        return value
    if _is_intrinsic(value):
        resolved = _resolve_intrinsic(value, parameters, region)
        return value if resolved is _UNRESOLVED else resolved
    return {key: resolve_value(item, parameters, region=region) for key, item in value.items()}


def add_makefile_build(path: Path, ids: Sequence[str]) -> tuple[str, str]:
    """The template text before and after switching `ids` (all managed if empty) to makefile."""
    parsed = _parse_file(path)
    template = _build(parsed)
    wanted: dict[str, dict[str, str]] = {}
    # Layers whose runtime came from a `python3.X` BuildMethod: makefile would lose it, so it
    # is written down as `CompatibleRuntimes: [python3.X]`.
    runtimes: dict[str, str] = {}
    for resource in template.select(ids):
        if resource.build_method == "makefile":
            continue
        keys = {"BuildMethod": "makefile"}
        metadata = _metadata(parsed.doc, resource.logical_id)
        props = _dict(_dict(parsed.doc["Resources"][resource.logical_id]).get("Properties"))
        if resource.kind == "layer" and "CompatibleRuntimes" not in props:
            assert resource.runtime is not None  # managed: from the BuildMethod
            runtimes[resource.logical_id] = resource.runtime
        if (
            resource.kind == "layer"
            and resource.architecture == "arm64"
            and "BuildArchitecture" not in metadata
        ):
            # SAM builds makefile layers for x86_64 unless Metadata says otherwise.
            keys["BuildArchitecture"] = "arm64"
        wanted[resource.logical_id] = keys
    old = parsed.text
    if not wanted:
        return old, old
    if parsed.format == "json":
        new = _edit_json(parsed, wanted, runtimes)
    else:
        new = _edit_yaml(parsed, wanted, runtimes)
    _verify(parsed, wanted, runtimes, new)
    return old, new


# --- parsing -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Parsed:
    path: Path  # as the caller gave it, for messages
    text: str
    format: str
    doc: dict[str, Any] = field(hash=False)  # plain types, intrinsics in long form
    lines: dict[str, int] = field(hash=False)  # resource logical ID -> 1-based line


def _parse_file(path: Path) -> _Parsed:
    try:
        with open(path, encoding="utf-8", newline="") as f:
            text = f.read()
    except FileNotFoundError:
        raise UsageError(
            f"{path}: no such template",
            "pass the template with -t/--template, or run from the folder that holds it",
        ) from None
    except IsADirectoryError:
        raise UsageError(f"{path} is a folder, not a template", "pass a template file") from None
    except UnicodeDecodeError as err:
        raise UsageError(f"{path}: not UTF-8 text ({err.reason})", "save it as UTF-8") from None
    return _parse_text(path, text)


def _parse_text(path: Path, text: str) -> _Parsed:
    body = text.lstrip("\ufeff \t\r\n")
    if body.startswith("{"):
        fmt = "json"
        try:
            raw = json.loads(text.lstrip("\ufeff"))
        except json.JSONDecodeError as err:
            raise UsageError(
                f"{path}:{err.lineno}: {err.msg}", f"fix the JSON near line {err.lineno}"
            ) from None
        doc = raw
        lines = _json_lines(text, raw)
    else:
        fmt = "yaml"
        try:
            loaded = YAML(typ="rt").load(text)
        except MarkedYAMLError as err:
            mark = err.problem_mark or err.context_mark
            line = mark.line + 1 if mark is not None else 0
            problem = err.problem or err.context or "invalid YAML"
            raise UsageError(
                f"{path}:{line}: {problem}",
                f"fix the YAML near line {line} (short-form tags such as !Ref are fine)",
            ) from None
        except YAMLError as err:
            raise UsageError(f"{path}: {str(err).splitlines()[0]}", "fix the YAML") from None
        doc = _plain(loaded)
        lines = _yaml_lines(loaded)
    if not isinstance(doc, dict) or not isinstance(doc.get("Resources"), dict):
        raise UsageError(
            f"{path}: not a SAM or CloudFormation template (no Resources mapping)",
            "pass the template with -t/--template",
        )
    return _Parsed(path, text, fmt, doc, lines)


def _plain(value: Any) -> Any:
    """ruamel's round-trip objects as plain Python, short-form tags in their long form."""
    tag = getattr(getattr(value, "tag", None), "value", None)
    if isinstance(tag, str) and tag.startswith("!") and not tag.startswith("!!"):
        # As CloudFormation reads them: `!X` is `Fn::X`, except `!Ref` and `!Condition`.
        name = tag[1:]
        if _is_tagged_scalar(value):
            inner: Any = str(value.value)
        elif isinstance(value, Mapping):
            inner = {str(_plain(k)): _plain(v) for k, v in value.items()}
        else:
            inner = [_plain(item) for item in value]
        if name == "GetAtt" and isinstance(inner, str):
            return {"Fn::GetAtt": inner.split(".", 1)}
        return {name if name in ("Ref", "Condition") else f"Fn::{name}": inner}
    if _is_tagged_scalar(value):  # a standard tag such as `!!str 12`
        return str(value.value)
    if isinstance(value, ScalarBoolean | bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if value is None:
        return None
    if isinstance(value, datetime.date):
        return str(value)
    if isinstance(value, Mapping):
        return {str(_plain(k)): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(item) for item in value]
    return str(value)


def _is_tagged_scalar(value: Any) -> bool:
    return type(value).__name__ == "TaggedScalar"


def _yaml_lines(loaded: Any) -> dict[str, int]:
    resources = loaded.get("Resources") if isinstance(loaded, Mapping) else None
    lc = getattr(resources, "lc", None)
    if resources is None or lc is None:
        return {}
    lines: dict[str, int] = {}
    for key in resources:
        try:
            lines[str(key)] = int(lc.key(key)[0]) + 1
        except (KeyError, TypeError):
            continue
    return lines


def _json_lines(text: str, raw: Any) -> dict[str, int]:
    found = re.search(r'"Resources"\s*:', text)
    if not found or not isinstance(raw, dict) or not isinstance(raw.get("Resources"), dict):
        return {}
    lines: dict[str, int] = {}
    start = found.end()
    for logical_id in raw["Resources"]:
        match = re.compile(re.escape(json.dumps(logical_id)) + r"\s*:\s*\{").search(text, start)
        if match:
            lines[logical_id] = text.count("\n", 0, match.start()) + 1
    return lines


# --- the model -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Context:
    base_dir: Path
    parameters: dict[str, str | None] = field(hash=False)
    globals_function: dict[str, Any] = field(hash=False)
    layer_ids: frozenset[str]
    lines: dict[str, int] = field(hash=False)
    prefix: str = ""  # "App/" in a nested application: layer IDs are full IDs


def _build(
    parsed: _Parsed, stack: str = "", parameters: dict[str, str | None] | None = None
) -> Template:
    doc = parsed.doc
    if parameters is None:
        parameters = _defaults(doc)
    resources_doc: dict[str, Any] = doc["Resources"]
    layer_ids = frozenset(
        lid for lid, res in resources_doc.items() if _dict(res).get("Type") in LAYER_TYPES
    )
    context = _Context(
        base_dir=_base_dir(parsed.path),
        parameters=parameters,
        globals_function=_dict(_dict(doc.get("Globals")).get("Function")),
        layer_ids=layer_ids,
        lines=parsed.lines,
        prefix=f"{stack}/" if stack else "",
    )
    resources: dict[str, Resource] = {}
    template_path = Path(os.path.abspath(parsed.path))
    for logical_id, res in resources_doc.items():
        rtype = _dict(res).get("Type")
        made: Resource | None = None
        if rtype in FUNCTION_TYPES:
            made = _function(logical_id, str(rtype), _dict(res), context)
        elif rtype in LAYER_TYPES:
            made = _layer(logical_id, str(rtype), _dict(res), context)
        if made is not None:
            if stack:
                made = dataclasses.replace(made, logical_id=f"{stack}/{logical_id}", stack=stack)
            made = dataclasses.replace(made, template_path=template_path)
            resources[made.logical_id] = made
    return Template(
        path=template_path,
        format=parsed.format,
        resources=resources,
        parameters=parameters,
        document=doc,
        stacks={stack: Stack(stack, template_path, parameters, doc, {})},
    )


def _defaults(doc: dict[str, Any]) -> dict[str, str | None]:
    return {
        str(name): _parameter_default(spec) for name, spec in _dict(doc.get("Parameters")).items()
    }


# --- nested applications -------------------------------------------------------------------------


def _nested(doc: dict[str, Any]) -> bool:
    return any(
        _dict(res).get("Type") in (SERVERLESS_APPLICATION, CLOUDFORMATION_STACK)
        for res in doc["Resources"].values()
    )


def _child_parameters(
    child_doc: dict[str, Any], given: Mapping[str, Any], parent: Mapping[str, str | None]
) -> dict[str, str | None]:
    """A child's defaults, overridden by the parent's Parameters values that resolve."""
    values = _defaults(child_doc)
    for name, value in given.items():
        resolved = resolve_value(value, parent)
        if isinstance(resolved, bool):
            values[str(name)] = "true" if resolved else "false"
        elif isinstance(resolved, str | int | float):
            values[str(name)] = str(resolved)
        elif isinstance(resolved, list) and all(_is_scalar(item) for item in resolved):
            values[str(name)] = ",".join(_scalar_text(item) for item in resolved)
    return values


def _child_location(
    parsed: _Parsed, logical_id: str, res: dict[str, Any]
) -> tuple[Path | None, str]:
    """The local template of a nested application or stack (None when it is remote), and the
    Location as written (for messages). As SAM: an intrinsic or a URL is remote."""
    props = _dict(res.get("Properties"))
    key = "Location" if res.get("Type") == SERVERLESS_APPLICATION else "TemplateURL"
    value = props.get(key)
    if not isinstance(value, str) or not value or re.match(r"(s3|https?)://", value):
        return None, json.dumps(value) if not isinstance(value, str) else value
    if value.startswith("file://"):
        return Path(unquote(urlparse(value).path)), value
    return Path(os.path.normpath(_base_dir(parsed.path) / value)), value


def _walk(root: Template, parsed: _Parsed, only: str | None) -> Template:
    """Add the nested stacks below `root` (all of them, or the one stack path `only`)."""
    resources = dict(root.resources)
    stacks = dict(root.stacks)
    remote: list[str] = []
    cache: dict[str, _Parsed] = {}
    wanted = [part for part in only.split("/") if part] if only is not None else None

    def visit(
        parent: _Parsed, path: str, params: dict[str, str | None], chain: tuple[str, ...]
    ) -> None:
        depth = len(path.split("/")) if path else 0
        for logical_id, res in parent.doc["Resources"].items():
            res = _dict(res)
            if res.get("Type") not in (SERVERLESS_APPLICATION, CLOUDFORMATION_STACK):
                continue
            if wanted is not None and (depth >= len(wanted) or wanted[depth] != logical_id):
                continue
            full = f"{path}/{logical_id}" if path else logical_id
            location, written = _child_location(parent, logical_id, res)
            if location is None:
                remote.append(full)
                continue
            where = (
                f"{parent.path}:{parent.lines[logical_id]}"
                if logical_id in parent.lines
                else str(parent.path)
            )
            real = os.path.realpath(location)
            if real in chain:
                raise UsageError(
                    f"{where}: {logical_id} Location {written} leads back to "
                    f"{location} (nested applications in a cycle)",
                    "point the Location at a template that does not include its parent",
                )
            if real not in cache:
                if not os.path.isfile(location):
                    raise UsageError(
                        f"{where}: {logical_id} Location {written}: no such template ({location})",
                        "fix the Location (relative to the template that names it)",
                    )
                cache[real] = _parse_file(location)
            child = cache[real]
            given = _dict(_dict(res.get("Properties")).get("Parameters"))
            child_params = _child_parameters(child.doc, given, params)
            built = _build(child, full, child_params)
            stacks[full] = Stack(full, built.path, child_params, child.doc, given)
            resources.update(built.resources)
            visit(child, full, child_params, (*chain, real))

    visit(parsed, "", root.parameters, (os.path.realpath(parsed.path),))
    return dataclasses.replace(root, resources=resources, stacks=stacks, remote=tuple(remote))


def _base_dir(path: Path) -> Path:
    # As SAM does: paths in a symlinked template are relative to the real file.
    real = os.path.realpath(path) if os.path.islink(path) else os.path.abspath(path)
    return Path(os.path.dirname(real))


def _parameter_default(spec: Any) -> str | None:
    default = _dict(spec).get("Default")
    if default is None:
        return None
    if isinstance(default, bool):
        return "true" if default else "false"
    if isinstance(default, list):
        return ",".join(str(item) for item in default)
    if isinstance(default, dict):
        return json.dumps(default)
    return str(default)


def _function(logical_id: str, rtype: str, res: dict[str, Any], ctx: _Context) -> Resource:
    props = _dict(res.get("Properties"))
    if rtype == SERVERLESS_FUNCTION:
        props = _apply_globals(ctx.globals_function, props)
    resolve = _resolver(ctx)

    reasons: list[str] = []
    code_dir: Path | None = None
    package_type = resolve(props.get("PackageType", "Zip"))
    code_key = "CodeUri" if rtype == SERVERLESS_FUNCTION else "Code"
    code = props.get(code_key, ".")
    if package_type == "Image" or (isinstance(code, dict) and "ImageUri" in code):
        reasons.append("Image package type")
    elif package_type != "Zip":
        reasons.append(f"PackageType {_show(package_type)} is not Zip")
    elif props.get("InlineCode") is not None or (isinstance(code, dict) and "ZipFile" in code):
        reasons.append("inline code")
    else:
        code_dir, why = _local_dir(code, code_key, ctx)
        if why:
            reasons.append(why)

    runtime, why = _function_runtime(props, resolve)
    if why:
        reasons.append(why)
    architecture, why = _function_architecture(props.get("Architectures"), resolve)
    if why:
        reasons.append(why)

    environment = _dict(_dict(props.get("Environment")).get("Variables"))
    return Resource(
        logical_id=logical_id,
        type=rtype,
        kind="function",
        code_dir=code_dir,
        runtime=runtime,
        architecture=architecture,
        handler=_str_or_none(resolve(props.get("Handler"))),
        layers=tuple(_layer_ref(item, ctx) for item in _list(props.get("Layers"))),
        environment=environment,
        timeout=_int_or(resolve(props.get("Timeout")), DEFAULT_TIMEOUT),
        memory_size=_int_or(resolve(props.get("MemorySize")), DEFAULT_MEMORY_SIZE),
        build_method=_build_method(res),
        managed=not reasons,
        reason=reasons[0] if reasons else "",
        line=ctx.lines.get(logical_id),
    )


def _layer(logical_id: str, rtype: str, res: dict[str, Any], ctx: _Context) -> Resource:
    props = _dict(res.get("Properties"))
    resolve = _resolver(ctx)
    reasons: list[str] = []

    code_key = "ContentUri" if rtype == SERVERLESS_LAYER else "Content"
    code_dir, why = _local_dir(props.get(code_key, "."), code_key, ctx)
    if why:
        reasons.append(why)

    runtimes = [r for r in _list(resolve(props.get("CompatibleRuntimes"))) if isinstance(r, str)]
    pythons = [r for r in runtimes if r.startswith("python")]
    supported = [r for r in pythons if r in SUPPORTED_RUNTIMES]
    if not runtimes:
        # `Metadata: BuildMethod: python3.X` builds a layer for that runtime (SAM's usual way).
        method = _build_method(res)
        if method is not None and method.startswith("python"):
            pythons = [method]
            supported = [method] if method in SUPPORTED_RUNTIMES else []
    runtime = (supported or pythons)[0] if pythons else None
    if not supported:
        if pythons:
            reasons.append(f"runtime {pythons[0]} is not supported (python3.9 to python3.14)")
        else:
            reasons.append("no Python runtime in CompatibleRuntimes")

    metadata = _dict(res.get("Metadata"))
    if "BuildArchitecture" in metadata:
        architecture, why = _architecture(resolve(metadata["BuildArchitecture"]))
    else:
        architecture, why = _function_architecture(props.get("CompatibleArchitectures"), resolve)
    if why:
        reasons.append(why)

    return Resource(
        logical_id=logical_id,
        type=rtype,
        kind="layer",
        code_dir=code_dir,
        runtime=runtime,
        architecture=architecture,
        handler=None,
        layers=(),
        environment={},
        timeout=DEFAULT_TIMEOUT,
        memory_size=DEFAULT_MEMORY_SIZE,
        build_method=_build_method(res),
        managed=not reasons,
        reason=reasons[0] if reasons else "",
        line=ctx.lines.get(logical_id),
    )


def _resolver(ctx: _Context) -> Any:
    def resolve(value: object) -> object:
        return resolve_value(value, ctx.parameters)

    return resolve


def _apply_globals(glob: dict[str, Any], props: dict[str, Any]) -> dict[str, Any]:
    merged = dict(props)
    for key in _GLOBAL_FUNCTION_KEYS:
        if key not in glob:
            continue
        if key not in merged:
            merged[key] = copy.deepcopy(glob[key])
        elif key != "Architectures":  # SAM replaces Architectures instead of appending
            merged[key] = _sam_merge(glob[key], merged[key])
    return merged


def _sam_merge(global_value: Any, local_value: Any) -> Any:
    """SAM's Globals merge: dicts merge (local wins), lists concatenate, anything else is local."""
    g_dict = isinstance(global_value, dict) and not _is_intrinsic(global_value)
    l_dict = isinstance(local_value, dict) and not _is_intrinsic(local_value)
    if g_dict and l_dict:
        merged = dict(global_value)
        for key, value in local_value.items():
            merged[key] = _sam_merge(merged[key], value) if key in merged else value
        return merged
    if isinstance(global_value, list) and isinstance(local_value, list):
        return global_value + local_value
    return local_value


def _local_dir(value: Any, key: str, ctx: _Context) -> tuple[Path | None, str]:
    resolved = resolve_value(value, ctx.parameters)
    if isinstance(resolved, dict):
        if any(k in resolved for k in ("Bucket", "Key", "S3Bucket", "S3Key")):
            return None, "code in S3"
        return None, f"{key} cannot be resolved"
    if not isinstance(resolved, str) or not resolved:
        return None, f"{key} cannot be resolved"
    if resolved.startswith("s3://"):
        return None, "code in S3"
    if re.match(r"https?://", resolved):
        return None, "code at a URL"
    if resolved.startswith("file://"):
        resolved = resolved[len("file://") :]
    return Path(os.path.normpath(ctx.base_dir / resolved)), ""


def _function_runtime(props: dict[str, Any], resolve: Any) -> tuple[str | None, str]:
    if "Runtime" not in props:
        return None, "no Runtime"
    runtime = resolve(props["Runtime"])
    if not isinstance(runtime, str):
        return None, "Runtime cannot be resolved"
    if runtime in SUPPORTED_RUNTIMES:
        return runtime, ""
    if runtime.startswith("python"):
        return runtime, f"runtime {runtime} is not supported (python3.9 to python3.14)"
    return runtime, f"runtime {runtime} is not Python"


def _function_architecture(value: Any, resolve: Any) -> tuple[str, str]:
    if value is None:
        return "x86_64", ""
    resolved = resolve(value)
    if isinstance(resolved, str):  # a CommaDelimitedList parameter
        resolved = [part.strip() for part in resolved.split(",")]
    if not isinstance(resolved, list) or not resolved:
        return "x86_64", "Architectures cannot be resolved"
    return _architecture(resolved[0])


def _architecture(value: object) -> tuple[str, str]:
    if not isinstance(value, str):
        return "x86_64", "architecture cannot be resolved"
    if value not in ARCHITECTURES:
        return value, f"architecture {value} is not x86_64 or arm64"
    return value, ""


def _layer_ref(item: Any, ctx: _Context) -> str:
    """A layer entry: the logical ID of a layer in this template, else its ARN or value as text."""
    if isinstance(item, dict) and len(item) == 1:
        ((key, arg),) = item.items()
        target: object = None
        if key == "Ref":
            target = arg
        elif key == "Fn::GetAtt" and isinstance(arg, list) and arg:
            target = arg[0]
        elif key == "Fn::Sub" and isinstance(arg, str):
            match = re.fullmatch(r"\$\{([^}.!]+)(\.[^}]*)?\}", arg.strip())
            target = match.group(1) if match else None
        if isinstance(target, str) and target in ctx.layer_ids:
            return ctx.prefix + target
    resolved = resolve_value(item, ctx.parameters)
    return resolved if isinstance(resolved, str) else json.dumps(resolved)


def _build_method(res: dict[str, Any]) -> str | None:
    method = _dict(res.get("Metadata")).get("BuildMethod")
    return None if method is None else str(method)


def _metadata(doc: dict[str, Any], logical_id: str) -> dict[str, Any]:
    return _dict(_dict(doc["Resources"][logical_id]).get("Metadata"))


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _int_or(value: object, default: int) -> int:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str):
        try:
            return int(float(value))
        except ValueError:
            return default
    return default


def _show(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value)


# --- intrinsic functions -------------------------------------------------------------------------


class _Unresolved:
    pass


_UNRESOLVED = _Unresolved()


def _is_intrinsic(value: Mapping[Any, Any]) -> bool:
    if len(value) != 1:
        return False
    (key,) = value
    return isinstance(key, str) and (key in ("Ref", "Condition") or key.startswith("Fn::"))


def _pseudo(name: str, region: str) -> str | None:
    partition = (
        "aws-cn"
        if region.startswith("cn-")
        else "aws-us-gov"
        if region.startswith("us-gov-")
        else "aws"
    )
    values = {
        "AWS::Region": region,
        "AWS::AccountId": _ACCOUNT_ID,
        "AWS::StackName": _STACK_NAME,
        "AWS::Partition": partition,
        "AWS::URLSuffix": "amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com",
    }
    return values.get(name)


def _lookup(name: str, parameters: Mapping[str, str | None], region: str) -> str | None:
    if name in parameters and parameters[name] is not None:
        return parameters[name]
    return _pseudo(name, region)


def _resolve_intrinsic(
    value: Mapping[str, Any], parameters: Mapping[str, str | None], region: str
) -> object:
    ((key, arg),) = value.items()
    if key == "Ref":
        found = _lookup(arg, parameters, region) if isinstance(arg, str) else None
        return _UNRESOLVED if found is None else found
    if key == "Fn::Sub":
        return _resolve_sub(arg, parameters, region)
    if key == "Fn::Join":
        if not (isinstance(arg, list) and len(arg) == 2 and isinstance(arg[0], str)):
            return _UNRESOLVED
        items = resolve_value(arg[1], parameters, region=region)
        if not isinstance(items, list) or not all(_is_scalar(item) for item in items):
            return _UNRESOLVED
        return arg[0].join(_scalar_text(item) for item in items)
    return _UNRESOLVED


def _resolve_sub(arg: Any, parameters: Mapping[str, str | None], region: str) -> object:
    if isinstance(arg, str):
        template, variables = arg, {}
    elif (
        isinstance(arg, list)
        and len(arg) == 2
        and isinstance(arg[0], str)
        and isinstance(arg[1], dict)
    ):
        template, variables = arg[0], arg[1]
    else:
        return _UNRESOLVED
    missing = False

    def substitute(match: re.Match[str]) -> str:
        nonlocal missing
        name = match.group(1)
        if name.startswith("!"):
            return "${" + name[1:] + "}"
        name = name.strip()
        if name in variables:
            resolved = resolve_value(variables[name], parameters, region=region)
            if _is_scalar(resolved):
                return _scalar_text(resolved)
        else:
            found = _lookup(name, parameters, region)
            if found is not None:
                return found
        missing = True
        return match.group(0)

    result = re.sub(r"\$\{([^}]*)\}", substitute, template)
    return _UNRESOLVED if missing else result


def _is_scalar(value: object) -> bool:
    return isinstance(value, str | int | float)


def _scalar_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --- the makefile edit ---------------------------------------------------------------------------


class _CannotEdit(Exception):
    """The template has a shape the textual edit does not handle."""


def _cannot_edit(parsed: _Parsed, logical_id: str, why: str) -> UsageError:
    where = (
        f"{parsed.path}:{parsed.lines[logical_id]}" if logical_id in parsed.lines else parsed.path
    )
    return UsageError(
        f"{where}: cannot add Metadata to {logical_id} without reformatting it ({why})",
        f"add `Metadata: {{BuildMethod: makefile}}` to {logical_id} by hand, then run again",
    )


def _verify(
    parsed: _Parsed, wanted: dict[str, dict[str, str]], runtimes: Mapping[str, str], new: str
) -> None:
    """The edited text must mean exactly the old template plus the intended keys."""
    expected = copy.deepcopy(parsed.doc)
    for logical_id, keys in wanted.items():
        resource = expected["Resources"][logical_id]
        metadata = resource.get("Metadata")
        resource["Metadata"] = {**(metadata if isinstance(metadata, dict) else {}), **keys}
        if logical_id in runtimes:
            resource["Properties"]["CompatibleRuntimes"] = [runtimes[logical_id]]
    try:
        actual = _parse_text(parsed.path, new).doc
    except UsageError as err:
        raise _cannot_edit(
            parsed, next(iter(wanted)), f"the result would not parse: {err}"
        ) from None
    if actual != expected:
        bad = next(
            (lid for lid in wanted if actual["Resources"].get(lid) != expected["Resources"][lid]),
            next(iter(wanted)),
        )
        raise _cannot_edit(parsed, bad, "the result would change other values")


def _eol(text: str) -> str:
    first = text.find("\n")
    return "\r\n" if first > 0 and text[first - 1] == "\r" else "\n"


def _edit_json(
    parsed: _Parsed, wanted: dict[str, dict[str, str]], runtimes: Mapping[str, str]
) -> str:
    text = parsed.text
    root, _ = _scan_json(text, len(text) - len(text.lstrip("\ufeff")))
    resources = root.member("Resources") if root else None
    if resources is None or resources.value is None:
        raise _cannot_edit(parsed, next(iter(wanted)), "Resources is not an object")
    edits: list[_Edit] = []
    for logical_id, keys in wanted.items():
        member = resources.value.member(logical_id)
        try:
            if member is None or member.value is None:
                raise _CannotEdit("it is not an object")
            edits.extend(_json_resource_edits(text, member.value, dict(keys)))
            if logical_id in runtimes:
                props = member.value.member("Properties")
                if props is None or props.value is None:
                    raise _CannotEdit("its Properties is not an object")
                added = {"CompatibleRuntimes": [runtimes[logical_id]]}
                edits.append(_json_add(text, props.value, added))
        except _CannotEdit as err:
            raise _cannot_edit(parsed, logical_id, str(err)) from None
    return _apply(text, edits)


@dataclass(frozen=True)
class _JsonMember:
    key: str
    key_start: int
    value_start: int
    value_end: int
    value: _JsonObject | None  # when the value is an object


@dataclass(frozen=True)
class _JsonObject:
    start: int  # the "{"
    end: int  # just past the "}"
    members: tuple[_JsonMember, ...]

    def member(self, key: str) -> _JsonMember | None:
        # json.loads keeps the last of duplicate keys; so does this.
        return next((m for m in reversed(self.members) if m.key == key), None)


_JSON_WS = re.compile(r"[ \t\r\n]*")
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_JSON_ATOM = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|true|false|null")


def _skip(text: str, index: int) -> int:
    return _JSON_WS.match(text, index).end()  # type: ignore[union-attr]


def _scan_json(text: str, index: int) -> tuple[_JsonObject | None, int]:
    """Where the members of objects sit in valid JSON: (the object at `index` or None, its end)."""
    index = _skip(text, index)
    char = text[index : index + 1]
    if char == "{":
        members: list[_JsonMember] = []
        start, index = index, _skip(text, index + 1)
        while text[index] != "}":
            key = _JSON_STRING.match(text, index)
            if key is None:
                raise _CannotEdit("unexpected JSON")
            value_start = _skip(text, _skip(text, key.end()) + 1)  # past the colon
            value, value_end = _scan_json(text, value_start)
            members.append(
                _JsonMember(json.loads(key.group()), index, value_start, value_end, value)
            )
            index = _skip(text, value_end)
            if text[index] == ",":
                index = _skip(text, index + 1)
        return _JsonObject(start, index + 1, tuple(members)), index + 1
    if char == "[":
        index = _skip(text, index + 1)
        while text[index] != "]":
            _, index = _scan_json(text, index)
            index = _skip(text, index)
            if text[index] == ",":
                index = _skip(text, index + 1)
        return None, index + 1
    match = (_JSON_STRING if char == '"' else _JSON_ATOM).match(text, index)
    if match is None:
        raise _CannotEdit("unexpected JSON")
    return None, match.end()


def _json_resource_edits(text: str, resource: _JsonObject, keys: dict[str, str]) -> list[_Edit]:
    metadata = resource.member("Metadata")
    if metadata is None:
        return [_json_add(text, resource, {"Metadata": keys})]
    if metadata.value is None:
        raise _CannotEdit("its Metadata is not an object")
    edits: list[_Edit] = []
    method = metadata.value.member("BuildMethod")
    if method is not None and "BuildMethod" in keys:
        new_method = json.dumps(keys.pop("BuildMethod"))
        edits.append(_Edit(method.value_start, method.value_end, new_method))
    if keys:
        edits.append(_json_add(text, metadata.value, keys))
    return edits


def _json_add(text: str, obj: _JsonObject, members: Mapping[str, object]) -> _Edit:
    """Add members after the last one of `obj`, one per line when the object is written so."""
    if not obj.members:
        return _Edit(obj.start + 1, obj.start + 1, json.dumps(members)[1:-1])
    last = obj.members[-1]
    indent = text[_line_start(text, last.key_start) : last.key_start]
    if indent.strip():  # an object written on one line stays on one line
        return _Edit(last.value_end, last.value_end, ", " + json.dumps(members)[1:-1])
    outer = _leading_space(text, obj.start)
    step = indent[len(outer) :] if indent.startswith(outer) and indent != outer else "  "
    eol = _eol(text)
    rendered = [
        f"{json.dumps(key)}: {json.dumps(value, indent=step)}".replace("\n", eol + indent)
        for key, value in members.items()
    ]
    return _Edit(last.value_end, last.value_end, "".join(f",{eol}{indent}{r}" for r in rendered))


def _leading_space(text: str, index: int) -> str:
    start = _line_start(text, index)
    line = text[start:index]
    return line[: len(line) - len(line.lstrip(" \t"))]


@dataclass(frozen=True)
class _Edit:
    start: int
    end: int
    text: str


def _edit_yaml(
    parsed: _Parsed, wanted: dict[str, dict[str, str]], runtimes: Mapping[str, str]
) -> str:
    text = parsed.text
    root = YAML(typ="rt").compose(text)
    resources = _child(root, "Resources")
    if not isinstance(resources, MappingNode):
        raise _cannot_edit(parsed, next(iter(wanted)), "Resources is not a mapping")
    edits: list[_Edit] = []
    for key, node in resources.value:
        logical_id = key.value if isinstance(key, ScalarNode) else None
        if logical_id not in wanted:
            continue
        try:
            edits.extend(_resource_edits(text, key, node, wanted[logical_id]))
            if logical_id in runtimes:
                edits.append(_compatible_runtimes(text, node, runtimes[logical_id]))
        except _CannotEdit as err:
            raise _cannot_edit(parsed, logical_id, str(err)) from None
    return _apply(text, edits)


def _compatible_runtimes(text: str, node: Node, runtime: str) -> _Edit:
    """`CompatibleRuntimes: [runtime]` as the first key of a resource's Properties."""
    props = _child(node, "Properties")
    if not isinstance(props, MappingNode) or not props.value:
        raise _CannotEdit("its Properties is not a mapping")
    if props.flow_style:
        at = props.value[0][0].start_mark.index
        return _Edit(at, at, f"CompatibleRuntimes: [{runtime}], ")
    first = props.value[0][0]
    line = _line_start(text, first.start_mark.index)
    if text[line : first.start_mark.index].strip():
        raise _CannotEdit("its Properties keys do not start their lines")
    col = first.start_mark.column
    return _Edit(line, line, f"{' ' * col}CompatibleRuntimes: [{runtime}]{_eol(text)}")


def _apply(text: str, edits: list[_Edit]) -> str:
    for edit in sorted(edits, key=lambda e: e.start, reverse=True):
        text = text[: edit.start] + edit.text + text[edit.end :]
    return text


def _child(node: Node | None, name: str) -> Node | None:
    if not isinstance(node, MappingNode):
        return None
    for key, value in node.value:
        if isinstance(key, ScalarNode) and key.value == name:
            return value  # type: ignore[no-any-return]
    return None


def _resource_edits(text: str, key: Node, node: Node, keys: dict[str, str]) -> list[_Edit]:
    if not isinstance(node, MappingNode) or not node.value:
        raise _CannotEdit("it is not a mapping")
    eol = _eol(text)
    metadata = _child(node, "Metadata")
    pairs = dict(keys)
    if node.flow_style:
        return _flow_resource_edits(text, node, metadata, pairs)

    key_col = key.start_mark.column
    indent = node.value[0][0].start_mark.column
    step = _indent_step(node, key_col, indent)
    if metadata is None:
        at = _after_content(text, node, key_col)
        lines = [" " * indent + "Metadata:"]
        lines += [" " * (indent + step) + f"{k}: {v}" for k, v in pairs.items()]
        lead = "" if at == 0 or text[at - 1] == "\n" else eol
        return [_Edit(at, at, lead + eol.join(lines) + eol)]

    edits: list[_Edit] = []
    if isinstance(metadata, MappingNode) and not metadata.flow_style and metadata.value:
        method = next((kv for kv in metadata.value if kv[0].value == "BuildMethod"), None)
        if method is not None:
            edits.append(_replace_scalar(text, method[1], pairs.pop("BuildMethod")))
        if pairs:
            # New keys go after BuildMethod when there is one, else first.
            anchor = method[0] if method is not None else metadata.value[0][0]
            col = anchor.start_mark.column
            line = _line_start(text, anchor.start_mark.index)
            if text[line : anchor.start_mark.index].strip():
                raise _CannotEdit("its Metadata keys do not start their lines")
            at = _line_end(text, method[1].end_mark.index) if method is not None else line
            lead = "" if at == 0 or text[at - 1] == "\n" else eol
            added = "".join(f"{' ' * col}{k}: {v}{eol}" for k, v in pairs.items())
            edits.append(_Edit(at, at, lead + added))
        return edits
    if isinstance(metadata, MappingNode) or _is_null(metadata):
        meta_key = next(k for k, v in node.value if v is metadata)
        return [_block_metadata(text, meta_key, metadata, indent + step, pairs)]
    raise _CannotEdit("its Metadata is not a mapping")


def _indent_step(node: MappingNode, key_col: int, indent: int) -> int:
    for key, value in node.value:
        if isinstance(value, MappingNode) and not value.flow_style and value.value:
            step = value.value[0][0].start_mark.column - key.start_mark.column
            if step > 0:
                return int(step)
    return indent - key_col if indent > key_col else 2


def _replace_scalar(text: str, node: Node, value: str) -> _Edit:
    start, end = node.start_mark.index, node.end_mark.index
    if not isinstance(node, ScalarNode) or "\n" in text[start:end]:
        raise _CannotEdit("its BuildMethod is not a one-line value")
    return _Edit(start, end, value)


def _is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == "tag:yaml.org,2002:null"


def _block_metadata(
    text: str, key: Node, value: Node, child_col: int, pairs: dict[str, str]
) -> _Edit:
    """Rewrite a flow-style or empty `Metadata:` into block style, its entries kept as written."""
    start = _line_start(text, key.start_mark.index)
    if text[start : key.start_mark.index].strip():
        raise _CannotEdit("its Metadata key does not start its line")
    colon_end = text.index(":", key.end_mark.index) + 1
    # `Metadata:` with nothing after the colon has an empty value node.
    value_end = max(int(value.end_mark.index), colon_end)
    end = _line_end(text, value_end)
    tail = text[value_end:end].rstrip()
    if tail.strip() and not tail.strip().startswith("#"):
        raise _CannotEdit("its Metadata line holds more than the mapping")
    eol = _eol(text)
    lines = [text[start:colon_end] + tail]  # a trailing comment stays where it was
    if isinstance(value, MappingNode):
        for k, v in value.value:
            k_text = text[k.start_mark.index : k.end_mark.index]
            v_text = text[v.start_mark.index : v.end_mark.index]
            if isinstance(k, ScalarNode) and k.value in pairs and k.value == "BuildMethod":
                v_text = pairs.pop("BuildMethod")
            if "\n" in k_text + v_text:
                raise _CannotEdit("its flow-style Metadata spans several lines")
            lines.append(f"{' ' * child_col}{k_text}: {v_text}".rstrip())
    lines += [f"{' ' * child_col}{k}: {v}" for k, v in pairs.items()]
    return _Edit(start, end, eol.join(lines) + (eol if text[start:end].endswith("\n") else ""))


def _flow_resource_edits(
    text: str, node: MappingNode, metadata: Node | None, pairs: dict[str, str]
) -> list[_Edit]:
    entries = ", ".join(f"{k}: {v}" for k, v in pairs.items())
    if metadata is None:
        at = node.value[-1][1].end_mark.index
        return [_Edit(at, at, f", Metadata: {{{entries}}}")]
    if not (isinstance(metadata, MappingNode) and metadata.flow_style):
        raise _CannotEdit("its Metadata is not a flow mapping")
    edits: list[_Edit] = []
    method = _child(metadata, "BuildMethod")
    if method is not None and "BuildMethod" in pairs:
        edits.append(_replace_scalar(text, method, pairs.pop("BuildMethod")))
    if pairs:
        entries = ", ".join(f"{k}: {v}" for k, v in pairs.items())
        if metadata.value:
            at = metadata.value[-1][1].end_mark.index
            edits.append(_Edit(at, at, f", {entries}"))
        else:
            at = text.index("{", metadata.start_mark.index) + 1
            edits.append(_Edit(at, at, entries))
    return edits


def _line_start(text: str, index: int) -> int:
    return text.rfind("\n", 0, index) + 1


def _line_end(text: str, index: int) -> int:
    """The index just past the line break of the line holding `index` (or the end of text)."""
    newline = text.find("\n", index)
    return len(text) if newline < 0 else newline + 1


def _content_end(text: str, node: Node, floor: int) -> int:
    """Index just past the last character that belongs to `node` (block collections end late)."""
    if node.start_mark.index < floor:
        # An alias: composed aliases carry the anchor's marks; the `*name` token sits at floor.
        return floor
    if isinstance(node, MappingNode) and not node.flow_style and node.value:
        key, value = node.value[-1]
        if _is_null(value) and value.end_mark.index <= value.start_mark.index:
            return int(key.end_mark.index)
        return _content_end(text, value, key.end_mark.index)
    if isinstance(node, SequenceNode) and not node.flow_style and node.value:
        if len(node.value) > 1 and node.value[-1].start_mark.index < node.value[-2].end_mark.index:
            raise _CannotEdit("it ends with an alias in a list")
        return _content_end(text, node.value[-1], node.start_mark.index)
    end = int(node.end_mark.index)
    if isinstance(node, ScalarNode) and node.style in ("|", ">"):
        header = text[node.start_mark.index : _line_end(text, node.start_mark.index)]
        if "+" not in header.split("#", 1)[0]:  # keep-chomping: trailing blank lines are content
            end = len(text[:end].rstrip())
    return end


def _after_content(text: str, node: MappingNode, key_col: int) -> int:
    """Where new lines go at the end of a block resource: after its content and own comments."""
    end = _content_end(text, node, node.start_mark.index)
    at = _line_end(text, max(end - 1, 0))
    pos = at
    while pos < len(text):
        nxt = _line_end(text, pos)
        line = text[pos:nxt]
        stripped = line.strip()
        if not stripped:
            pos = nxt
            continue
        # Comments indented deeper than the resource's key belong to the resource.
        if stripped.startswith("#") and len(line) - len(line.lstrip(" \t")) > key_col:
            pos = at = nxt
            continue
        break
    return at
