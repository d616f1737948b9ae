"""The state of a project's links and builds: what each link reaches, what is stale or broken.

Plain data for `samlink status`, `doctor`, `watch` and the rebuild before an invoke. A build is
stale when an input it recorded (`.samlink/builds/<Id>.json`) changed: requirements, links, a
linked project's packaging metadata or layout, or the code dir's top-level entries.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from samlink.build import location
from samlink.build.assemble import code_entries
from samlink.build.tree import stale_copy
from samlink.errors import UsageError
from samlink.model import links
from samlink.model.project import fingerprint, is_python_project, quick_name
from samlink.model.template import load_template


def collect(template_path: Path, build_dir: Path | None = None) -> dict[str, Any]:
    """The status as plain data (what --json prints), against the build dir `build_dir`
    (SAM's default, `location.find_build_dir()`, when None)."""
    template = load_template(template_path)
    project_dir = template.path.parent
    root = build_dir if build_dir is not None else location.find_build_dir()
    resources = list(template.resources.values())
    report: dict[str, Any] = {
        "template": str(template.path),
        "build_dir": str(root),
        "links": [],
        "resources": [],
        "remote": list(template.remote),  # nested applications not managed (not local)
    }
    registry = links.load(project_dir)
    for link in registry:
        problems = []
        if not link.path.is_dir() or not is_python_project(link.path):
            problems.append(f"path gone: {link.path}")
        else:
            name = quick_name(link.path)
            if name and canonicalize_name(name) != link.key:
                problems.append(f"name changed: the project is now {name}")
        report["links"].append(
            {
                "name": link.key,
                "path": str(link.path),
                "functions": list(link.functions),
                "reaches": links.reaches(link, resources),
                "problems": problems,
            }
        )
    _clash_problems(project_dir, registry, report["links"])
    for resource in resources:
        entry: dict[str, Any] = {
            "id": resource.logical_id,
            "kind": resource.kind,
            "managed": resource.managed,
            "reason": resource.reason,
            "runtime": resource.runtime,
            "architecture": resource.architecture,
            "build_method": resource.build_method,
        }
        if resource.managed:
            entry.update(build_state(project_dir, resource, registry, root))
        report["resources"].append(entry)
    return report


def _clash_problems(
    project_dir: Path, registry: list[links.Link], entries: list[dict[str, Any]]
) -> None:
    """Add a problem to each pair of links that provide one import package to a same resource."""
    infos = {}
    for link in registry:
        if not link.path.is_dir() or not is_python_project(link.path):
            continue
        try:
            infos[link.key] = links.inspect_cached(project_dir, link.path)
        except (UsageError, OSError):
            continue  # status reports what it can; the build says why this one fails
    by_name = {entry["name"]: entry for entry in entries}
    keys = sorted(infos)
    for i, a in enumerate(keys):
        for b in keys[i + 1 :]:
            shared = sorted(set(by_name[a]["reaches"]) & set(by_name[b]["reaches"]))
            if not shared:
                continue
            for clash in links.import_clashes([infos[a], infos[b]]):
                for key in (a, b):
                    by_name[key]["problems"].append(
                        f"{clash.describe()} in {', '.join(shared)}: one hides the other"
                    )


def build_state(
    project_dir: Path, resource: Any, registry: list[links.Link], root: Path | None = None
) -> dict[str, Any]:
    """Whether `resource` was built (into the build dir `root`, when given), in which mode, and
    why the build is stale, if it is."""
    path = links.state_dir(project_dir) / "builds" / f"{resource.logical_id}.json"
    not_built: dict[str, Any] = {"built": False, "stale": [], "links": [], "materialized": []}
    if root is not None and not (root / resource.logical_id).is_dir():
        return not_built  # a record of a build elsewhere (another build dir) says nothing here
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return not_built
    stale = []
    for key, label in (
        ("runtime", "Runtime"),
        ("architecture", "Architectures"),
        ("handler", "Handler"),
    ):
        now = getattr(resource, key, None)
        if key in record and record[key] != now:
            stale.append(f"{label} changed since the build ({record[key]} -> {now})")
    for file, mtime in record.get("requirements", {}).items():
        try:
            if Path(file).stat().st_mtime != mtime:
                stale.append(f"{file} changed since the build")
        except OSError:
            stale.append(f"{file} is gone")
    built_links = {canonicalize_name(item["name"]) for item in record.get("links", [])}
    wanted = {
        link.key for link in registry if resource.logical_id in links.reaches(link, [resource])
    }
    registry_built = {
        canonicalize_name(item["name"])
        for item in record.get("links", [])
        if item["origin"] == "link"
    }
    # A release build ignores links by design: only a dev build goes stale when they change.
    if not record.get("release") and wanted != registry_built:
        stale.append("links changed since the build")
    for item in record.get("links", []):
        checkout = Path(item["path"])
        if checkout.is_dir() and fingerprint(checkout) != item.get("fingerprint"):
            stale.append(f"{item['name']}: packaging metadata or layout changed")
    if root is not None:
        dest = root / resource.logical_id
        stale += _stale_copies(
            project_dir, record, dest / "python" if resource.kind == "layer" else dest
        )
    if resource.code_dir is not None and resource.code_dir.is_dir():
        known = set(record.get("code", []))
        new = [p.name for p in code_entries(resource.code_dir) if p.name not in known]
        if new:
            stale.append(f"new top-level file(s) {', '.join(new)} need a rebuild")
    return {
        "built": True,
        "release": bool(record.get("release")),
        "stale": stale,
        "links": sorted(built_links),
        # Where each link comes from: declared in pyproject.toml (a lock's local source), a
        # requirements line, or linked by hand (`samlink link`).
        "link_origins": {
            canonicalize_name(item["name"]): _origin(item.get("origin", ""))
            for item in record.get("links", [])
        },
        "materialized": record.get("materialized", []),
    }


def copied_sources(project_dir: Path, resource_id: str) -> list[tuple[str, Path, Path]]:
    """The flat-layout namespace packages a resource's last build copied as real files:
    (import name, source dir in the checkout, the checkout), from its build record."""
    path = links.state_dir(project_dir) / "builds" / f"{resource_id}.json"
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return _copied(project_dir, record)


def _copied(project_dir: Path, record: dict[str, Any]) -> list[tuple[str, Path, Path]]:
    if not record.get("materialized"):
        return []  # nothing was copied: no checkout to inspect
    found = []
    for item in record.get("links", []):
        checkout = Path(item["path"])
        if not checkout.is_dir():
            continue
        try:
            info = links.inspect_cached(project_dir, checkout)
        except (UsageError, OSError):
            continue  # the build says why
        for top in info.imports:
            if top.kind == "namespace" and top.path_root.resolve() == info.root.resolve():
                found.append((top.name, top.source, top.path_root))
    return found


def _stale_copies(project_dir: Path, record: dict[str, Any], dest: Path) -> list[str]:
    """A reason per namespace package copy in `dest` that its checkout's files no longer match."""
    reasons = []
    for name, source, path_root in _copied(project_dir, record):
        changed = stale_copy(str(source), str(path_root), str(dest))
        if changed is not None:
            reasons.append(
                f"{name}: copied files are stale ({path_root / changed} changed since the build)"
            )
    return reasons


def _origin(origin: str) -> str:
    return "linked by hand" if origin == "link" else f"declared in {origin or 'an unknown input'}"
