"""`samlink doctor`: what on this machine and in this project keeps samlink from working.

Each check gives one `Diagnosis`: ok, warn (works, with a catch) or fail (will not work), one line,
and one fix. Checks that need the template are skipped when it does not parse.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from samlink.audit import check, pins
from samlink.build import declared, location
from samlink.build.installer import IndexOptions, pip_configuration, pip_settings
from samlink.errors import UsageError
from samlink.model import links, requirements, samconfig
from samlink.model.project import ProjectInfo, is_python_project
from samlink.model.target import target_for
from samlink.model.template import REMOTE_REASON, Resource, Template, load_template
from samlink.runtime.docker import MIN_SAM, parse_sam_version

SCHEMA_VERSION = 1
STATUSES = ("ok", "warn", "fail")
_PYPI = "https://pypi.org/simple"
_USERINFO = re.compile(r"(://)[^/@\s]+@")


@dataclass(frozen=True)
class Diagnosis:
    """One check's outcome."""

    check: str  # a stable id: "sam-cli", "make", "link", ...
    status: str  # "ok" | "warn" | "fail"
    message: str
    fix: str = ""
    subject: str | None = None  # the link, function or runtime it is about


def diagnose(template_path: Path, build_dir: Path | None = None) -> list[Diagnosis]:
    """Every check, machine first, then the project of `template_path` and its build dir
    (`build_dir`, or SAM's default under the current directory)."""
    found: list[Diagnosis] = []
    found += check_make()
    found += check_sam_cli()
    found += check_isolation()
    found += check_installers()
    try:
        template = load_template(template_path)
    except UsageError as exc:
        found.append(Diagnosis("template", "fail", exc.message, exc.hint or "fix the template"))
        return found
    found += check_template(template)
    found += check_init(template)
    found += check_samconfig(template.path.parent)
    found += check_pythonpath(template)
    found += check_pythons(template)
    found += check_links(template)
    found += check_engine_paths(template)
    found += check_emulation(template)
    found += check_build(template, build_dir)
    found += check_declared(template)  # last: a function's first line stays its build's
    return found


# --- the machine -----------------------------------------------------------------------------


def check_make() -> list[Diagnosis]:
    """make runs SAM's makefile builds."""
    found = shutil.which("make")
    if found is None:
        return [
            Diagnosis(
                "make",
                "fail",
                "make not found: `sam build` cannot run makefile builds",
                "install make (Debian/Ubuntu: apt-get install make; macOS: xcode-select --install)",
            )
        ]
    return [Diagnosis("make", "ok", f"make: {found}")]


def check_sam_cli() -> list[Diagnosis]:
    """SAM CLI present, and recent enough for `sam local invoke --mount-symlinks`."""
    sam = shutil.which("sam")
    fix = "pip install -U 'aws-sam-cli>=1.134' (or AWS's installer)"
    if sam is None:
        return [Diagnosis("sam-cli", "fail", "SAM CLI (sam) not found on PATH", fix)]
    try:
        result = subprocess.run(
            [sam, "--version"], capture_output=True, text=True, timeout=120, check=False
        )
        output = result.stdout + result.stderr
    except (OSError, subprocess.TimeoutExpired) as exc:
        return [Diagnosis("sam-cli", "fail", f"cannot run {sam}: {exc}", fix)]
    version = parse_sam_version(output)
    if version is None:
        return [Diagnosis("sam-cli", "fail", f"`{sam} --version` did not say its version", fix)]
    shown = ".".join(map(str, version))
    if version < MIN_SAM:
        return [
            Diagnosis(
                "sam-cli",
                "warn",
                f"SAM CLI {shown} ({sam}) has no --mount-symlinks: `sam local invoke` cannot "
                "see linked code",
                fix,
            )
        ]
    return [Diagnosis("sam-cli", "ok", f"SAM CLI {shown} ({sam}), --mount-symlinks available")]


def check_isolation() -> list[Diagnosis]:
    """A container engine that answers, or a mount namespace for Docker-free invoke."""
    from samlink.runtime import engine_available

    if engine_available():
        return [
            Diagnosis(
                "isolation",
                "ok",
                "a container engine answers: `sam local invoke` and `samlink invoke --docker` work",
            )
        ]
    how = mount_namespace()
    if how is not None:
        return [
            Diagnosis(
                "isolation",
                "ok",
                f"no container engine; `samlink invoke` isolates functions in a mount namespace "
                f"({how})",
            )
        ]
    return [
        Diagnosis(
            "isolation",
            "warn",
            "no container engine and no mount namespace: `samlink invoke` runs functions at "
            "this machine's paths, not laid out as /var/task and /opt",
            "start Docker, Finch or Colima, or allow unprivileged user namespaces "
            "(sysctl kernel.unprivileged_userns_clone=1; Ubuntu 24.04: an AppArmor profile)",
        )
    ]


def mount_namespace() -> str | None:
    """The `unshare` command that works here, or None."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return None
    commands = [[unshare, "--mount", "true"]] if os.geteuid() == 0 else []
    commands.append([unshare, "-Urm", "true"])
    for command in commands:
        try:
            done = subprocess.run(command, capture_output=True, timeout=20, check=False)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0:
            return " ".join(["unshare", *command[1:]])
    return None


def check_installers() -> list[Diagnosis]:
    """uv and pip, and which indexes each would use."""
    found: list[Diagnosis] = []
    uv = _uv_version()
    if uv is None:
        found.append(
            Diagnosis(
                "uv",
                "warn",
                "uv not found: samlink builds install with pip (slower)",
                "pip install uv (into samlink's environment)",
            )
        )
    else:
        found.append(Diagnosis("uv", "ok", f"uv {uv}: samlink's default installer"))
    try:
        pip = importlib.metadata.version("pip")
    except importlib.metadata.PackageNotFoundError:
        found.append(
            Diagnosis(
                "pip",
                "warn" if uv else "fail",
                f"pip is not installed in samlink's Python ({sys.prefix})",
                f"{sys.executable} -m ensurepip",
            )
        )
    else:
        found.append(Diagnosis("pip", "ok", f"pip {pip}: samlink's fallback installer"))
    try:
        settings = pip_settings()
        index = pip_configuration()
    except UsageError as exc:
        found.append(Diagnosis("indexes", "fail", exc.message, exc.hint))
        return found
    skipped = missing_locations(settings, index)
    note = f"; skipped (missing, as pip does): {', '.join(skipped)}" if skipped else ""
    found.append(
        Diagnosis(
            "indexes",
            "ok",
            f"pip and uv both install from {describe_index(index)} (pip's settings; samlink "
            f"passes them to uv, which does not read pip.conf){note}",
        )
    )
    if settings.get("constraint"):
        found.append(
            Diagnosis(
                "indexes",
                "warn",
                f"pip's constraint setting ({settings['constraint']}) is not applied to Lambda "
                "builds (uv ignores it and no requirements file shows it)",
                "add `-c constraints.txt` to requirements.txt to constrain Lambda builds",
            )
        )
    return found


def _uv_version() -> str | None:
    try:
        import uv

        uv.find_uv_bin()
        return importlib.metadata.version("uv")
    except (ImportError, FileNotFoundError, importlib.metadata.PackageNotFoundError):
        pass
    on_path = shutil.which("uv")
    if on_path is None:
        return None
    try:
        out = subprocess.run(
            [on_path, "--version"], capture_output=True, text=True, timeout=30, check=False
        ).stdout.split()
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out[1] if len(out) > 1 else None


def describe_index(index: IndexOptions) -> str:
    """Index settings in one line, credentials hidden."""
    if index.no_index:
        parts = ["no index"]
    else:
        parts = [f"index {mask(index.index_url or _PYPI)}"]
        parts += [f"extra index {mask(url)}" for url in index.extra_index_urls]
    parts += [f"find-links {mask(loc)}" for loc in index.find_links]
    return ", ".join(parts)


def missing_locations(settings: Mapping[str, str], index: IndexOptions) -> list[str]:
    """Configured extra indexes and find-links that pip (and samlink) skip as missing."""
    configured = (
        settings.get("extra-index-url", "").split() + settings.get("find-links", "").split()
    )
    used = set(index.extra_index_urls) | set(index.find_links)
    return [
        mask(loc)
        for loc in configured
        if loc not in used and os.path.abspath(os.path.expanduser(loc)) not in used
    ]


def mask(url: str) -> str:
    """A URL with its user:password (a token, for CodeArtifact) replaced by ***."""
    return _USERINFO.sub(r"\1***@", url)


# --- the project -----------------------------------------------------------------------------


def check_template(template: Template) -> list[Diagnosis]:
    """The template parses; which resources samlink manages."""
    managed = template.managed()
    others = [r for r in template.resources.values() if not r.managed]
    skipped = "; ".join(
        [f"{r.logical_id}: {r.reason}" for r in others]
        + [f"{full_id}: {REMOTE_REASON}" for full_id in template.remote]
    )
    tail = f"; not managed: {skipped}" if skipped else ""
    if not managed:
        return [
            Diagnosis(
                "template",
                "warn",
                f"{template.path.name}: no Python function or layer samlink can build{tail}",
                "samlink builds Zip functions and layers on python3.9-3.14 with local code",
            )
        ]
    names = ", ".join(r.logical_id for r in managed)
    return [Diagnosis("template", "ok", f"{template.path.name}: managed: {names}{tail}")]


def check_init(template: Template) -> list[Diagnosis]:
    """The template, Makefiles and .gitignore are what `samlink init` writes."""
    drift = [
        f
        for f in check.drift_findings(template)
        if f.code in ("template-drift", "makefile-drift", "gitignore-drift")
    ]
    if not drift:
        if not template.managed():
            return []
        return [Diagnosis("init", "ok", "template and Makefiles are current")]
    base = template.path.parent
    return [
        Diagnosis(
            "init",
            "warn",
            f"{check.display(f.file, base) if f.file else template.path.name}: {f.message}",
            f.fix,
        )
        for f in drift
    ]


def check_samconfig(project_dir: Path) -> list[Diagnosis]:
    """mount_symlinks on for `sam local invoke`; `use_container` off."""
    path = samconfig.find_config(project_dir)
    if path is None:
        return [
            Diagnosis(
                "samconfig",
                "warn",
                "no SAM config: `sam local invoke` does not mount linked code",
                "run `samlink init` (writes samconfig.toml with mount_symlinks)",
            )
        ]
    try:
        _path, old, new = samconfig.enable_mount_symlinks(project_dir)
    except UsageError as exc:
        return [Diagnosis("samconfig", "fail", exc.message, exc.hint)]
    found = []
    if old != new:
        found.append(
            Diagnosis(
                "samconfig",
                "warn",
                f"{path.name}: mount_symlinks is off for `sam local invoke`: linked code "
                "is not mounted",
                "run `samlink init`",
            )
        )
    else:
        found.append(
            Diagnosis("samconfig", "ok", f"{path.name}: mount_symlinks on for local invoke")
        )
    for where in use_container(path):
        found.append(
            Diagnosis(
                "use-container",
                "warn",
                f"{path.name}: use_container in [{where}]: `sam build` runs make in SAM's build "
                "image, without samlink (no links, a plain pip install)",
                f"remove use_container from [{where}] for samlink builds",
                where,
            )
        )
    return found


def use_container(path: Path) -> list[str]:
    """The `env.command.parameters` sections of a SAM config that turn on use_container."""
    import tomlkit
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError
    from tomlkit.exceptions import TOMLKitError

    try:
        text = path.read_text(encoding="utf-8")
        if path.suffix.lower() == ".toml":
            doc: Any = tomlkit.parse(text).unwrap()
        else:
            doc = YAML(typ="safe").load(text)
    except (OSError, ValueError, TOMLKitError, YAMLError):
        return []  # check_samconfig reports a config SAM cannot read
    found = []
    for env, commands in _items(doc):
        for command, sections in _items(commands):
            params = sections.get("parameters") if isinstance(sections, dict) else None
            if isinstance(params, dict) and params.get("use_container") in (True, "true"):
                found.append(f"{env}.{command}.parameters")
    return found


def _items(value: object) -> list[tuple[str, Any]]:
    return [(str(k), v) for k, v in value.items()] if isinstance(value, dict) else []


def check_pythonpath(template: Template) -> list[Diagnosis]:
    """Functions that set PYTHONPATH: Lambda then skips the layers' site dirs."""
    found = []
    for resource in template.resources.values():
        if resource.kind == "function" and "PYTHONPATH" in resource.environment:
            found.append(
                Diagnosis(
                    "pythonpath",
                    "warn",
                    f"{resource.logical_id} sets PYTHONPATH: Lambda then does not treat "
                    "/opt/python as site dirs, so .pth files in layers are ignored",
                    "remove PYTHONPATH from the function's Environment (put code in the "
                    "function or a layer instead)",
                    resource.logical_id,
                )
            )
    return found


def check_pythons(template: Template) -> list[Diagnosis]:
    """A Python for each runtime in the template (PATH, pyenv, uv), for `samlink invoke`."""
    from samlink.runtime.python import find_interpreter, host_interpreter

    runtimes = sorted({r.runtime for r in template.managed() if r.runtime})
    found = []
    for runtime in runtimes:
        version = check.python_version(runtime)
        if version is None:
            continue
        interpreter = find_interpreter(version)
        if interpreter is not None:
            found.append(
                Diagnosis("python", "ok", f"{runtime}: {interpreter.executable}", "", runtime)
            )
            continue
        found.append(
            Diagnosis(
                "python",
                "warn",
                f"{runtime}: no Python {version[0]}.{version[1]} on PATH, in pyenv or uv; "
                f"`samlink invoke` would run it with Python {host_interpreter().tag} (builds "
                "are fine: dependencies install for the runtime either way)",
                f"uv python install {version[0]}.{version[1]}",
                runtime,
            )
        )
    return found


def check_declared(template: Template) -> list[Diagnosis]:
    """Which input declares each function's libraries, and a lock that no longer matches its
    pyproject files."""
    found: list[Diagnosis] = []
    for resource in template.managed():
        if resource.code_dir is None or resource.runtime is None:
            continue
        found += _declared(resource, resource.code_dir, resource.runtime)
    return found


def _declared(resource: Resource, code_dir: Path, runtime: str) -> list[Diagnosis]:
    rid = resource.logical_id
    try:
        inputs = declared.read(code_dir, target_for(runtime, resource.architecture))
        stale = declared.lock_problem(inputs)
    except UsageError as exc:  # no lock for declared dependencies, an unreadable lock, no uv
        return [Diagnosis("declared", "fail", f"{rid}: {exc.message}", exc.hint, rid)]
    what = describe_input(inputs, code_dir)
    if stale is None:
        return [Diagnosis("declared", "ok", f"{rid}: libraries from {what}", "", rid)]
    relock = "uv lock" if inputs.kind == "uv" else "poetry lock"
    assert inputs.lock is not None
    folder = os.path.relpath(inputs.lock.parent)
    where = "" if folder == "." else f" in {folder}"
    return [
        Diagnosis(
            "lock-stale",
            "warn",
            f"{rid}: libraries from {what}, but {pins.staleness(stale, inputs.lock)}: dev "
            "builds follow the lock as it is, release builds and `samlink check` refuse it",
            f"run `{relock}`{where} and commit the lock",
            rid,
        )
    ]


def describe_input(inputs: declared.Declared, code_dir: Path) -> str:
    """Which input a code dir's libraries come from, as a user finds it on disk."""
    if inputs.kind == "requirements":
        return "requirements.txt"
    if inputs.kind == "none" or inputs.lock is None:
        return "nothing (no requirements.txt; no dependencies in pyproject.toml)"
    where = os.path.relpath(inputs.lock.parent, code_dir.resolve())
    at = "" if where == "." else f" (workspace root {where})"
    return f"pyproject.toml + {inputs.lock.name}{at}"


def check_links(template: Template) -> list[Diagnosis]:
    """Each link resolves, is importable, and its dependencies fit the functions' pins."""
    project_dir = template.path.parent
    try:
        registry = links.load(project_dir)
    except UsageError as exc:
        return [Diagnosis("link", "fail", exc.message, exc.hint)]
    resources = list(template.resources.values())
    found = []
    for link in registry:
        found += _check_link(project_dir, link, resources)
    return found


def _check_link(project_dir: Path, link: links.Link, resources: list[Resource]) -> list[Diagnosis]:
    name = link.key
    if not link.path.is_dir() or not is_python_project(link.path):
        return [
            Diagnosis(
                "link",
                "fail",
                f"{name}: {link.path} is gone or is not a Python project",
                f"`samlink unlink {name}`, or restore the checkout",
                name,
            )
        ]
    try:
        info = links.inspect_cached(project_dir, link.path)
    except UsageError as exc:
        return [Diagnosis("link", "fail", f"{name}: {exc.message}", exc.hint, name)]
    if canonicalize_name(info.name) != name:
        return [
            Diagnosis(
                "link",
                "fail",
                f"{name}: {link.path} is now {info.name}",
                f"`samlink unlink {name}` and link it again",
                name,
            )
        ]
    missing = unimportable(info)
    if missing:
        return [
            Diagnosis(
                "link",
                "fail",
                f"{name}: cannot import {', '.join(missing)} from {link.path}",
                "check the package layout (pyproject.toml's package settings)",
                name,
            )
        ]
    found = []
    reached = links.reaches(link, resources)
    for resource in resources:
        if resource.logical_id in reached:
            excluded = links.python_excluded(info, resource.runtime)
            if excluded:
                found.append(
                    Diagnosis(
                        "link-python",
                        "warn",
                        f"{name}: {excluded}, which {resource.logical_id} runs",
                        "link a version of the library that supports the runtime, or change "
                        "the runtime",
                        name,
                    )
                )
            for conflict in pin_conflicts(info, resource):
                found.append(
                    Diagnosis(
                        "link-conflict",
                        "fail",
                        f"{name}: {conflict}",
                        "change the pin or the library's requirement so both agree",
                        name,
                    )
                )
    if info.unmapped:
        found.append(
            Diagnosis(
                "link",
                "warn",
                f"{name}: {len(info.unmapped)} file(s) of its wheel are not in the checkout "
                f"(generated or compiled, e.g. {info.unmapped[0]}): not live",
                "rebuild after changing them, or build them in the checkout",
                name,
            )
        )
    if not found:
        imports = ", ".join(i.name for i in info.imports)
        where = ", ".join(reached) or "no function yet"
        found.append(
            Diagnosis(
                "link",
                "ok",
                f"{name} {info.version} -> {link.path}: imports {imports}; reaches {where}",
                "",
                name,
            )
        )
    return found


def unimportable(info: ProjectInfo) -> list[str]:
    """Import roots of a project whose live source is missing."""
    missing = []
    for root in info.imports:
        ok = (
            (root.source / "__init__.py").is_file()
            if root.kind == "package"
            else root.source.is_file()
            if root.kind == "module"
            else root.source.is_dir()
        )
        if not ok:
            missing.append(root.name)
    if not info.imports:
        missing.append("(no package)")
    return missing


def pin_conflicts(info: ProjectInfo, resource: Resource) -> list[str]:
    """Each dependency of a linked project that excludes a version the function pins."""
    if resource.code_dir is None or resource.runtime is None:
        return []
    path = resource.code_dir / "requirements.txt"
    if not path.is_file():
        return []
    try:
        reqs = requirements.parse(path)
    except UsageError:
        return []  # `samlink check` and the build report a broken requirements file
    version = check.python_version(resource.runtime)
    if version is None:
        return []
    machine = "aarch64" if resource.architecture == "arm64" else "x86_64"
    env = requirements.target_environment(f"{version[0]}.{version[1]}", machine)
    extras: frozenset[str] = frozenset()
    pins: dict[str, list[tuple[Version, requirements.Line]]] = {}
    for line in (*reqs.lines, *reqs.constraints):
        req = line.requirement
        if req is None or line.path is not None:
            continue
        if not requirements.applies(req.marker, env, frozenset()):
            continue
        if canonicalize_name(req.name) == canonicalize_name(info.name):
            extras |= frozenset(req.extras)
            continue
        for spec in req.specifier:
            if spec.operator in ("==", "===") and "*" not in spec.version:
                try:
                    pins.setdefault(canonicalize_name(req.name), []).append(
                        (Version(spec.version), line)
                    )
                except InvalidVersion:
                    continue
    conflicts = []
    for text in info.requires:
        try:
            dependency = Requirement(text)
        except InvalidRequirement:
            continue
        if not requirements.applies(dependency.marker, env, extras):
            continue
        for pinned, line in pins.get(canonicalize_name(dependency.name), []):
            if not dependency.specifier.contains(pinned, prereleases=True):
                where = check.display(line.file, resource.code_dir.parent)
                conflicts.append(
                    f"requires {dependency.name}{dependency.specifier}, but "
                    f"{resource.logical_id} pins {dependency.name}=={pinned} "
                    f"({where}:{line.lineno})"
                )
    return conflicts


# Shared folders of VM-based engines by default; a native Linux engine sees every path.
_MAC_DESKTOP_SHARES = ("/Users", "/Volumes", "/private", "/tmp", "/var/folders")


def engine_shares(info: Mapping[str, Any], home: Path, platform: str) -> list[Path] | None:
    """The host folders a container engine can bind-mount by default; None for all of them."""
    system = str(info.get("OperatingSystem") or "")
    name = str(info.get("Name") or "")
    context = str((info.get("ClientInfo") or {}).get("Context") or "")
    words = f"{system} {name} {context}".lower()
    if "orbstack" in words:
        return None  # OrbStack shares the whole Mac file system
    if "docker desktop" in words or context.startswith("desktop-"):
        return [Path(p) for p in _MAC_DESKTOP_SHARES] if platform == "darwin" else [home]
    if "colima" in words:
        return [home, Path("/tmp/colima")]
    if "rancher" in words or name.startswith("lima-") or "lima" in context:
        return [home, Path("/tmp/lima")]
    if platform == "linux":
        return None
    return [home]  # another VM-based engine: the home folder is the common default


def check_engine_paths(template: Template) -> list[Diagnosis]:
    """Link targets that a VM-based engine (Docker Desktop, Colima) cannot mount."""
    info = docker_info()
    if info is None:
        return []
    shares = engine_shares(info, Path.home(), sys.platform)
    if shares is None:
        return [Diagnosis("engine-paths", "ok", "the container engine can mount every path")]
    targets = {f"link {link.key}": link.path for link in links.load(template.path.parent)}
    for resource in template.managed():
        if resource.code_dir is not None:
            targets[f"{resource.logical_id} code"] = resource.code_dir
    outside = {what: path for what, path in targets.items() if not _under(path, shares)}
    if not outside:
        return [Diagnosis("engine-paths", "ok", "the container engine shares every linked path")]
    return [
        Diagnosis(
            "engine-paths",
            "warn",
            f"{what}: {path} is outside the engine's shared folders "
            f"({', '.join(map(str, shares))}): `sam local invoke` would mount an empty folder",
            "add it to the engine's file sharing (Docker Desktop: Settings > Resources > File "
            "sharing; Colima: `colima start --mount PATH:w`), or move the checkout",
            what,
        )
        for what, path in sorted(outside.items())
    ]


def check_emulation(template: Template) -> list[Diagnosis]:
    """Functions of another architecture that this machine's engine cannot run (no binfmt/qemu):
    SAM would time out on them with no word of why."""
    from samlink.runtime.docker import emulation_hint, emulation_missing, engine_available

    functions = [r for r in template.resources.values() if r.kind == "function"]
    cannot = {r.architecture: emulation_missing(r.architecture) for r in functions}
    if not any(cannot.values()) or not engine_available():
        return []
    return [
        Diagnosis(
            "engine-architecture",
            "warn",
            f"{resource.logical_id} ({resource.architecture}): {cannot[resource.architecture]}; "
            "samlink invoke --docker refuses it, plain sam local invoke times out",
            emulation_hint(resource.architecture),
            resource.logical_id,
        )
        for resource in functions
        if cannot[resource.architecture]
    ]


def docker_info() -> dict[str, Any] | None:
    """`docker info --format json` when an engine answers; None otherwise."""
    from samlink.runtime import engine_available

    docker = shutil.which("docker")
    if docker is None or not engine_available():
        return None
    try:
        done = subprocess.run(
            [docker, "info", "--format", "json"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        data = json.loads(done.stdout)
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("ServerVersion") else None


def _under(path: Path, roots: Iterable[Path]) -> bool:
    real = Path(os.path.realpath(path))
    return any(real == root or root in real.parents for root in roots) or any(
        path == root or root in path.parents for root in roots
    )


def check_build(template: Template, build_dir: Path | None = None) -> list[Diagnosis]:
    """Whether the build dir (`build_dir`, or SAM's `.aws-sam/build` under the current
    directory) is stale for each managed resource."""
    from samlink.build import state

    try:
        report = state.collect(template.path, build_dir)
    except UsageError as exc:
        return [Diagnosis("build", "warn", exc.message, exc.hint)]
    found = []
    root = Path(report["build_dir"])
    if not root.is_dir() and location.beside(root, template.path) is not None:
        # `sam build` ran in the template's folder: neither SAM nor samlink looks there from here.
        missing = location.not_built(root, template.path)
        found.append(Diagnosis("build", "warn", missing.message, missing.hint))
    for item in report["resources"]:
        if not item["managed"]:
            continue
        rid = item["id"]
        if not item["built"]:
            where = location.shown(Path(report["build_dir"]) / rid)
            found.append(Diagnosis("build", "ok", f"{rid}: not built yet (no {where})", "", rid))
        elif item["stale"]:
            found.append(
                Diagnosis(
                    "build",
                    "warn",
                    f"{rid}: build is stale: {'; '.join(item['stale'])}",
                    "run `sam build`",
                    rid,
                )
            )
        else:
            found.append(Diagnosis("build", "ok", f"{rid}: build is current", "", rid))
    return found


# --- output ----------------------------------------------------------------------------------


def to_json(template: Path, found: list[Diagnosis]) -> dict[str, object]:
    """The diagnosis as `samlink doctor --json` prints it (docs/schemas/doctor.schema.json)."""
    counts = {status: sum(1 for d in found if d.status == status) for status in STATUSES}
    return {
        "version": SCHEMA_VERSION,
        "template": str(template),
        "ok": counts["fail"] == 0,
        "counts": counts,
        "checks": [
            {
                "check": d.check,
                "status": d.status,
                "subject": d.subject,
                "message": d.message,
                "fix": d.fix,
            }
            for d in found
        ],
    }
