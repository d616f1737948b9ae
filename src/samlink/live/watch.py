"""Watching linked sources: which files feed which resources.

`samlink sync` and `samlink watch` both need to know when a linked library really changed: an
edit, a new or removed file, never `__pycache__`, an editor's swap file or `.git`. The debounced,
noise-free watcher that tells them is samlink.build.watcher (re-exported here), shared with the
warm execution environments below this layer.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from samlink.build import assemble, declared
from samlink.build.watcher import Change, SourceWatcher, Watch
from samlink.model.target import target_for
from samlink.model.template import Resource, Template

__all__ = [
    "METADATA_FILES",
    "Change",
    "LinkedSource",
    "SourceWatcher",
    "Watch",
    "linked_sources",
    "resources_fed",
]

METADATA_FILES = ("pyproject.toml", "setup.cfg", "setup.py")


@dataclass(frozen=True)
class LinkedSource:
    """One path of a linked project that ends up in builds, and the resources it feeds."""

    project: str  # distribution name
    root: Path  # the project's checkout
    path: Path  # a package dir, a module file, or a metadata file (pyproject.toml...)
    kind: str  # "package" | "module" | "namespace" | "metadata"
    materialized: bool  # copied as real files into dev builds (a flat-layout namespace)
    resources: tuple[str, ...]

    def holds(self, path: Path) -> bool:
        return path == self.path or (self.kind != "module" and self.path in path.parents)


def linked_sources(template: Template) -> list[LinkedSource]:
    """Every linked project's sources and metadata files, with the managed resources they feed."""
    project_dir = template.path.parent
    feeds: dict[tuple[Path, str], tuple[str, Path, bool, list[str]]] = {}
    for resource in template.managed():
        for project in _linked_projects(resource, project_dir):
            info = project.info
            paths: list[tuple[Path, str, bool]] = []
            for root in info.imports:
                flat = root.kind == "namespace" and root.path_root.resolve() == info.root.resolve()
                paths.append((root.source.resolve(), root.kind, flat))
            for name in METADATA_FILES:
                paths.append(((info.root / name).resolve(), "metadata", False))
            for path, kind, flat in paths:
                entry = feeds.setdefault((path, kind), (info.name, info.root.resolve(), flat, []))
                if resource.logical_id not in entry[3]:
                    entry[3].append(resource.logical_id)
        assert resource.code_dir is not None
        # A lock or pyproject.toml that declares the dependencies (a workspace's sits above the
        # code dir, where SAM does not look): an edit rebuilds, as a linked project's metadata.
        for path in declared.input_files(resource.code_dir):
            entry = feeds.setdefault((path, "metadata"), (path.name, path.parent, False, []))
            if resource.logical_id not in entry[3]:
                entry[3].append(resource.logical_id)
    return [
        LinkedSource(name, root, path, kind, flat, tuple(ids))
        for (path, kind), (name, root, flat, ids) in sorted(feeds.items(), key=lambda i: i[0])
    ]


def _linked_projects(resource: Resource, project_dir: Path) -> list[assemble.LinkedProject]:
    assert resource.code_dir is not None and resource.runtime is not None
    target = target_for(resource.runtime, resource.architecture)
    reqs = declared.read(resource.code_dir, target).requirements
    return assemble.linked_projects(resource, project_dir, reqs, target)


def resources_fed(sources: Iterable[LinkedSource], path: Path) -> dict[str, LinkedSource]:
    """The resources a changed path feeds, each with the source that holds it."""
    found: dict[str, LinkedSource] = {}
    for source in sources:
        if source.holds(path):
            for resource in source.resources:
                found.setdefault(resource, source)
    return found
