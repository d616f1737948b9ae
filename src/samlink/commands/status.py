"""`samlink status`: links, what they reach, and what is stale or broken."""

from __future__ import annotations

import json
from pathlib import Path

import click

from samlink.build.location import beside, find_build_dir, shown
from samlink.build.state import collect
from samlink.model.template import REMOTE_REASON


def run(template_path: Path, *, as_json: bool, build_dir: Path | None = None) -> int:
    report = collect(template_path, find_build_dir(build_dir, template=template_path))
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if report["links"]:
        table = Table(title="links (this machine only)")
        for column in ("name", "path", "reaches", "problems"):
            table.add_column(column)
        for item in report["links"]:
            table.add_row(
                item["name"],
                item["path"],
                ", ".join(item["reaches"]) or "-",
                "; ".join(item["problems"]) or "ok",
            )
        console.print(table)
    else:
        console.print("no links: builds use the pinned versions")
    table = Table(title=f"resources (build dir {report['build_dir']})")
    for column in ("id", "kind", "runtime", "state"):
        table.add_column(column)
    for item in report["resources"]:
        if not item["managed"]:
            state = f"not managed: {item['reason']}"
        elif not item["built"]:
            state = "not built"
        else:
            origins = item.get("link_origins", {})
            named = [
                f"{name} ({origins[name]})" if name in origins else name for name in item["links"]
            ]
            parts = [f"links {', '.join(named)}" if named else "no links"]
            parts += [f"STALE: {s}" for s in item["stale"]]
            parts += [f"materialized: {m}" for m in item["materialized"]]
            state = "; ".join(parts)
        table.add_row(item["id"], item["kind"], item["runtime"] or "-", state)
    console.print(table)
    for full_id in report.get("remote", []):
        console.print(f"{full_id}: not managed: {REMOTE_REASON}")
    root = Path(report["build_dir"])
    other = beside(root, template_path) if not root.is_dir() else None
    if other is not None:
        # `sam build` ran in the template's folder: not where SAM (or samlink) looks from here.
        console.print(
            f"no build dir at {shown(root)}; there is one at {shown(other)}: "
            f"pass --build-dir {shown(other)}, or run samlink where you ran `sam build`"
        )
    if any(item.get("built") and not item.get("release") for item in report["resources"]):
        console.print(
            "dev builds hold links: `sam local invoke` mounts them (samlink init turned on "
            "mount_symlinks); `sam local start-api`/`start-lambda` cannot, use "
            "`samlink start-api`/`start-lambda`"
        )
    return 0
