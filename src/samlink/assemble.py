"""One build dir: third-party deps from the store, linked projects as live links, the code.

Rules (DESIGN.md, FACTS.md): only TOP-LEVEL entries of a function's build dir are links (what
`sam local invoke --mount-symlinks` mounts); link package dirs, never a project root (zips follow
links); a namespace package gets an unimportable top-level link to its source root plus a relative
`.pth` line, or real files when that root is the project root itself.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from samlink import atomicfile, links, requirements
from samlink.errors import UsageError
from samlink.installer import (
    IndexOptions,
    InstallSpec,
    check_wheel_tags,
    merge_index,
    pip_configuration,
    resolve_installer,
)
from samlink.project import (
    ProjectInfo,
    build_wheel,  # the same wheel build as `samlink link`
    copy_for_build,
    is_python_project,
)
from samlink.store import Store
from samlink.target import Target, target_for
from samlink.template import Resource

# Never linked or copied from a code dir into a build: build inputs, tests, local state.
_SKIP_NAMES = frozenset(
    {
        "Makefile",
        "makefile",
        "GNUmakefile",
        "tests",
        "test",
        "events",
        "__pycache__",
        "node_modules",
        "samconfig.toml",
        "samconfig.yaml",
        "samconfig.yml",
    }
)
_SKIP_SUFFIXES = (".pyc",)


@dataclass(frozen=True)
class Options:
    release: bool = False
    allow_local: bool = False
    installer: str | None = None
    refresh: bool = False


@dataclass(frozen=True)
class LinkedProject:
    info: ProjectInfo
    origin: str  # "link" or the requirements line that asked for it ("requirements.txt:3")
    extras: frozenset[str] = frozenset()


@dataclass
class BuildReport:
    resource: str
    dest: Path
    files: int = 0
    linked: list[LinkedProject] = field(default_factory=list)
    code_links: list[str] = field(default_factory=list)
    materialized: list[str] = field(default_factory=list)
    seconds: float = 0.0


def build(
    resource: Resource, project_dir: Path, artifacts_dir: Path, options: Options
) -> BuildReport:
    """Fill `artifacts_dir` for one function or layer."""
    started = time.monotonic()
    if not resource.managed or resource.code_dir is None or resource.runtime is None:
        raise UsageError(
            f"{resource.logical_id} is not managed by samlink: {resource.reason}",
            "`samlink status` lists the resources samlink builds",
        )
    target = target_for(resource.runtime, resource.architecture)
    dest = artifacts_dir / "python" if resource.kind == "layer" else artifacts_dir
    report = BuildReport(resource.logical_id, dest)
    reqs = _read_requirements(resource.code_dir)
    linked = [] if options.release else linked_projects(resource, project_dir, reqs, target)
    # Release with --allow-local: local lines are installed as real files, from wheels built
    # from copies; their dependencies go through the store like anyone else's.
    vendored = local_projects(project_dir, reqs) if options.release and options.allow_local else []
    spec = install_spec(reqs, linked + vendored, target, options)
    installer = resolve_installer(options.installer)
    dest.mkdir(parents=True, exist_ok=True)
    _entry, report.files = Store().provide(spec, target, installer, dest, refresh=options.refresh)
    for project in linked:
        _remove_installed(dest, project.info.name)
        report.materialized += _link_project(project, dest)
        report.linked.append(project)
    for project in vendored:
        _remove_installed(dest, project.info.name)
        report.files += vendor(project.info.root, target, dest)
    report.code_links = _place_code(resource.code_dir, dest, release=options.release)
    report.seconds = time.monotonic() - started
    _write_record(project_dir, resource, report, reqs, release=options.release)
    return report


def linked_projects(
    resource: Resource, project_dir: Path, reqs: requirements.RequirementsFile, target: Target
) -> list[LinkedProject]:
    """The local projects that reach this resource: registry links and seed-style `-e` lines."""
    env = requirements.target_environment(target.python_version, target.machine)
    wanted: dict[str, frozenset[str]] = {}
    for line in reqs.lines:
        if (
            line.requirement is not None
            and line.path is None
            and requirements.applies(line.requirement.marker, env, frozenset())
        ):
            name = canonicalize_name(line.requirement.name)
            wanted[name] = wanted.get(name, frozenset()) | frozenset(line.requirement.extras)
    found: dict[str, LinkedProject] = {}
    for link in links.load(project_dir):
        if link.functions and resource.logical_id not in link.functions:
            continue
        if not link.functions and link.key not in wanted:
            continue
        if not link.path.is_dir():
            raise UsageError(
                f"linked project {link.name} at {link.path} is gone",
                f"`samlink unlink {link.name}`, or restore the checkout",
            )
        info = links.inspect_cached(project_dir, link.path)
        if canonicalize_name(info.name) != link.key:
            raise UsageError(
                f"{link.path} is now {info.name}, linked as {link.name}",
                f"`samlink unlink {link.name}` and link it again",
            )
        found[link.key] = LinkedProject(info, "link", wanted.get(link.key, frozenset()))
    for project in local_projects(project_dir, reqs):
        found.setdefault(canonicalize_name(project.info.name), project)
    return list(found.values())


def local_projects(project_dir: Path, reqs: requirements.RequirementsFile) -> list[LinkedProject]:
    """The local projects that requirements lines name (`-e ./lib`, `./lib`, `file://`)."""
    found: list[LinkedProject] = []
    for line in reqs.local_lines:
        assert line.path is not None
        if not is_python_project(line.path):
            raise UsageError(
                f"{line.where}: {line.path} is not a Python project",
                "point the line at a folder with pyproject.toml, setup.py or setup.cfg",
            )
        info = links.inspect_cached(project_dir, line.path)
        found.append(LinkedProject(info, f"{line.file.name}:{line.lineno}"))
    return found


def install_spec(
    reqs: requirements.RequirementsFile,
    linked: list[LinkedProject],
    target: Target,
    options: Options,
) -> InstallSpec:
    """What goes into the store: third-party lines plus linked projects' own dependencies."""
    env = requirements.target_environment(target.python_version, target.machine)
    linked_names = {canonicalize_name(p.info.name) for p in linked}
    lines: set[str] = set()
    for line in reqs.lines:
        if line.path is not None:
            if options.release and not options.allow_local:
                raise UsageError(
                    f"{line.where}: local project {line.path} in a release build",
                    "pin a released version, or pass --allow-local to vendor a copy",
                )
            # Never the path itself: an installer builds in place and writes into the checkout.
            # The project comes in as `linked` (vendored in a release), with its dependencies.
            continue
        assert line.requirement is not None
        if canonicalize_name(line.requirement.name) in linked_names:
            continue
        lines.add(requirements.normalized(line.requirement))
    for project in linked:
        for text in project.info.requires:
            dependency = Requirement(text)
            if canonicalize_name(dependency.name) in linked_names:
                continue
            if requirements.applies(dependency.marker, env, project.extras):
                lines.add(requirements.without_marker(dependency))
    constraints = tuple(
        sorted(
            requirements.normalized(c.requirement)
            for c in reqs.constraints
            if c.requirement is not None
            and canonicalize_name(c.requirement.name) not in linked_names
        )
    )
    from_file = IndexOptions(
        index_url=reqs.index_url,
        extra_index_urls=reqs.extra_index_urls,
        find_links=reqs.find_links,
        no_index=reqs.no_index,
        trusted_hosts=reqs.trusted_hosts,
        pre=reqs.pre,
    )
    index = merge_index(from_file, pip_configuration())
    return InstallSpec(requirements=tuple(sorted(lines)), constraints=constraints, index=index)


def _read_requirements(code_dir: Path) -> requirements.RequirementsFile:
    path = code_dir / "requirements.txt"
    if not path.is_file():
        return requirements.RequirementsFile()
    return requirements.parse(path)


def vendor(root: Path, target: Target, dest: Path) -> int:
    """Install a local project into `dest` as real files, from a wheel built from a temp copy."""
    with tempfile.TemporaryDirectory(prefix="samlink-vendor-") as tmp:
        work = Path(tmp)
        # A copy, as for `samlink link`: backends write egg-info, build/ and caches where they run.
        wheel = build_wheel(copy_for_build(root, work / "tree"), work / "out", root)
        with zipfile.ZipFile(wheel) as archive:
            written = _unpack_wheel(archive, dest)
    check_wheel_tags(dest, target)  # a wheel built here with native code is for this host
    return written


def _unpack_wheel(archive: zipfile.ZipFile, dest: Path) -> int:
    rows: list[str] = []
    info_dir = ""
    for member in archive.infolist():
        name = member.filename
        top, _, rest = name.partition("/")
        if top.endswith(".data"):
            kind, _, rest = rest.partition("/")
            if kind not in ("purelib", "platlib"):
                continue  # scripts, headers, data files: nothing a function imports
            name = rest
        elif top.endswith(".dist-info"):
            info_dir = top
            if rest in ("RECORD", "INSTALLER") or rest.startswith("RECORD."):
                continue
        if member.is_dir() or not name or name.startswith("/") or ".." in name.split("/"):
            continue
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        data = archive.read(member)
        if target.exists() or target.is_symlink():
            target.unlink()  # may be a hard link into the store
        target.write_bytes(data)
        if member.external_attr >> 16 & 0o111:
            target.chmod(0o755)
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        rows.append(f"{name},sha256={digest},{len(data)}")
    if info_dir:
        (dest / info_dir / "INSTALLER").write_text("samlink\n", encoding="utf-8")
        rows += [f"{info_dir}/INSTALLER,,", f"{info_dir}/RECORD,,"]
        (dest / info_dir / "RECORD").write_text("".join(f"{row}\n" for row in rows), "utf-8")
    return len(rows)


def _remove_installed(dest: Path, name: str) -> None:
    """Drop an installed copy of a linked distribution (pulled in as someone else's dependency)."""
    key = canonicalize_name(name)
    for info in dest.glob("*.dist-info"):
        if canonicalize_name(info.name.rsplit("-", 1)[0]) != key:
            continue
        record = info / "RECORD"
        if record.is_file():
            for row in record.read_text(encoding="utf-8").splitlines():
                relative = row.split(",", 1)[0]
                target = dest / relative
                # Unlinking a hard link leaves the store's copy alone.
                if relative and not relative.startswith("..") and target.is_file():
                    target.unlink()
        shutil.rmtree(info)


def _link_project(project: LinkedProject, dest: Path) -> list[str]:
    """Top-level links to a linked project's import packages, plus its dist-info."""
    info = project.info
    materialized: list[str] = []
    for root in info.imports:
        if root.kind == "namespace":
            materialized += _place_namespace(info, root.name, root.source, root.path_root, dest)
            continue
        _replace_with_link(dest / root.name, root.source)
    _write_dist_info(info, dest)
    return materialized


def _place_namespace(
    info: ProjectInfo, name: str, source: Path, path_root: Path, dest: Path
) -> list[str]:
    if path_root.resolve() != info.root.resolve():
        # src layout: the source root holds only the project's packages, so it may be exposed,
        # under a name no import can reach, and put on sys.path by a relative .pth line.
        alias = f"_samlink-{canonicalize_name(info.name)}"
        _replace_with_link(dest / alias, path_root)
        atomicfile.write_text(dest / f"{alias}.pth", alias + "\n")
        return []
    # Flat layout: the source root is the project root (.git, tests...): copy real files instead.
    copied = []
    for file in _walk_sources(source):
        relative = file.relative_to(path_root)
        target = dest / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists() or target.is_symlink():
            target.unlink()
        shutil.copy2(file, target)
        copied.append(str(relative))
    return [f"{name} ({len(copied)} files copied from {source})"]


def _walk_sources(root: Path) -> Iterable[Path]:
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != "__pycache__" and not d.startswith(".")]
        for name in files:
            if not name.endswith(_SKIP_SUFFIXES):
                yield Path(folder) / name


def _write_dist_info(info: ProjectInfo, dest: Path) -> None:
    name = canonicalize_name(info.name).replace("-", "_")
    folder = dest / f"{name}-{info.version}.dist-info"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "METADATA").write_text(info.metadata, encoding="utf-8")
    (folder / "INSTALLER").write_text("samlink\n", encoding="utf-8")
    (folder / "RECORD").write_text(
        "".join(f"{folder.name}/{f},,\n" for f in ("METADATA", "INSTALLER", "RECORD")),
        encoding="utf-8",
    )


def _replace_with_link(path: Path, target: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)
    path.symlink_to(target)


def code_entries(code_dir: Path) -> list[Path]:
    """The top-level entries of a code dir that belong in its build."""
    entries = []
    for entry in sorted(code_dir.iterdir()):
        name = entry.name
        if name.startswith(".") or name in _SKIP_NAMES or name.startswith("requirements"):
            continue
        if name.endswith(_SKIP_SUFFIXES) or name.startswith(("template.", "Makefile")):
            continue
        if entry.is_dir() and ((entry / "pyvenv.cfg").exists() or is_python_project(entry)):
            continue
        entries.append(entry)
    return entries


def _place_code(code_dir: Path, dest: Path, *, release: bool) -> list[str]:
    placed = []
    for entry in code_entries(code_dir):
        target = dest / entry.name
        if release:
            if target.is_symlink() or target.is_file():
                target.unlink()
            elif target.is_dir():
                shutil.rmtree(target)
            if entry.is_dir():
                shutil.copytree(
                    entry, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
                )
            else:
                shutil.copy2(entry, target)
        else:
            _replace_with_link(target, entry.resolve())
        placed.append(entry.name)
    return placed


def _write_record(
    project_dir: Path,
    resource: Resource,
    report: BuildReport,
    reqs: requirements.RequirementsFile,
    *,
    release: bool,
) -> None:
    """What this build used, so `status` and `invoke` can tell when it is stale."""
    record = {
        "resource": resource.logical_id,
        "dest": str(report.dest),
        "built": time.time(),
        "release": release,
        "requirements": {str(p): _mtime(p) for p in reqs.files},
        "links": [
            {
                "name": p.info.name,
                "path": str(p.info.root),
                "origin": p.origin,
                "fingerprint": p.info.fingerprint,
            }
            for p in report.linked
        ],
        "code": report.code_links,
        "materialized": report.materialized,
    }
    path = links.state_dir(project_dir) / "builds" / f"{resource.logical_id}.json"
    try:
        atomicfile.write_text(path, json.dumps(record, indent=2) + "\n")
    except OSError as exc:  # a read-only project (e.g. in a container): the build itself is fine
        print(f"samlink: could not record the build in {path}: {exc}", file=sys.stderr)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def summary(report: BuildReport, code_dir: Path, *, mode: str) -> str:
    """The lines a build prints at its end (make's output reaches the `sam build` user).

    `mode` is "dev", "release" or "sync" (a dev build that `samlink sync` uploads as files).
    """
    name = report.resource
    lines = [f"samlink: {name}: {report.files} dependency files in {report.seconds:.2f}s"]
    if mode == "release":
        lines.append(f"samlink: {name}: RELEASE build, real files only")
        return "\n".join(lines)
    if mode == "sync":
        linked = ", ".join(p.info.name for p in report.linked) or "no linked library"
        lines.append(
            f"samlink: {name}: SYNC build for a dev stack: the function code and {linked}, "
            "as they are on this machine now"
        )
        return "\n".join(lines)
    lines.append(
        f"samlink: {name}: DEV BUILD with live links to this machine's files "
        "(`sam deploy` would ship them as they are now):"
    )
    if report.code_links:
        lines.append(f"samlink:   function code -> {code_dir}")
    for project in report.linked:
        lines.append(f"samlink:   {project.info.name} -> {project.info.root} ({project.origin})")
    for item in report.materialized:
        lines.append(f"samlink:   copied, not live (refresh with `samlink watch`): {item}")
    lines.append(
        "samlink: `sam local invoke` mounts these links (mount_symlinks, SAM >= 1.134); "
        "`sam local start-api`/`start-lambda` cannot: use `samlink invoke` there"
    )
    lines.append("samlink: to deploy, build with SAMLINK_RELEASE=1 and run `samlink check`")
    return "\n".join(lines)
