"""`samlink cache list|prune|clear|verify`: the dependency store, seen from the user's side."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from typing import Any

import click

from samlink.build.store import Entry, Store, is_pinned, ttl_hours
from samlink.errors import os_error

# How many requirement lines the table shows per entry before "+N more".
_SHOWN_REQUIREMENTS = 3
# How many problems `verify` prints per entry (the JSON output has them all).
_SHOWN_PROBLEMS = 10


def describe(entry: Entry, now: float) -> dict[str, Any]:
    """One entry as plain data (what `list --json` prints)."""
    pinned = is_pinned(entry.spec)
    refresh_at = None if pinned else entry.created + ttl_hours() * 3600
    return {
        "key": entry.key,
        "path": str(entry.path),
        "target": entry.target.describe(),
        "python_version": entry.target.python_version,
        "architecture": entry.target.architecture,
        "installer": entry.installer.name,
        "installer_version": entry.installer.version,
        "requirements": list(entry.spec.requirements),
        "constraints": list(entry.spec.constraints),
        "index_url": entry.spec.index.index_url,
        "extra_index_urls": list(entry.spec.index.extra_index_urls),
        "find_links": list(entry.spec.index.find_links),
        "no_index": entry.spec.index.no_index,
        "pinned": pinned,
        "refresh_after": _iso(refresh_at) if refresh_at is not None else None,
        "expired": refresh_at is not None and now > refresh_at,
        "files": entry.files,
        "size": entry.size,
        "created": _iso(entry.created),
        "last_used": _iso(entry.last_used),
    }


def list_entries(*, as_json: bool, store: Store | None = None) -> int:
    """Print every entry: a table, or JSON."""
    store = store or Store()
    now = time.time()
    entries = store.entries()
    unreadable = store.unreadable()
    if as_json:
        report = {
            "root": str(store.root),
            "entries": [describe(e, now) for e in entries],
            "unreadable": unreadable,
            "total_size": sum(e.size for e in entries),
        }
        click.echo(json.dumps(report, indent=2))
        return 0
    from rich import box
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not entries:
        console.print(f"the dependency store is empty ({store.root})")
    else:
        table = Table(title=f"dependency store {store.root}", box=box.SIMPLE_HEAD)
        table.add_column("key", no_wrap=True)
        table.add_column("target", no_wrap=True)
        table.add_column("requirements", overflow="fold")
        table.add_column("size", justify="right", no_wrap=True)
        table.add_column("last used", no_wrap=True)
        for entry in entries:
            table.add_row(
                entry.key[:12],
                f"{entry.target.describe()}\n{entry.installer.name} {entry.installer.version}",
                _requirements_cell(entry, now),
                f"{human_size(entry.size)}\n{entry.files} files",
                _ago(now - entry.last_used),
            )
        console.print(table)
        total = sum(e.size for e in entries)
        console.print(f"{_count(len(entries))}, {human_size(total)}")
    for key in unreadable:
        console.print(f"[yellow]unreadable entry {key[:12]}[/]: run `samlink cache verify --fix`")
    return 0


def prune(older_than_days: float, *, as_json: bool, store: Store | None = None) -> int:
    """Delete entries unused for `older_than_days` days, and leftovers of killed builds."""
    store = store or Store()
    try:
        removed = store.prune(older_than_days)
    except OSError as exc:
        raise os_error(exc, f"pruning the dependency store {store.root}") from None
    freed = sum(e.size for e in removed)
    if as_json:
        click.echo(json.dumps({"removed": [e.key for e in removed], "freed": freed}, indent=2))
        return 0
    for entry in removed:
        click.echo(f"removed {entry.key[:12]} {entry.target.describe()} ({human_size(entry.size)})")
    kept = len(store.entries())
    click.echo(
        f"pruned {_count(len(removed))} not used for {older_than_days:g} days, "
        f"freed {human_size(freed)}; {kept} kept"
    )
    return 0


def clear(*, store: Store | None = None) -> int:
    """Delete the whole store; the next build installs again."""
    store = store or Store()
    entries = store.entries()
    try:
        store.clear()
    except OSError as exc:
        raise os_error(exc, f"clearing the dependency store {store.root}") from None
    freed = sum(e.size for e in entries)
    click.echo(f"removed {_count(len(entries))}, freed {human_size(freed)} ({store.root})")
    return 0


def verify(*, fix: bool, as_json: bool, store: Store | None = None) -> int:
    """Check every file of every entry (sha256); exit 1 if any entry is damaged."""
    store = store or Store()
    results: list[dict[str, Any]] = []
    for entry in store.entries():
        problems = store.verify(entry)
        removed = False
        if problems and fix:
            store.remove(entry.key)
            removed = True
        results.append(
            {
                "key": entry.key,
                "target": entry.target.describe(),
                "files": entry.files,
                "problems": problems,
                "removed": removed,
            }
        )
        if not as_json:
            _print_result(results[-1])
    for key in store.unreadable():
        if fix:
            store.remove(key)
        results.append(
            {
                "key": key,
                "target": None,
                "files": 0,
                "problems": ["manifest missing or unreadable"],
                "removed": fix,
            }
        )
        if not as_json:
            _print_result(results[-1])
    damaged = [r for r in results if r["problems"]]
    if as_json:
        click.echo(json.dumps({"root": str(store.root), "entries": results}, indent=2))
    elif not results:
        click.echo(f"the dependency store is empty ({store.root})")
    elif not damaged:
        click.echo(f"{_count(len(results))} checked, all intact")
    else:
        fixed = " (removed; the next build installs them again)" if fix else ""
        click.echo(f"{len(damaged)} of {len(results)} entries damaged{fixed}", err=True)
        if not fix:
            click.echo(
                "hint: `samlink cache verify --fix` removes them; the next build reinstalls them",
                err=True,
            )
    return 1 if damaged else 0


def human_size(size: float) -> str:
    """Bytes as a short human figure: 1.2 MB."""
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


def _print_result(result: dict[str, Any]) -> None:
    key = result["key"][:12]
    if not result["problems"]:
        click.echo(f"ok       {key} {result['target']} ({result['files']} files)")
        return
    click.echo(f"DAMAGED  {key} {result['target'] or ''}".rstrip(), err=True)
    for problem in result["problems"][:_SHOWN_PROBLEMS]:
        click.echo(f"  {problem}", err=True)
    hidden = len(result["problems"]) - _SHOWN_PROBLEMS
    if hidden > 0:
        click.echo(f"  ... and {hidden} more (--json lists them all)", err=True)


def _requirements_cell(entry: Entry, now: float) -> str:
    lines = list(entry.spec.requirements)
    shown = "\n".join(lines[:_SHOWN_REQUIREMENTS]) or "(none)"
    if len(lines) > _SHOWN_REQUIREMENTS:
        shown += f"\n+{len(lines) - _SHOWN_REQUIREMENTS} more"
    if not is_pinned(entry.spec):
        left = entry.created + ttl_hours() * 3600 - now
        when = "re-resolves on the next build" if left <= 0 else f"kept {_duration(left)} more"
        shown += f"\n(unpinned: {when})"
    return shown


def _count(n: int) -> str:
    return f"{n} entry" if n == 1 else f"{n} entries"


def _ago(seconds: float) -> str:
    return "just now" if seconds < 60 else f"{_duration(seconds)} ago"


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} s"


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).isoformat(timespec="seconds")
