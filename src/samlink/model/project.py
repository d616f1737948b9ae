"""Inspect a local Python project of any PEP 517 backend: metadata and live import roots.

The only source of truth for what a project installs is the wheel its backend builds, so we
build one, from a temporary copy (backends write egg-info, `build/`, caches and locks into the
tree they build), and map each file of the wheel back to the checkout.
"""

from __future__ import annotations

import configparser
import email.parser
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement

from samlink.errors import UsageError
from samlink.model import tomlfile

LEGACY_BACKEND = "setuptools.build_meta:__legacy__"

# Never copied, searched or fingerprinted: VCS data, tool caches and build output.
_SKIP_ANYWHERE = frozenset(
    [
        ".git",
        ".hg",
        ".svn",
        "__pycache__",
        ".tox",
        ".nox",
        "node_modules",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
    ]
)
# Only at the project root: a package may well be called `build` (pypa/build is src/build).
_SKIP_AT_ROOT = frozenset({"build", "dist"})
_EXTENSION_SUFFIXES = (".so", ".pyd", ".dylib", ".dll")
# Version-from-VCS plugins: these need git history, which the temporary copy lacks.
_VCS_MARKERS = (
    "setuptools_scm",
    "setuptools-scm",
    "hatch-vcs",
    "hatch_vcs",
    "versioningit",
    "dunamai",
    "dynamic-versioning",
    "dynamic_versioning",
    "setuptools-git-versioning",
    "use_scm_version",
    "pbr",
    "versioneer",
    'source = "vcs"',
    'source = "scm"',
)
# Inherited git state would point our git commands at the user's repository.
_GIT_ENV = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR", "GIT_OBJECT_DIRECTORY")


@dataclass(frozen=True)
class ImportRoot:
    """One top-level entry the wheel puts in site-packages, and where it lives in the checkout.

    `path_root` is `source.parent`; it is a working sys.path entry for `name` only when
    `source.name == name` (a backend may install a directory under another name).
    """

    name: str  # "pkg", "mod.py", or the namespace "acme"
    kind: str  # "package" | "module" | "namespace"
    source: Path  # the package dir / module file / namespace dir in the checkout
    path_root: Path  # the checkout dir that is the sys.path entry for it


@dataclass(frozen=True)
class ProjectInfo:
    """What a local project installs, as its build backend says."""

    root: Path
    name: str
    version: str
    requires: tuple[str, ...]  # Requires-Dist strings as in METADATA
    metadata: str  # full METADATA text
    imports: tuple[ImportRoot, ...]
    unmapped: tuple[str, ...]  # wheel files the live source cannot provide (generated, compiled)
    fingerprint: str
    backend: str


def is_python_project(path: Path) -> bool:
    """Whether `path` holds a buildable Python project (pyproject, setup.py or setup.cfg)."""
    if (path / "setup.py").is_file() or (path / "setup.cfg").is_file():
        return True
    pyproject = path / "pyproject.toml"
    if not pyproject.is_file():
        return False
    try:
        data = _parse_toml(pyproject)
    except UsageError:
        return True  # clearly meant as a project; inspection will report the broken file
    return "build-system" in data or "project" in data


def fingerprint(root: Path) -> str:
    """A cheap hash that changes when a project's metadata or layout may have changed."""
    digest = hashlib.sha256()
    for name in ("pyproject.toml", "setup.cfg", "setup.py"):
        try:
            content = (root / name).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            digest.update(f"{name}: absent\n".encode())
            continue
        digest.update(f"{name}: {len(content)}\n".encode())
        digest.update(content)
    for folder in (root, root / "src"):
        digest.update(f"{folder.name}:\n".encode())
        for name in _layout_names(folder, at_root=folder == root):
            digest.update(f"{name}\n".encode())
    return digest.hexdigest()


def quick_name(root: Path) -> str | None:
    """The distribution name a project declares statically, without building; None if unknown."""
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        try:
            data = _parse_toml(pyproject)
        except UsageError:
            return None
        project = data.get("project")
        if isinstance(project, dict):
            name = project.get("name")
            dynamic = project.get("dynamic") or []
            if isinstance(name, str) and name and "name" not in dynamic:
                return name
        poetry = data.get("tool", {}).get("poetry", {})
        if isinstance(poetry, dict) and isinstance(poetry.get("name"), str) and poetry["name"]:
            return str(poetry["name"])
    setup_cfg = root / "setup.cfg"
    if setup_cfg.is_file():
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read(setup_cfg, encoding="utf-8")
        except (configparser.Error, UnicodeDecodeError):
            return None
        name = parser.get("metadata", "name", fallback="").strip()
        if name and not name.startswith(("attr:", "file:")):
            return name
    return None


def inspect_project(root: Path) -> ProjectInfo:
    """Build a wheel from a copy of `root` and map what it installs back to the live checkout."""
    root = root.resolve()
    if not root.exists():
        raise UsageError(
            f"{root} does not exist", "give the path of a local checkout of the library"
        )
    if not root.is_dir() or not is_python_project(root):
        raise UsageError(
            f"{root} is not a Python project",
            "point at the folder that holds the library's pyproject.toml, setup.py or setup.cfg",
        )
    backend = _backend(root)
    current = fingerprint(root)
    with tempfile.TemporaryDirectory(prefix="samlink-inspect-") as tmp:
        work = Path(tmp)
        copy = copy_for_build(root, work / "tree")
        wheel = build_wheel(copy, work / "wheel", root)
        with zipfile.ZipFile(wheel) as archive:
            files = {
                info.filename: archive.read(info.filename)
                for info in archive.infolist()
                if not info.is_dir()
            }
    metadata = _metadata_text(files, wheel.name)
    name, version, requires = _parse_metadata(metadata, root)
    imports, unmapped = map_wheel(files, root)
    return ProjectInfo(
        root=root,
        name=name,
        version=version,
        requires=requires,
        metadata=metadata,
        imports=imports,
        unmapped=unmapped,
        fingerprint=current,
        backend=backend,
    )


def map_wheel(
    files: Mapping[str, bytes], root: Path
) -> tuple[tuple[ImportRoot, ...], tuple[str, ...]]:
    """Import roots of a wheel's files (path -> content) in checkout `root`, and unmapped files."""
    tree = _SourceTree.scan(root)
    groups: dict[str, dict[str, bytes]] = {}
    for path in sorted(files):
        top, sep, rest = path.partition("/")
        if top.endswith(".dist-info"):
            continue
        if top.endswith(".data"):
            groups.setdefault(path, {})  # scripts, headers, data: not importable, not linked
            continue
        groups.setdefault(top, {})
        if sep:
            groups[top][rest] = files[path]
    imports: list[ImportRoot] = []
    unmapped: list[str] = []
    for top, members in groups.items():
        if "/" in top:  # inside *.data/
            if top.split("/")[1] in ("purelib", "platlib"):
                unmapped.append(top)
            continue
        if not members:
            if top.endswith(".pth"):
                continue
            module = _map_module(top, files[top], tree) if top.endswith(".py") else None
            if module is None:
                unmapped.append(top)
            else:
                imports.append(module)
            continue
        found, missing = _map_directory(top, members, tree)
        if found is not None:
            imports.append(found)
        unmapped.extend(f"{top}/{member}" for member in missing)
    return tuple(imports), tuple(sorted(unmapped))


@dataclass(frozen=True)
class _SourceTree:
    root: Path
    files: frozenset[str]  # relative posix paths of every file we search
    dirs_by_file: Mapping[str, tuple[str, ...]]  # basename -> relative dirs holding it ("" = root)

    @classmethod
    def scan(cls, root: Path) -> _SourceTree:
        files: set[str] = set()
        dirs: dict[str, list[str]] = {}
        for rel_dir, names in _walk(root):
            for name in names:
                files.add(f"{rel_dir}/{name}" if rel_dir else name)
                dirs.setdefault(name, []).append(rel_dir)
        return cls(root, frozenset(files), {k: tuple(v) for k, v in dirs.items()})


def _map_directory(
    top: str, members: dict[str, bytes], tree: _SourceTree
) -> tuple[ImportRoot | None, list[str]]:
    # A backend may install any folder under any name, so the source is the folder under which
    # most of the wheel's files exist; a same-named, shallower folder wins a tie.
    sources = [m for m in members if not m.endswith(_EXTENSION_SUFFIXES)]
    votes: Counter[str] = Counter()
    for member in sources:
        parent, _, base = member.rpartition("/")
        for folder in tree.dirs_by_file.get(base, ()):
            if not parent:
                votes[folder] += 1
            elif folder == parent:
                votes[""] += 1
            elif folder.endswith("/" + parent):
                votes[folder[: -len(parent) - 1]] += 1
    eligible = [
        c for c in votes if c.rpartition("/")[2] == top or _same_files(c, members, sources, tree)
    ]
    if not eligible:
        return None, list(members)
    best = min(
        eligible,
        key=lambda c: (-votes[c], c.rpartition("/")[2] != top, c.count("/") if c else -1, c),
    )
    prefix = f"{best}/" if best else ""
    missing = [m for m in members if m not in sources or prefix + m not in tree.files]
    source = tree.root / best if best else tree.root
    kind = "package" if "__init__.py" in members else "namespace"
    return ImportRoot(name=top, kind=kind, source=source, path_root=source.parent), missing


def _same_files(
    folder: str, members: dict[str, bytes], sources: list[str], tree: _SourceTree
) -> bool:
    """Whether a folder of another name is, by content, the one the wheel installed."""
    # Empty __init__.py files are everywhere: a rename needs some real content to match.
    matched = 0
    for member in sources:
        path = f"{folder}/{member}" if folder else member
        if path not in tree.files:
            continue
        if (tree.root / path).read_bytes() != members[member]:
            return False
        matched += len(members[member])
    return matched > 0


def _map_module(name: str, content: bytes, tree: _SourceTree) -> ImportRoot | None:
    candidates = tree.dirs_by_file.get(name, ())
    if not candidates:
        return None

    def rank(folder: str) -> tuple[bool, int, str]:
        path = tree.root / folder / name
        same = path.read_bytes() == content
        return (not same, folder.count("/") + 1 if folder else 0, folder)

    folder = min(candidates, key=rank)
    source = tree.root / folder / name
    return ImportRoot(name=name, kind="module", source=source, path_root=source.parent)


def _walk(root: Path) -> Iterator[tuple[str, list[str]]]:
    """(relative dir, file names) for every folder we copy and search, root first."""
    pending = [""]
    while pending:
        rel = pending.pop()
        folder = root / rel if rel else root
        names: list[str] = []
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if _skipped(entry, at_root=not rel):
                continue
            if entry.is_dir(follow_symlinks=False):
                pending.append(f"{rel}/{entry.name}" if rel else entry.name)
            else:
                names.append(entry.name)
        yield rel, names


def _skipped(entry: os.DirEntry[str], *, at_root: bool) -> bool:
    name = entry.name
    if name in _SKIP_ANYWHERE or name.endswith(".egg-info") or (at_root and name in _SKIP_AT_ROOT):
        return True
    # A virtualenv, whatever its name.
    return entry.is_dir(follow_symlinks=False) and os.path.isfile(
        os.path.join(entry.path, "pyvenv.cfg")
    )


def _layout_names(folder: Path, *, at_root: bool) -> list[str]:
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(
        f"{e.name}/" if e.is_dir() else e.name
        for e in entries
        if not e.name.startswith(".") and not _skipped(e, at_root=at_root)
    )


def copy_for_build(root: Path, dest: Path) -> Path:
    """Copy the project for a build; returns the copy's project dir."""
    project = dest
    if _needs_vcs(root):
        project = _clone_history(root, dest) or dest
    project.mkdir(parents=True, exist_ok=True)
    for rel, names in _walk(root):
        source_dir = root / rel if rel else root
        target_dir = project / rel if rel else project
        target_dir.mkdir(exist_ok=True)
        for name in names:
            _copy_entry(source_dir / name, target_dir / name, root)
    return project


def _copy_entry(source: Path, target: Path, root: Path) -> None:
    if source.is_symlink():
        link = os.readlink(source)
        resolved = source.parent.joinpath(link).resolve()
        # Links that leave the project keep working in the copy only as absolute links.
        inside = resolved == root or root in resolved.parents
        os.symlink(link if inside else str(resolved), target)
        return
    shutil.copy2(source, target)


def _needs_vcs(root: Path) -> bool:
    for name in ("pyproject.toml", "setup.cfg", "setup.py"):
        try:
            text = (root / name).read_text(encoding="utf-8", errors="replace")
        except (FileNotFoundError, NotADirectoryError):
            continue
        if any(marker in text for marker in _VCS_MARKERS):
            return True
    return False


def _clone_history(root: Path, dest: Path) -> Path | None:
    """Give the copy the checkout's git history, so version-from-git plugins work.

    A shared clone reads the user's repository and writes only into `dest`; the copy's files then
    replace the clone's (empty) work tree. Returns the project dir inside the clone, or None when
    `root` is not in a git work tree.
    """
    git = shutil.which("git")
    if git is None:
        return None
    env = _clean_env()
    top = _git(git, ["-C", str(root), "rev-parse", "--show-toplevel"], env)
    if top is None:
        return None
    rel = root.relative_to(Path(top).resolve())
    if _git(git, ["clone", "--quiet", "--shared", "--no-checkout", top, str(dest)], env) is None:
        return None
    if _git(git, ["-C", str(dest), "reset", "--quiet"], env) is None:
        return None
    if rel.parts:
        # Files outside the project are not copied; without this git calls the tree dirty.
        listed = _git(git, ["-C", str(dest), "ls-files", "-z"], env) or ""
        outside = [p for p in listed.split("\0") if p and not Path(p).is_relative_to(rel)]
        subprocess.run(
            [git, "-C", str(dest), "update-index", "--skip-worktree", "-z", "--stdin"],
            input="\0".join(outside),
            text=True,
            env=env,
            capture_output=True,
            check=False,
        )
    return dest / rel


def _git(git: str, args: list[str], env: Mapping[str, str]) -> str | None:
    done = subprocess.run([git, *args], env=env, capture_output=True, text=True, check=False)
    return done.stdout.strip() if done.returncode == 0 else None


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _GIT_ENV}
    # Keep any git call in a build from refreshing an index as a side effect.
    env["GIT_OPTIONAL_LOCKS"] = "0"
    return env


def build_wheel(project: Path, out: Path, root: Path, tool: str | None = None) -> Path:
    """Build a wheel of `project` (a copy of `root`) into `out` with uv, or pip without uv."""
    command = _wheel_command(project, out, tool)
    done = subprocess.run(
        command, cwd=project, env=_clean_env(), capture_output=True, text=True, check=False
    )
    wheels = sorted(out.glob("*.whl")) if out.is_dir() else []
    if done.returncode != 0 or len(wheels) != 1:
        output = (done.stderr + "\n" + done.stdout).replace(str(project), str(root))
        raise UsageError(
            f"cannot build {root}: {_last_error(output) or 'the build backend made no wheel'}",
            "check that `uv build --wheel` (or `pip wheel`) works in that folder",
        )
    return wheels[0]


def _wheel_command(project: Path, out: Path, tool: str | None) -> list[str]:
    if tool in (None, "uv"):
        try:
            import uv

            uv_bin = uv.find_uv_bin()
        except (ImportError, FileNotFoundError):
            if tool == "uv":
                raise
        else:
            # --python: the running interpreter, so a requires-python that excludes it does not
            # make uv download one (pure-Python metadata does not depend on it).
            # --no-sources: [tool.uv.sources] paths are relative and would not resolve in a copy.
            flags = ["--wheel", "--no-sources", "--color", "never", "--no-progress"]
            return [
                uv_bin,
                "build",
                *flags,
                "--python",
                sys.executable,
                "-o",
                str(out),
                str(project),
            ]
    flags = ["--no-deps", "--disable-pip-version-check", "--no-color", "--progress-bar", "off"]
    return [sys.executable, "-m", "pip", "wheel", *flags, "-w", str(out), str(project)]


def _last_error(output: str) -> str:
    """The most telling line of a failed uv or pip build: the backend's own last words."""
    lines = [line.rstrip() for line in output.splitlines()]
    # pip: the backend's output sits between "[N lines of output]" and "[end of output]".
    ends = [i for i, line in enumerate(lines) if line.strip() == "[end of output]"]
    if ends:
        block = [line.strip() for line in lines[: ends[0]] if line.strip()]
        if block:
            return block[-1]
    # uv: backend output, then "error: ..." and "  cause: ..." lines.
    errors = [i for i, line in enumerate(lines) if line.startswith("error: ")]
    if errors:
        head, tail = lines[: errors[-1]], lines[errors[-1] :]
        causes = [i for i, line in enumerate(tail) if line.strip().startswith("cause: ")]
        if causes:
            cause = tail[causes[-1]].strip().removeprefix("cause: ")
            backend = [
                line.strip()
                for line in head
                if line.strip() and line.strip() != "Building wheel..."
            ]
            if cause.startswith("Call to `") and backend:
                return backend[-1]
            rest = [
                line.strip()
                for line in tail[causes[-1] + 1 :]
                if line.strip() and "|" not in line and not line.startswith("hint:")
            ]
            return f"{cause}: {rest[-1]}" if rest else cause
        return tail[0].removeprefix("error: ")
    meaningful = [line.strip() for line in lines if line.strip()]
    return meaningful[-1] if meaningful else ""


def _metadata_text(files: Mapping[str, bytes], wheel_name: str) -> str:
    found = [
        path for path in files if path.count("/") == 1 and path.endswith(".dist-info/METADATA")
    ]
    if len(found) != 1:
        raise UsageError(f"the wheel {wheel_name} has no single METADATA file", "")
    return files[found[0]].decode("utf-8")


def _parse_metadata(text: str, root: Path) -> tuple[str, str, tuple[str, ...]]:
    message = email.parser.HeaderParser().parsestr(text)
    name, version = message.get("Name"), message.get("Version")
    if not name or not version:
        raise UsageError(f"the metadata built from {root} has no name or version", "")
    requires = tuple(str(r).strip() for r in message.get_all("Requires-Dist") or [])
    for line in requires:
        try:
            Requirement(line)
        except InvalidRequirement as exc:
            raise UsageError(f"{root} declares an invalid dependency {line!r}: {exc}", "") from exc
    return str(name).strip(), str(version).strip(), requires


def _backend(root: Path) -> str:
    pyproject = root / "pyproject.toml"
    if not pyproject.is_file():
        return LEGACY_BACKEND
    system = _parse_toml(pyproject).get("build-system")
    backend = system.get("build-backend") if isinstance(system, dict) else None
    return backend if isinstance(backend, str) and backend else LEGACY_BACKEND


def _parse_toml(path: Path) -> dict[str, Any]:
    try:
        data = tomlfile.loads(path.read_text(encoding="utf-8"))
    except tomlfile.ERRORS as exc:
        raise UsageError(f"{path} is not valid TOML: {exc}", "fix the file and run again") from exc
    return data
