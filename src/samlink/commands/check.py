"""`samlink check`: exit 1 when a deploy would ship this machine's dev state."""

from __future__ import annotations

import json
from pathlib import Path

import click

from samlink.audit import check
from samlink.model.template import load_template


def run(
    template_path: Path,
    *,
    as_json: bool,
    build_dir: Path | None,
    sources_only: bool,
    allow_local: bool,
) -> int:
    template = load_template(template_path)
    report = check.check(
        template, build_dir=build_dir, sources_only=sources_only, allow_local=allow_local
    )
    if as_json:
        click.echo(json.dumps(check.to_json(report), indent=2))
    else:
        _print(report)
    return 0 if report.ok else 1


def _print(report: check.CheckReport) -> None:
    base = report.template.parent
    for finding in report.findings:
        where = check.display(finding.file, base) if finding.file else finding.resource or "-"
        if finding.file and finding.line:
            where += f":{finding.line}"
        click.echo(f"{where}: {finding.severity}: {finding.message}")
        click.echo(f"    fix: {finding.fix}")
    for size in report.sizes:
        if not size.packages:
            continue
        click.echo(
            f"{size.resource}: {size.total / 1_048_576:.1f} MB of "
            f"{check.SIZE_LIMIT / 1_048_576:.0f} MB unzipped, by package:"
        )
        for name, nbytes in size.packages[:20]:
            click.echo(f"    {nbytes / 1_048_576:9.1f} MB  {name}")
        if len(size.packages) > 20:
            rest = sum(nbytes for _, nbytes in size.packages[20:])
            click.echo(f"    {rest / 1_048_576:9.1f} MB  ({len(size.packages) - 20} more)")
        if size.unknown_layers:
            click.echo(f"    not counted (not built here): {', '.join(size.unknown_layers)}")
    scope = (
        f"sources and {check.display(report.build_dir, base)}"
        if report.build_dir
        else "sources only, as --sources-only asks"
    )
    warnings = len(report.findings) - report.errors
    if report.ok:
        tail = f", {warnings} warning(s)" if warnings else ""
        click.echo(f"samlink check: ok, no dev state would ship ({scope}{tail})", err=True)
    else:
        click.echo(
            f"samlink check: {report.errors} error(s), {warnings} warning(s) ({scope})", err=True
        )
