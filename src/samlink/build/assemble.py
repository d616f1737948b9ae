"""One build dir: third-party deps from the store, linked projects as live links, the code.

Rules (DESIGN.md, FACTS.md): only TOP-LEVEL entries of a function's build dir are links (what
`sam local invoke --mount-symlinks` mounts); link package dirs, never a project root (zips follow
links); a namespace package gets an unimportable top-level link to its source root plus a relative
`.pth` line, or real files when that root is the project root itself.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import os
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from samlink import __version__, atomicfile
from samlink.build import declared, installer, ship, store, tree, wheel_file
from samlink.build import plan as plans
from samlink.build.installer import (
    IndexOptions,
    Installer,
    InstallSpec,
    check_wheel_tags,
    merge_index,
    pip_configuration,
    resolve_installer,
)
from samlink.build.store import Entry, Store
from samlink.build.tree import Op
from samlink.errors import UsageError
from samlink.model import links, requirements
from samlink.model.project import (
    ProjectInfo,
    build_wheel,  # the same wheel build as `samlink link`
    copy_for_build,
    is_python_project,
)
from samlink.model.target import Target, target_for
from samlink.model.template import Resource

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
        "uv.lock",  # a lock is a build input, as requirements files are
        "poetry.lock",
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
    origin: str  # "link", the requirements line that asked for it ("requirements.txt:3"), or
    # the declaration in pyproject.toml ("pyproject.toml (uv)", declared.origin_of)
    extras: frozenset[str] = frozenset()

    @property
    def declared(self) -> bool:
        """Declared in pyproject.toml: the lock already pins its third-party dependencies."""
        return self.origin.startswith("pyproject.toml")


@dataclass
class BuildReport:
    resource: str
    dest: Path
    files: int = 0
    linked: list[LinkedProject] = field(default_factory=list)
    code_links: list[str] = field(default_factory=list)
    materialized: list[str] = field(default_factory=list)
    seconds: float = 0.0
    root: Path | None = None  # the project root (ship.project_root)
    kind: str = "function"  # or "layer"
    warnings: list[str] = field(default_factory=list)  # said in the summary, replays included


def build(
    resource: Resource,
    project_dir: Path,
    artifacts_dir: Path,
    options: Options,
    *,
    template: Path | None = None,
) -> BuildReport:
    """Fill `artifacts_dir` for one function or layer.

    With `template` (the resolved path the resource comes from), the build also leaves a plan
    that `samlink.build.plan` replays while none of the build's inputs change.
    """
    started = time.monotonic()
    started_ns = time.time_ns()
    if template is not None:
        # A build that fails, or cannot be replayed, must not leave an older plan behind.
        plans.drop_plan(str(project_dir), resource.logical_id)
    if not resource.managed or resource.code_dir is None or resource.runtime is None:
        raise UsageError(
            f"{resource.logical_id} is not managed by samlink: {resource.reason}",
            "`samlink status` lists the resources samlink builds",
        )
    target = target_for(resource.runtime, resource.architecture)
    dest = artifacts_dir / "python" if resource.kind == "layer" else artifacts_dir
    report = BuildReport(resource.logical_id, dest, kind=resource.kind)
    inputs = declared.read(resource.code_dir, target)
    reqs = inputs.requirements
    # A cold build (the plan's stamp covers the lock); the tool runs only when a pyproject.toml
    # or the lock changed since its last answer.
    problem = declared.lock_problem(inputs, memo_dir=links.state_dir(project_dir))
    if problem and options.release:
        raise UsageError(
            f"{resource.logical_id}: {problem}",
            "a release builds exactly what the lock says: lock again and commit the lock",
        )
    if problem:
        report.warnings.append(
            f"{resource.logical_id}: {problem}; this dev build follows the lock as it is "
            "(samlink never rewrites it)"
        )
    linked = [] if options.release else linked_projects(resource, project_dir, reqs, target)
    # Declared sources that `samlink unlink NAME` turned off build as real copies, as in release.
    unlinked = links.load_unlinked(project_dir) if linked else frozenset()
    copies = [p for p in linked if p.declared and canonicalize_name(p.info.name) in unlinked]
    linked = [p for p in linked if p not in copies]
    for project in linked:
        excluded = links.python_excluded(project.info, resource.runtime)
        if excluded:
            # In the summary, on stdout: SAM shows make's stdout, its stderr only on a failure,
            # and a replayed build prints its plan's summary again.
            report.warnings.append(f"{resource.logical_id}: {excluded}: it may fail to import")
    for clash in links.import_clashes([project.info for project in linked]):
        origins = {canonicalize_name(p.info.name): p.origin for p in linked}
        both = [canonicalize_name(name) for name in (clash.first, clash.second)]
        registered = [name for name in both if origins[name] == "link"]
        raise UsageError(
            f"{resource.logical_id}: {clash.describe()}: one would silently hide the other",
            f"`samlink unlink {registered[-1]}` (or link each to other functions with --function)"
            if registered
            else f"keep one of the lines {origins[both[0]]} and {origins[both[1]]}",
        )
    # Release with --allow-local: local lines are installed as real files, from wheels built
    # from copies; their dependencies go through the store like anyone else's. A lock's local
    # sources are declared: a release always vendors them.
    vendored = copies
    if options.release:
        vendored = [
            p for p in local_projects(project_dir, reqs) if options.allow_local or p.declared
        ]
    spec = install_spec(reqs, linked + vendored, target, options)
    tool = resolve_installer(options.installer)
    dest.mkdir(parents=True, exist_ok=True)
    entry, report.files = Store().provide(spec, target, tool, dest, refresh=options.refresh)
    # Every later step is an Op, applied by the same code that replays a plan.
    steps: list[Op] = []
    for project in linked:
        ops = _removal_ops(dest, project.info.name) + _project_ops(project)
        report.materialized += tree.apply(str(dest), ops)
        steps += ops
        report.linked.append(project)
    sam_cwd = os.environ.get(ship.SAM_CWD_ENV) or os.environ.get("PWD")
    report.root = ship.project_root(template or project_dir / "template.yaml", sam_cwd)
    for project in vendored:
        # A wheel backend would follow the checkout's links into the release: the rule first.
        for top, boundary in ship.package_tops(project.info, report.root):
            ship.files_to_ship(top, boundary)
        tree.apply(str(dest), _removal_ops(dest, project.info.name))
        report.files += vendor(project.info.root, target, dest)
    code_ops = _code_ops(resource.code_dir, release=options.release, root=report.root)
    tree.apply(str(dest), code_ops)
    steps += code_ops
    report.code_links = [op[1] for op in code_ops]
    report.seconds = time.monotonic() - started
    record = _write_record(project_dir, resource, report, reqs, release=options.release)
    if template is not None and record is not None and not vendored:
        plan = _plan(
            template,
            project_dir,
            resource,
            report,
            reqs,
            spec,
            tool,
            entry,
            steps,
            release=options.release,
        )
        if plan is not None:
            plan["record"] = record
            plan["stamp"] = plans.make_stamp(plan.pop("inputs"), started_ns)
            _save_plan(project_dir, entry, plan)
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
            and (line.path is None or declared.origin_of(line) is not None)
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
    """The local projects that requirements lines name (`-e ./lib`, `./lib`, `file://`), and
    the local sources a lock declares (workspace members, path sources), transitively."""
    found: list[LinkedProject] = []
    for line in reqs.local_lines:
        assert line.path is not None
        origin = declared.origin_of(line)
        if origin is not None:
            found.append(LinkedProject(links.inspect_cached(project_dir, line.path), origin))
            continue
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
    hashes: dict[str, set[str]] = {}  # line -> its --hash values (pip: verify them all)
    pins: dict[str, Requirement] = {}  # name -> its hashed line
    for line in reqs.lines:
        if line.path is not None:
            if options.release and not options.allow_local and not declared.origin_of(line):
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
        if line.wheel is not None and requirements.applies(
            line.requirement.marker, env, frozenset()
        ):
            wheel_file.check(line, target)  # tags and --hash, before anything is installed
        if declared.origin_of(line) is None:
            text = requirements.normalized(line.requirement)
        else:  # a lock's pin: its marker holds for the target (declared.read evaluated it)
            text = requirements.without_marker(line.requirement)
        lines.add(text)
        if line.hashes:
            hashes.setdefault(text, set()).update(line.hashes)
            pins[canonicalize_name(line.requirement.name)] = line.requirement
    for project in linked:
        if project.declared:
            continue  # the lock pins its dependencies (and theirs): hash mode stays whole
        for text in project.info.requires:
            dependency = Requirement(text)
            if canonicalize_name(dependency.name) in linked_names:
                continue
            if requirements.applies(dependency.marker, env, project.extras):
                pin = pins.get(canonicalize_name(dependency.name))
                if requirements.satisfied_by_pin(dependency, pin):
                    continue  # a hashed pin of the file installs it: hash mode stays whole
                lines.add(requirements.without_marker(dependency))
    constraints = []
    for c in reqs.constraints:
        if c.requirement is None or canonicalize_name(c.requirement.name) in linked_names:
            continue
        text = requirements.normalized(c.requirement)
        constraints.append(text)
        if c.hashes:
            hashes.setdefault(text, set()).update(c.hashes)
    from_file = IndexOptions(
        index_url=reqs.index_url,
        extra_index_urls=reqs.extra_index_urls,
        find_links=reqs.find_links,
        no_index=reqs.no_index,
        trusted_hosts=reqs.trusted_hosts,
        pre=reqs.pre,
    )
    index = merge_index(from_file, pip_configuration())
    return InstallSpec(
        requirements=tuple(sorted(lines)),
        constraints=tuple(sorted(constraints)),
        index=index,
        hashes=tuple((text, tuple(sorted(found))) for text, found in sorted(hashes.items())),
        require_hashes=reqs.require_hashes,
    )


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


def _removal_ops(dest: Path, name: str) -> list[Op]:
    """Dropping an installed copy of a linked distribution (pulled in as someone's dependency)."""
    key = canonicalize_name(name)
    ops: list[Op] = []
    for info in sorted(dest.glob("*.dist-info")):
        if canonicalize_name(info.name.rsplit("-", 1)[0]) != key:
            continue
        record = info / "RECORD"
        if record.is_file():
            for row in record.read_text(encoding="utf-8").splitlines():
                relative = row.split(",", 1)[0]
                if relative and not relative.startswith("..") and not os.path.isabs(relative):
                    ops.append(("unlink", relative))  # a hard link: the store's copy stays
        ops.append(("rmtree", info.name))
    return ops


def _project_ops(project: LinkedProject) -> list[Op]:
    """Top-level links to a linked project's import packages, plus its dist-info."""
    info = project.info
    ops: list[Op] = []
    for root in info.imports:
        if root.kind != "namespace":
            ops.append(("symlink", root.name, str(root.source)))
        elif root.path_root.resolve() != info.root.resolve():
            # src layout: the source root holds only the project's packages, so it may be
            # exposed, under a name no import can reach, and put on sys.path by a relative .pth.
            alias = f"_samlink-{canonicalize_name(info.name)}"
            ops += [
                ("symlink", alias, str(root.path_root)),
                ("write", f"{alias}.pth", alias + "\n"),
            ]
        else:
            # Flat layout: the source root is the project root (.git, tests...): real files.
            ops.append(("namespace", root.name, str(root.source), str(root.path_root)))
    folder = f"{canonicalize_name(info.name).replace('-', '_')}-{info.version}.dist-info"
    files = ("METADATA", "INSTALLER", "direct_url.json", "RECORD")
    record = "".join(f"{folder}/{f},,\n" for f in files)
    # PEP 610's mark of a live, editable install of a local checkout: `samlink check` finds a
    # dev or sync build's linked distribution by it (a release vendors real files, unmarked).
    direct_url = {"url": info.root.resolve().as_uri(), "dir_info": {"editable": True}}
    ops += [
        ("write", f"{folder}/METADATA", info.metadata),
        ("write", f"{folder}/INSTALLER", "samlink\n"),
        ("write", f"{folder}/direct_url.json", json.dumps(direct_url) + "\n"),
        ("write", f"{folder}/RECORD", record),
    ]
    return ops


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


def _code_ops(code_dir: Path, *, release: bool, root: Path) -> list[Op]:
    """The function's own code: linked (live) in dev builds, copied in release builds (by the
    rule of what may ship, within the project `root`)."""
    if release:
        return [("copy", entry.name, str(entry), str(root)) for entry in code_entries(code_dir)]
    return [("symlink", entry.name, str(entry.resolve())) for entry in code_entries(code_dir)]


def _write_record(
    project_dir: Path,
    resource: Resource,
    report: BuildReport,
    reqs: requirements.RequirementsFile,
    *,
    release: bool,
) -> dict[str, Any] | None:
    """What this build used, so `status` and `invoke` can tell when it is stale."""
    record = {
        "resource": resource.logical_id,
        "dest": str(report.dest),
        "built": time.time(),
        "release": release,
        # What the template said: a change of any of these needs a rebuild (build_state).
        "runtime": resource.runtime,
        "architecture": resource.architecture,
        "handler": resource.handler,
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
    path = Path(plans.record_path(str(project_dir), resource.logical_id))
    try:
        atomicfile.write_text(path, json.dumps(record, indent=2) + "\n")
    except OSError as exc:  # a read-only project (e.g. in a container): the build itself is fine
        print(f"samlink: could not record the build in {path}: {exc}", file=sys.stderr)
        return None
    return record


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def summary(report: BuildReport, code_dir: Path, *, mode: str) -> str:
    """The lines a build prints at its end (make's output reaches the `sam build` user).

    `mode` is "dev", "release" or "sync" (a dev build that `samlink sync` uploads as files).
    """
    data = summary_data(report, code_dir, release=mode == "release")
    return plans.render_summary(report.resource, data, mode=mode)


def summary_data(report: BuildReport, code_dir: Path, *, release: bool) -> dict[str, Any]:
    """What `plan.render_summary` and `plan.finish` need of a build."""
    return {
        "files": report.files,
        "seconds": report.seconds,
        "release": release,
        "code_dir": str(code_dir),
        "code_linked": bool(report.code_links),
        "code_links": list(report.code_links),
        "kind": report.kind,
        "linked": [(p.info.name, str(p.info.root), p.origin) for p in report.linked],
        "materialized": list(report.materialized),
        "root": str(report.root) if report.root else None,
        "warnings": list(report.warnings),
    }


# --- the plan a warm build replays (samlink.build.plan) -----------------------------------------


def _plan(
    template: Path,
    project_dir: Path,
    resource: Resource,
    report: BuildReport,
    reqs: requirements.RequirementsFile,
    spec: InstallSpec,
    tool: Installer,
    entry: Entry,
    steps: list[Op],
    *,
    release: bool,
) -> dict[str, Any] | None:
    """The plan of this build, with `inputs` still to be stamped; None when it cannot be
    replayed safely."""
    assert resource.code_dir is not None
    inputs = _stamp_inputs(template, project_dir, resource.code_dir, reqs, report, spec, tool)
    if inputs is None:
        return None
    inputs.append(("m", str(entry.manifest)))  # the entry itself: replaced means another tree
    env_extra = sorted(
        {name for file in reqs.files for name in requirements._ENV_VAR.findall(_text(file))}
    )
    expires = None
    if not store.is_pinned(spec):  # as the store: unpinned sets are re-resolved now and then
        expires = entry.created + store.ttl_hours() * 3600
    return {
        "format": plans.PLAN_FORMAT,
        "samlink": __version__,
        "prefix": sys.prefix,
        "template": str(template),
        "id": resource.logical_id,
        "kind": resource.kind,
        "env": plans.env_digest(os.environ, env_extra),
        "env_extra": env_extra,
        "inputs": inputs,
        "expires": expires,
        "tree": str(entry.path),
        "marker": str(entry.path.parent / "last-used"),
        # The project root when where `sam build` runs widened it (replay checks it still does).
        "cwd_root": None if report.root == ship.project_root(template) else str(report.root),
        "ops": steps,
        "summary": summary_data(report, resource.code_dir, release=release),
    }


def _stamp_inputs(
    template: Path,
    project_dir: Path,
    code_dir: Path,
    reqs: requirements.RequirementsFile,
    report: BuildReport,
    spec: InstallSpec,
    tool: Installer,
) -> list[tuple[str, str]] | None:
    """Every file and folder the build's result depends on (see plans.observe)."""
    if store._local_paths(spec):
        return None  # the store key hashes those trees whole: no cheap stamp
    inputs = [
        ("f", str(template)),
        ("f", str(links.state_dir(project_dir) / "links.json")),
        ("f", str(code_dir / "requirements.txt")),
        *[("f", str(p)) for p in reqs.files],
        *[("f", str(line.wheel)) for line in reqs.lines if line.wheel is not None],
        ("d", str(code_dir)),  # a new top-level file is a new link
        ("r", str(code_dir)),  # links point into the real code dir
    ]
    with os.scandir(code_dir) as it:  # a folder that becomes a project or a venv is left out
        for item in it:
            if not item.name.startswith(".") and item.is_dir():
                for name in ("pyvenv.cfg", "pyproject.toml", "setup.py", "setup.cfg"):
                    inputs.append(("f", os.path.join(item.path, name)))
    for project in report.linked:  # what project.fingerprint covers
        root = project.info.root
        inputs += [("d", str(root)), ("d", str(root / "src"))]
        inputs += [("f", str(root / name)) for name in ("pyproject.toml", "setup.cfg", "setup.py")]
    environ = os.environ
    inputs += [("f", str(p)) for p in installer._pip_config_files(environ)]
    if sys.platform == "darwin":
        home = Path(environ.get("HOME") or os.path.expanduser("~"))
        inputs.append(("f", str(home / "Library/Application Support/pip")))
    settings = installer.pip_settings()
    for key in ("find-links", "extra-index-url"):
        for value in settings.get(key, "").split():
            # pip skips locations that do not exist: one that appears changes the build.
            if value.startswith("file:"):
                inputs.append(("f", unquote(urlsplit(value).path)))
            elif "://" not in value:
                path = os.path.expanduser(value)
                if not os.path.isabs(path):
                    return None  # relative to the cwd, which is a new temp dir in every build
                inputs.append(("f", path))
    for location in spec.index.find_links:  # the store key lists these folders
        path = location.removeprefix("file://")
        if "://" not in path:
            inputs.append(("l", path))
    if tool.name == "uv" and tool.executable:
        inputs.append(("f", tool.executable))
    elif tool.name == "uv":
        return None
    else:
        found = importlib.util.find_spec("pip")
        if found is None or found.origin is None:
            return None
        inputs.append(("f", found.origin))
    return inputs


def _save_plan(project_dir: Path, entry: Entry, plan: dict[str, Any]) -> None:
    if plan["stamp"] is None:
        return  # an input changed while this build ran: the next build starts afresh
    try:
        manifest = json.loads(entry.manifest.read_bytes())
        if manifest["id"] != entry.build_id:
            return  # replaced under our feet (a refresh elsewhere)
        # Console scripts of entries made before the installer dropped them never ship.
        rows = [row for row in manifest["files"] if not ship.is_installer_script(row[1])]
        plan["top"], plan["halves"] = tree.split_tree(
            [row[1] for row in rows if row[0] == "d"], [row[1] for row in rows if row[0] == "f"]
        )
        plan["symlinks"] = [(row[1], row[2]) for row in rows if row[0] == "l"]
        plan["sealed"] = manifest["sealed_ns"]
        record = plans.record_path(str(project_dir), plan["id"])
        plan["record_stamp"] = plans.observe("f", record)
        plans.save_plan(str(project_dir), plan)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"samlink: could not save the build's plan: {exc}", file=sys.stderr)


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
