"""The link registry (`.samlink/links.json`, this machine only) and cached project inspections."""

from __future__ import annotations

import email.parser
import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name

from samlink import atomicfile
from samlink.errors import UsageError
from samlink.model.project import ImportRoot, ProjectInfo, fingerprint, inspect_project

STATE_DIR = ".samlink"
_FORMAT = 1


@dataclass(frozen=True)
class Link:
    """A local checkout that stands in for a distribution on this machine."""

    name: str  # PEP 503 normalized distribution name
    path: Path  # absolute
    functions: tuple[str, ...] = ()  # explicit resources; empty: those whose requirements name it

    @property
    def key(self) -> str:
        return canonicalize_name(self.name)


def state_dir(project_dir: Path) -> Path:
    return project_dir / STATE_DIR


def load(project_dir: Path) -> list[Link]:
    """The links of the project whose template lives in `project_dir`."""
    path = state_dir(project_dir) / "links.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (ValueError, OSError) as exc:
        raise _unreadable(path, str(exc)) from None
    items = data.get("links", []) if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise _unreadable(path, 'not an object with a "links" list')
    links = []
    for number, item in enumerate(items, 1):
        if not (
            isinstance(item, dict)
            and isinstance(item.get("name"), str)
            and isinstance(item.get("path"), str)
            and isinstance(item.get("functions", []), list)
            and all(isinstance(f, str) for f in item.get("functions", []))
        ):
            raise _unreadable(path, f"link {number} is not {{name, path, functions}} strings")
        try:
            where = (project_dir / item["path"]).resolve()
        except (OSError, RuntimeError) as exc:  # a link loop on the way
            raise _unreadable(path, f"link {number}: {exc}") from None
        links.append(
            Link(name=item["name"], path=where, functions=tuple(item.get("functions", [])))
        )
    return links


def _unreadable(path: Path, why: str) -> UsageError:
    return UsageError(
        f"{path}: unreadable link registry ({why})", "run `samlink unlink --all` and link again"
    )


def load_unlinked(project_dir: Path) -> frozenset[str]:
    """Declared local sources (pyproject.toml) that `samlink unlink NAME` turned off here: a dev
    build installs them as real copies instead of linking them."""
    path = state_dir(project_dir) / "links.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return frozenset()
    except (ValueError, OSError) as exc:
        raise _unreadable(path, str(exc)) from None
    names = data.get("unlinked", []) if isinstance(data, dict) else None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise _unreadable(path, '"unlinked" is not a list of names')
    return frozenset(canonicalize_name(name) for name in names)


def save(project_dir: Path, links: list[Link], unlinked: frozenset[str] | None = None) -> None:
    """Write the registry atomically; paths are kept relative to the project when they can be.

    `unlinked`: the declared sources turned off (None keeps the registry's current ones)."""
    if unlinked is None:
        try:
            unlinked = load_unlinked(project_dir)
        except UsageError:
            unlinked = frozenset()
    items = []
    for link in sorted(links, key=lambda item: item.key):
        items.append(
            {
                "name": link.key,
                "path": _relative(link.path, project_dir),
                "functions": list(link.functions),
            }
        )
    data: dict[str, Any] = {"format": _FORMAT, "links": items}
    if unlinked:
        data["unlinked"] = sorted(unlinked)
    text = json.dumps(data, indent=2) + "\n"
    registry = state_dir(project_dir) / "links.json"
    try:
        atomicfile.write_text(registry, text)
        _ensure_gitignore(state_dir(project_dir))
    except OSError as exc:
        raise UsageError(
            f"cannot write {registry}: {exc.strerror}",
            f"make {state_dir(project_dir)} writable (links are this machine's state)",
        ) from None


def inspect_cached(project_dir: Path, root: Path) -> ProjectInfo:
    """Inspect a local project, reusing the last result while its fingerprint is unchanged."""
    root = root.resolve()
    digest = hashlib.sha256(str(root).encode()).hexdigest()[:16]
    cache = state_dir(project_dir) / "projects" / f"{digest}.json"
    current = fingerprint(root)
    try:
        data = json.loads(cache.read_text(encoding="utf-8"))
        if data.get("fingerprint") == current and data.get("format") == _FORMAT:
            return _info_from_json(data)
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        pass
    info = inspect_project(root)
    try:
        atomicfile.write_text(cache, json.dumps(_info_to_json(info), indent=2) + "\n")
        _ensure_gitignore(state_dir(project_dir))
    except OSError:
        pass  # only a cache: a read-only or full project inspects again next time
    return info


def _info_to_json(info: ProjectInfo) -> dict[str, Any]:
    data = asdict(info)
    data["format"] = _FORMAT
    data["root"] = str(info.root)
    data["imports"] = [
        {**asdict(item), "source": str(item.source), "path_root": str(item.path_root)}
        for item in info.imports
    ]
    return data


def _info_from_json(data: dict[str, Any]) -> ProjectInfo:
    return ProjectInfo(
        root=Path(data["root"]),
        name=data["name"],
        version=data["version"],
        requires=tuple(data["requires"]),
        metadata=data["metadata"],
        imports=tuple(
            ImportRoot(
                name=item["name"],
                kind=item["kind"],
                source=Path(item["source"]),
                path_root=Path(item["path_root"]),
            )
            for item in data["imports"]
        ),
        unmapped=tuple(data["unmapped"]),
        fingerprint=data["fingerprint"],
        backend=data["backend"],
    )


def _relative(path: Path, start: Path) -> str:
    try:
        return os.path.relpath(path, start)
    except ValueError:  # another drive on Windows
        return str(path)


def _ensure_gitignore(directory: Path) -> None:
    # The state folder ignores itself, so it stays out of git even before `samlink init` runs.
    marker = directory / ".gitignore"
    if not marker.exists():
        atomicfile.write_text(
            marker, "# samlink's local state: links and caches of this machine\n*\n"
        )


@dataclass(frozen=True)
class Clash:
    """Two linked projects that provide the same importable name: one would silently hide the
    other (whichever the build lays down last, or whichever comes first on sys.path)."""

    module: str  # "pkg", or "acme.util" inside a namespace package both extend
    first: str  # distribution names, sorted
    second: str

    def describe(self) -> str:
        return f"{self.first} and {self.second} both provide the import package {self.module}"


def import_clashes(projects: list[ProjectInfo]) -> list[Clash]:
    """Every importable name that more than one of `projects` provides.

    Two projects may both extend a namespace package (PEP 420: `acme.util` and `acme.db`); they
    clash only where both put the same name inside it, or where one makes it a regular package.
    """
    owners: dict[str, list[tuple[str, ImportRoot]]] = {}
    for info in projects:
        for root in info.imports:
            owners.setdefault(_import_name(root), []).append((info.name, root))
    found: set[Clash] = set()
    for module, providers in owners.items():
        for i, (name_a, root_a) in enumerate(providers):
            for name_b, root_b in providers[i + 1 :]:
                if canonicalize_name(name_a) == canonicalize_name(name_b):
                    continue
                first, second = sorted((name_a, name_b))
                if root_a.kind == "namespace" and root_b.kind == "namespace":
                    inner = _namespace_children(root_a.source) & _namespace_children(root_b.source)
                    found.update(Clash(f"{module}.{child}", first, second) for child in inner)
                else:
                    found.add(Clash(module, first, second))
    return sorted(found, key=lambda c: (c.module, c.first, c.second))


def _import_name(root: ImportRoot) -> str:
    # A module is "mod.py" (or "mod.cpython-312-x86_64-linux-gnu.so"): it is imported as "mod".
    return root.name.split(".", 1)[0] if root.kind == "module" else root.name


def _namespace_children(folder: Path) -> set[str]:
    try:
        entries = list(folder.iterdir())
    except OSError:
        return set()
    names = set()
    for entry in entries:
        if entry.name == "__pycache__" or entry.name.startswith("."):
            continue
        if entry.is_dir():
            names.add(entry.name)
        elif entry.suffix in (".py", ".so", ".pyd"):
            names.add(entry.name.split(".", 1)[0])
    return names


def names_in_requirements(code_dir: Path, python_version: str, machine: str) -> set[str]:
    """Normalized names that a code dir's requirements.txt asks for on the given target (or,
    without one, that its pyproject.toml's lock gives it, local sources included). The lock is
    chosen as samlink.build.declared chooses it: a poetry.lock beside the pyproject unless a
    uv.lock is there too, else the uv workspace's."""
    from samlink.model import poetry_lock, requirements, uv_lock
    from samlink.model.target import Target

    path = code_dir / "requirements.txt"
    env = requirements.target_environment(python_version, machine)
    if not path.is_file():
        pyproject = code_dir / "pyproject.toml"
        if not pyproject.is_file():
            return set()
        if (code_dir / "poetry.lock").is_file() and not (code_dir / uv_lock.LOCK).is_file():
            architecture = "arm64" if machine == "aarch64" else "x86_64"
            answer = poetry_lock.export(
                pyproject, code_dir / "poetry.lock", Target(python_version, architecture)
            )
            named = [p.name for p in answer.packages] + [s.name for s in answer.local_sources]
            return {canonicalize_name(name) for name in named}
        return uv_lock.names(code_dir, env)
    parsed = requirements.parse(path)
    return {
        canonicalize_name(line.requirement.name)
        for line in parsed.lines
        if line.requirement is not None
        and line.path is None
        and requirements.applies(line.requirement.marker, env, frozenset())
    }


def reaches(link: Link, resources: list[Any]) -> list[str]:
    """IDs of the managed resources (samlink.model.template.Resource) that a link reaches."""
    found = []
    for resource in resources:
        if not resource.managed or resource.code_dir is None:
            continue
        if link.functions:
            if resource.logical_id in link.functions:
                found.append(resource.logical_id)
            continue
        version = (resource.runtime or "python3.12").removeprefix("python")
        machine = "aarch64" if resource.architecture == "arm64" else "x86_64"
        if link.key in names_in_requirements(resource.code_dir, version, machine):
            found.append(resource.logical_id)
    return found


def python_excluded(info: ProjectInfo, runtime: str | None) -> str | None:
    """Why the project's `Requires-Python` excludes `runtime` (e.g. python3.12), else None."""
    if runtime is None or not runtime.startswith("python"):
        return None
    declared = email.parser.HeaderParser().parsestr(info.metadata).get("Requires-Python")
    if not declared:
        return None
    try:
        spec = SpecifierSet(str(declared))
    except InvalidSpecifier:
        return None
    version = runtime.removeprefix("python")
    # Lambda runs some patch release of the runtime's version: any of them will do.
    if any(spec.contains(f"{version}.{patch}", prereleases=True) for patch in range(100)):
        return None
    return f"{info.name} {info.version} requires Python {spec}, not {version} ({runtime})"
