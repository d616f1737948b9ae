"""The release guard: find what of a developer's machine a deploy would ship.

Sources: `-e` and local-path lines in the requirements files samlink builds from, and template,
Makefile or SAM config drift from what `samlink init` writes. Built artifacts (the build dir):
links, `.pth` lines and editable finders that reach outside the build,
`direct_url.json` marked editable, host paths in files samlink wrote, native code that cannot load
in the function, and Lambda's unzipped size limit. The build dir is SAM's (samlink.build.location)
and must exist unless only sources are asked for; every pinned distribution must be in it, and
none linked from a live checkout (samlink.audit.pins).
"""

from __future__ import annotations

import difflib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import canonicalize_name

from samlink.audit import elf, leaks, pins
from samlink.build import adopt, location, makefile
from samlink.errors import UsageError
from samlink.model import requirements
from samlink.model.project import quick_name
from samlink.model.template import Resource, Template

# Lambda's quota for a function's code and all its layers, unzipped (250 MB).
SIZE_LIMIT = 262_144_000
SIZE_WARN_FRACTION = 0.8
SCHEMA_VERSION = 1
# Paths that exist in the Lambda sandbox: a .pth line or finder may point there.
_LAMBDA_ROOTS = ("/var/task", "/opt")
# Where a developer's or CI runner's files live; a path under one of these will not exist in Lambda.
_HOST_ROOTS = ("/home/", "/Users/", "/root/", "/tmp/", "/private/", "/var/folders/", "/mnt/")
_ABSOLUTE = re.compile(r"(?<![\w:/.~-])(/[^\s'\"<>,;()\[\]{}|`]+)")
_QUOTED_ABSOLUTE = re.compile(r"""['"](/[^'"\n]+)['"]""")
_PTH_IMPORT = re.compile(r"^import[ \t]+([A-Za-z_][\w.]*)")


@dataclass(frozen=True)
class Finding:
    """One thing that should not ship, where it is, and how to fix it."""

    code: str
    severity: str  # "error" | "warning"
    message: str
    fix: str
    file: Path | None = None
    line: int | None = None
    resource: str | None = None


@dataclass(frozen=True)
class SizeReport:
    """The unzipped size of a function with its layers, against Lambda's limit."""

    resource: str
    total: int
    parts: tuple[tuple[str, int], ...]  # (function or layer id, bytes)
    unknown_layers: tuple[str, ...]  # layers not built here (ARNs): not counted
    packages: tuple[tuple[str, int], ...]  # (package, bytes), largest first; only near the limit


@dataclass(frozen=True)
class CheckReport:
    """Everything `samlink check` found."""

    template: Path
    build_dir: Path | None  # None when there was no build to check
    findings: tuple[Finding, ...]
    sizes: tuple[SizeReport, ...]

    @property
    def errors(self) -> int:
        """How many findings fail the check."""
        return sum(1 for f in self.findings if f.severity == "error")

    @property
    def ok(self) -> bool:
        """Whether nothing of this machine would ship."""
        return self.errors == 0


def check(
    template: Template,
    *,
    build_dir: Path | None = None,
    sources_only: bool = False,
    allow_local: bool = False,
) -> CheckReport:
    """Run every check on a template's project and its build dir (`build_dir`, or where `sam
    build` puts it: `location.find_build_dir`); a UsageError when there is no build dir to read,
    unless `sources_only` asks for the source checks alone."""
    root = None if sources_only else location.find_build_dir(build_dir, template=template.path)
    if root is not None and not root.is_dir():
        other = location.beside(root, template.path)
        raise UsageError(
            f"no build dir at {location.shown(root)}: nothing proves what a deploy would ship",
            f"pass --build-dir {location.shown(other)} (`sam build` ran next to the template), "
            "or --sources-only"
            if other is not None
            else "build first (`SAMLINK_RELEASE=1 sam build`), or --sources-only for the source "
            "checks alone",
        )
    findings = requirement_findings(template, allow_local=allow_local)
    findings += drift_findings(template)
    findings += leak_findings(template)
    sizes: list[SizeReport] = []
    if root is not None:
        found, sizes = build_findings(template, root)
        findings += found
        findings += [_pin(problem) for problem in pins.problems(template, root)]
    else:
        findings += [_pin(problem) for problem in pins.declaration_problems(template)]
    return CheckReport(template.path, root, tuple(findings), tuple(sizes))


def _pin(problem: pins.Problem) -> Finding:
    return Finding(
        problem.code,
        "error",
        problem.message,
        problem.fix,
        problem.path,
        problem.line,
        problem.resource,
    )


# --- sources ---------------------------------------------------------------------------------


def requirement_findings(template: Template, *, allow_local: bool = False) -> list[Finding]:
    """`-e` and local-path lines in the requirements of every resource samlink builds."""
    findings: list[Finding] = []
    seen: set[tuple[Path, int]] = set()
    parsed: set[Path] = set()
    for resource in template.managed():
        assert resource.code_dir is not None
        path = resource.code_dir / "requirements.txt"
        if path in parsed or not path.is_file():
            continue
        parsed.add(path)
        try:
            reqs = requirements.parse(path)
        except UsageError as exc:
            findings.append(
                Finding("requirements-invalid", "error", exc.message, exc.hint, path, None)
            )
            continue
        for line in reqs.local_lines:
            if (line.file, line.lineno) in seen:
                continue
            seen.add((line.file, line.lineno))
            findings.append(_local_line_finding(line, resource, allow_local=allow_local))
    return findings


def _local_line_finding(
    line: requirements.Line, resource: Resource, *, allow_local: bool
) -> Finding:
    assert line.path is not None
    name = line.name or (quick_name(line.path) if line.path.is_dir() else None) or "the-library"
    where = os.path.relpath(line.path, line.file.parent)
    kind = "editable local project" if line.editable else "local project"
    if allow_local:
        return Finding(
            "editable-requirement" if line.editable else "local-requirement",
            "warning",
            f"{kind} {where}: a release build with --allow-local ships a copy of this "
            "machine's checkout",
            f"pin a released version (`{name}==X.Y`) when there is one",
            line.file,
            line.lineno,
            resource.logical_id,
        )
    return Finding(
        "editable-requirement" if line.editable else "local-requirement",
        "error",
        f"{kind} {where} in requirements: a deploy would ship this machine's checkout",
        f"pin a released version (`{name}==X.Y`) and develop with `samlink link {where}`",
        line.file,
        line.lineno,
        resource.logical_id,
    )


def initialized(template: Template) -> list[Resource]:
    """The resources samlink was set up for (all managed ones if none was)."""
    chosen = []
    for resource in template.managed():
        assert resource.code_dir is not None
        mk = resource.code_dir / "Makefile"
        text = mk.read_text(encoding="utf-8", errors="replace") if mk.is_file() else ""
        if resource.build_method == "makefile" or f"build-{resource.local_id}" in (
            makefile.own_targets(text)
        ):
            chosen.append(resource)
    return chosen or template.managed()


def drift_findings(template: Template) -> list[Finding]:
    """Everything `samlink init` would still change, one finding per file."""
    chosen = initialized(template)
    if not chosen:
        return []
    try:
        changes = adopt.plan(template, chosen, force=False)
    except UsageError as exc:
        return [Finding("makefile-drift", "error", exc.message, exc.hint)]
    findings = []
    for path, old, new in changes:
        findings.append(_drift(template, chosen, path, old, new))
    return findings


def _drift(template: Template, chosen: list[Resource], path: Path, old: str, new: str) -> Finding:
    line = _first_difference(old, new) if old else None  # None: the file does not exist
    # The root template, or a nested application's (each is edited in place).
    if path == template.path or any(r.template_path == path for r in chosen):
        pending = [
            r
            for r in chosen
            if r.build_method != "makefile" and (r.template_path or template.path) == path
        ]
        what = (
            f"{', '.join(r.logical_id for r in pending)} not on makefile builds"
            if pending
            else "resource metadata differs from what `samlink init` writes"
        )
        if pending and pending[0].line is not None:
            line = pending[0].line
        return Finding(
            "template-drift",
            "error",
            f"{what}: `sam build` would not run samlink for them",
            "run `samlink init` and commit the template",
            path,
            line,
        )
    if path.name == ".gitignore":
        return Finding(
            "gitignore-drift",
            "warning",
            ".samlink/ (this machine's links) is not git-ignored",
            "run `samlink init` and commit .gitignore",
            path,
            line,
        )
    if path.name in ("samconfig.toml", "samconfig.yaml", "samconfig.yml"):
        return Finding(
            "samconfig-drift",
            "warning",
            "mount_symlinks is not on for `sam local invoke`: linked code would not load there",
            "run `samlink init` and commit the SAM config",
            path,
            line,
        )
    missing = sorted(set(makefile.own_targets(new)) - set(makefile.own_targets(old)))
    what = (
        f"target(s) {', '.join(missing)} missing"
        if missing
        else "samlink's targets differ from what `samlink init` writes"
    )
    return Finding(
        "makefile-drift",
        "error",
        f"{what}: `sam build` would not build these resources as samlink plans",
        "run `samlink init` and commit the Makefile",
        path,
        line,
    )


def _first_difference(old: str, new: str) -> int | None:
    matcher = difflib.SequenceMatcher(a=old.splitlines(), b=new.splitlines(), autojunk=False)
    for tag, i1, _i2, _j1, _j2 in matcher.get_opcodes():
        if tag != "equal":
            return i1 + 1
    return 1


def leak_findings(template: Template) -> list[Finding]:
    """Links in the code dirs and linked packages that a sync upload or release may not follow
    (samlink.build.ship's rule, within the project `sam build` runs in: the current directory)."""
    return [_leak(leak) for leak in leaks.source_leaks(template, Path.cwd())]


def _leak(leak: leaks.Leak) -> Finding:
    return Finding(leak.code, "error", leak.message, leak.fix, leak.path, None, leak.resource)


# --- built artifacts -------------------------------------------------------------------------


def build_findings(template: Template, root: Path) -> tuple[list[Finding], list[SizeReport]]:
    """Findings in each resource dir of a SAM build dir, and each function's size."""
    findings: list[Finding] = []
    sizes: dict[str, int] = {}
    dirs = _build_dirs(template, root)
    for rid, folder in dirs:
        resource = template.resources.get(rid)
        findings += scan_tree(folder, rid, host_prefixes(template.path.parent))
        findings += [_leak(leak) for leak in leaks.build_leaks(folder, rid)]
        if resource is not None:
            findings += audit_native(folder, resource)
        sizes[rid] = tree_size(folder)
    reports = []
    for rid, _folder in dirs:
        resource = template.resources.get(rid)
        if resource is None or resource.kind != "function":
            continue
        report = size_report(resource, root, sizes)
        reports.append(report)
        findings += _size_findings(report)
    return findings, reports


def _build_dirs(template: Template, root: Path) -> list[tuple[str, Path]]:
    """Each resource dir of a build dir with the ID it is read as, by folder name: every folder
    at the top, and a nested application's resources where SAM puts them (App/Child/Fn)."""
    stacks = {stack.split("/", 1)[0] for stack in template.stacks if stack}
    found = [
        (p.name, p)
        for p in root.iterdir()
        if p.is_dir() and not p.is_symlink() and p.name not in stacks
    ]
    for resource in template.resources.values():
        folder = root / resource.logical_id
        if resource.stack and folder.is_dir() and not folder.is_symlink():
            found.append((resource.logical_id, folder))
    return sorted(found)


def scan_tree(folder: Path, resource: str, prefixes: tuple[str, ...]) -> list[Finding]:
    """Links, `.pth` lines, editable finders and editable installs that leave `folder`."""
    findings: list[Finding] = []
    helpers: set[str] = set()
    pth_files: list[Path] = []
    for path in _walk(folder):
        if path.is_symlink():
            findings += _link(path, folder, resource)
        elif path.suffix == ".pth":
            pth_files.append(path)
        elif (
            path.name == "direct_url.json"
            and path.parent.name.endswith(".dist-info")
            and pins.linked_checkout(path.parent) is None  # samlink's own: a `linked-dist`
        ):
            findings += _direct_url(path, resource)
        elif (
            path.name == "INSTALLER"
            and path.parent.name.endswith(".dist-info")
            and _read(path).strip() == "samlink"
        ):
            findings += _host_paths(path.parent, resource, prefixes)
    for pth in pth_files:
        found, imported = _pth(pth, folder, resource)
        findings += found
        helpers |= {str(pth.parent / f"{name.split('.')[0]}.py") for name in imported}
    for path in _walk(folder):
        if path.is_symlink() or not path.name.endswith(".py"):
            continue
        if str(path) in helpers or path.name.startswith("__editable__"):
            findings += _finder(path, folder, resource)
    return findings


def _walk(folder: Path) -> Iterator[Path]:
    """Every entry under `folder`, links included but not followed."""
    for dirpath, dirnames, filenames in os.walk(folder):
        base = Path(dirpath)
        for name in sorted(dirnames):
            if (base / name).is_symlink():
                yield base / name
        for name in sorted(filenames):
            yield base / name


def _link(path: Path, folder: Path, resource: str) -> list[Finding]:
    target = os.readlink(path)
    resolved = Path(os.path.realpath(path))
    if resolved.exists() and _inside(resolved, Path(os.path.realpath(folder))):
        return []
    state = "" if resolved.exists() else " (dangling)"
    return [
        Finding(
            "link",
            "error",
            f"link to {target}{state}: a deploy would ship this machine's files as they are now",
            "build for release: `SAMLINK_RELEASE=1 sam build`",
            path,
            None,
            resource,
        )
    ]


def _pth(pth: Path, folder: Path, resource: str) -> tuple[list[Finding], list[str]]:
    findings: list[Finding] = []
    imported: list[str] = []
    for lineno, raw in enumerate(_read(pth).splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(("import ", "import\t")):
            match = _PTH_IMPORT.match(line)
            if match:
                imported.append(match.group(1))
            outside = [p for p in _QUOTED_ABSOLUTE.findall(line) if not _in_build(p, folder)]
            if "__editable__" in line or outside:
                findings.append(
                    Finding(
                        "editable-finder",
                        "error",
                        f"editable install hook `{line[:80]}`"
                        + (f" reaches {outside[0]}" if outside else ""),
                        "build for release (`SAMLINK_RELEASE=1 sam build`); replace `-e` lines "
                        "with pinned versions",
                        pth,
                        lineno,
                        resource,
                    )
                )
            continue
        target = line if os.path.isabs(line) else os.path.normpath(pth.parent / line)
        if not _in_build(target, folder):
            findings.append(
                Finding(
                    "pth-path",
                    "error",
                    f".pth line {line} points outside the build: Lambda cannot import it",
                    "build for release (`SAMLINK_RELEASE=1 sam build`); replace `-e` lines "
                    "with pinned versions",
                    pth,
                    lineno,
                    resource,
                )
            )
    return findings, imported


def _finder(path: Path, folder: Path, resource: str) -> list[Finding]:
    where: tuple[int, str] | None = None
    for lineno, line in enumerate(_read(path).splitlines(), start=1):
        outside = [p for p in _QUOTED_ABSOLUTE.findall(line) if not _in_build(p, folder)]
        if outside:
            where = (lineno, outside[0])
            break
    if where is None and not path.name.startswith("__editable__"):
        return []
    return [
        Finding(
            "editable-finder",
            "error",
            "generated editable finder"
            + (f" maps to {where[1]}" if where else "")
            + ": Lambda cannot import it",
            "build for release (`SAMLINK_RELEASE=1 sam build`); replace `-e` lines "
            "with pinned versions",
            path,
            where[0] if where else None,
            resource,
        )
    ]


def _direct_url(path: Path, resource: str) -> list[Finding]:
    try:
        data = json.loads(_read(path))
    except ValueError:
        return []
    if not isinstance(data, dict):
        return []
    info = data.get("dir_info")
    if not (isinstance(info, dict) and info.get("editable") is True):
        return []
    dist = path.parent.name.removesuffix(".dist-info")
    return [
        Finding(
            "direct-url-editable",
            "error",
            f"{dist} is an editable install of {data.get('url', 'a local checkout')}",
            "replace the `-e` line with a pinned version, or build with SAMLINK_RELEASE=1",
            path,
            None,
            resource,
        )
    ]


def host_prefixes(project_dir: Path) -> tuple[str, ...]:
    """Path prefixes that only exist on this machine (or a CI runner)."""
    found = {str(project_dir.resolve()), str(Path.home()), tempfile.gettempdir()}
    found |= {p.rstrip("/") for p in _HOST_ROOTS}
    return tuple(sorted(p for p in found if p not in ("", "/")))


def _host_paths(dist_info: Path, resource: str, prefixes: tuple[str, ...]) -> list[Finding]:
    findings = []
    for path in sorted(dist_info.rglob("*")):
        # direct_url.json names the checkout of a link: reported as `linked-dist` (pins.py).
        if not path.is_file() or path.is_symlink() or path.name == "direct_url.json":
            continue
        for lineno, line in enumerate(_read(path).splitlines(), start=1):
            line = line.replace("file://", " ")  # file:///home/... is a host path too
            hits = [p for p in _ABSOLUTE.findall(line) if _under_any(p, prefixes)]
            if hits:
                findings.append(
                    Finding(
                        "host-path",
                        "error",
                        f"this machine's path {hits[0]} in a file samlink wrote",
                        "build for release: `SAMLINK_RELEASE=1 sam build`",
                        path,
                        lineno,
                        resource,
                    )
                )
                break
    return findings


def audit_native(folder: Path, resource: Resource) -> list[Finding]:
    """Native files that the resource's architecture and runtime could not load."""
    version = python_version(resource.runtime)
    if version is None or resource.architecture not in ("x86_64", "arm64"):
        return []
    runtime = f"python{version[0]}.{version[1]}"
    problems = elf.audit_tree(folder, resource.architecture, runtime_glibc(version), runtime)
    return [
        Finding(
            "native-code",
            "error",
            f"{problem.message}: it would not load in {resource.logical_id}",
            f"pin a version with a manylinux wheel for {runtime}/{resource.architecture}, "
            "and rebuild",
            problem.path,
            None,
            resource.logical_id,
        )
        for problem in problems
    ]


def runtime_glibc(version: tuple[int, int]) -> tuple[int, int]:
    """The glibc a Lambda Python runtime really has (AL2 up to 3.11, AL2023 from 3.12)."""
    # Not Target.glibc: builds stay at SAM's stricter 2.17 floor, but a file that needs 2.26
    # still loads on Amazon Linux 2, and the audit must only fail what would not load.
    return (2, 34) if version >= (3, 12) else (2, 26)


def python_version(runtime: str | None) -> tuple[int, int] | None:
    """python3.12 -> (3, 12); None for another runtime."""
    match = re.fullmatch(r"python(\d+)\.(\d+)", runtime or "")
    return (int(match[1]), int(match[2])) if match else None


# --- size ------------------------------------------------------------------------------------


def tree_size(folder: Path) -> int:
    """Bytes the zip of `folder` would unpack to: links followed, as SAM's zip helper does."""
    total = 0
    seen: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:  # a link loop: the zip helper would not end either
            dirnames[:] = []
            continue
        seen.add(real)
        for name in filenames:
            try:
                total += os.stat(os.path.join(dirpath, name)).st_size
            except OSError:
                continue  # a dangling link: reported by scan_tree
    return total


def size_report(function: Resource, root: Path, sizes: dict[str, int]) -> SizeReport:
    """A function's unzipped size with its layers; per-package sizes when near the limit."""
    parts = [(function.logical_id, sizes.get(function.logical_id, 0))]
    unknown = []
    for layer in function.layers:
        if layer in sizes:
            parts.append((layer, sizes[layer]))
        else:
            unknown.append(layer)
    total = sum(size for _, size in parts)
    packages: tuple[tuple[str, int], ...] = ()
    if total > SIZE_LIMIT * SIZE_WARN_FRACTION:
        found: dict[str, int] = {}
        for rid, _size in parts:
            for name, size in package_sizes(root / rid).items():
                label = name if rid == function.logical_id else f"{name} (layer {rid})"
                found[label] = found.get(label, 0) + size
        packages = tuple(sorted(found.items(), key=lambda item: (-item[1], item[0])))
    return SizeReport(function.logical_id, total, tuple(parts), tuple(unknown), packages)


def package_sizes(folder: Path) -> dict[str, int]:
    """Bytes per distribution (or top-level entry) in a function or layer build dir."""
    roots = [folder]
    if (folder / "python").is_dir():  # a layer
        roots = [
            folder / "python",
            *sorted((folder / "python" / "lib").glob("python*/site-packages")),
        ]
    sizes: dict[str, int] = {}
    for site in roots:
        owners = _owners(site)
        for entry in sorted(site.iterdir()):
            if site == folder / "python" and entry.name == "lib":
                continue  # counted through its site-packages
            name = owners.get(entry.name, entry.name)
            size = tree_size(entry) if entry.is_dir() else _file_size(entry)
            sizes[name] = sizes.get(name, 0) + size
    return sizes


def _owners(site: Path) -> dict[str, str]:
    """Top-level entry -> the distribution whose RECORD lists it."""
    owners: dict[str, str] = {}
    for info in sorted(site.glob("*.dist-info")):
        dist = canonicalize_name(info.name.removesuffix(".dist-info").rsplit("-", 1)[0])
        owners[info.name] = dist
        for row in _read(info / "RECORD").splitlines():
            top = row.split(",", 1)[0].split("/", 1)[0]
            if top and not top.startswith(".."):
                owners.setdefault(top, dist)
    return owners


def _size_findings(report: SizeReport) -> list[Finding]:
    megabytes = report.total / 1_048_576
    limit = SIZE_LIMIT / 1_048_576
    largest = ", ".join(f"{name} {size / 1_048_576:.1f} MB" for name, size in report.packages[:3])
    if report.total > SIZE_LIMIT:
        return [
            Finding(
                "size-limit",
                "error",
                f"{megabytes:.1f} MB unzipped with its layers, over Lambda's {limit:.0f} MB "
                f"(largest: {largest})",
                "drop or slim the largest packages, move some into a layer you do not "
                "build here, or use a container image",
                None,
                None,
                report.resource,
            )
        ]
    if report.packages:
        return [
            Finding(
                "size-near-limit",
                "warning",
                f"{megabytes:.1f} MB unzipped with its layers, {report.total / SIZE_LIMIT:.0%} "
                f"of Lambda's {limit:.0f} MB (largest: {largest})",
                "watch the largest packages before the next dependency pushes it over",
                None,
                None,
                report.resource,
            )
        ]
    return []


# --- helpers ---------------------------------------------------------------------------------


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _in_build(path: str | Path, folder: Path) -> bool:
    text = str(path)
    if any(text == root or text.startswith(root + "/") for root in _LAMBDA_ROOTS):
        return True
    return _inside(Path(os.path.normpath(text)), Path(os.path.normpath(folder)))


def _under_any(path: str, prefixes: tuple[str, ...]) -> bool:
    return any(path == p or path.startswith(p.rstrip("/") + "/") for p in prefixes)


# --- output ----------------------------------------------------------------------------------


def to_json(report: CheckReport) -> dict[str, object]:
    """The report as `samlink check --json` prints it (docs/schemas/check.schema.json)."""
    base = report.template.parent
    return {
        "version": SCHEMA_VERSION,
        "template": str(report.template),
        "build_dir": str(report.build_dir) if report.build_dir else None,
        "ok": report.ok,
        "errors": report.errors,
        "warnings": len(report.findings) - report.errors,
        "findings": [
            {
                "code": f.code,
                "severity": f.severity,
                "resource": f.resource,
                "file": display(f.file, base) if f.file else None,
                "line": f.line,
                "message": f.message,
                "fix": f.fix,
            }
            for f in report.findings
        ],
        "sizes": [
            {
                "resource": s.resource,
                "bytes": s.total,
                "limit": SIZE_LIMIT,
                "percent": round(100 * s.total / SIZE_LIMIT, 2),
                "parts": [{"resource": rid, "bytes": size} for rid, size in s.parts],
                "unknown_layers": list(s.unknown_layers),
                "packages": [{"name": name, "bytes": size} for name, size in s.packages],
            }
            for s in report.sizes
        ],
    }


def display(path: Path, base: Path) -> str:
    """A path relative to the project when it is inside it."""
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return str(path)
