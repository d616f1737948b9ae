"""`samlink doctor`: each check ok, warn or fail, one line and one fix; exit 1 on a failure."""

from __future__ import annotations

import json
from pathlib import Path

import click

from samlink.audit import doctor
from samlink.build.location import find_build_dir
from samlink.errors import UsageError

_STYLE = {"ok": "green", "warn": "yellow", "fail": "red"}


def run(template_path: Path, *, as_json: bool, build_dir: Path | None = None) -> int:
    try:
        root = find_build_dir(build_dir, template=template_path)
    except UsageError:
        if build_dir is not None:
            raise
        root = find_build_dir()  # a SAM config it cannot read: its own check says so
    found = doctor.diagnose(template_path, root)
    failed = any(d.status == "fail" for d in found)
    if as_json:
        click.echo(json.dumps(doctor.to_json(template_path.resolve(), found), indent=2))
        return 1 if failed else 0
    for diagnosis in found:
        mark = click.style(f"{diagnosis.status:<4}", fg=_STYLE[diagnosis.status], bold=True)
        fix = f" -> fix: {diagnosis.fix}" if diagnosis.fix and diagnosis.status != "ok" else ""
        click.echo(f"{mark} {diagnosis.check}: {diagnosis.message}{fix}")
    counts = {s: sum(1 for d in found if d.status == s) for s in doctor.STATUSES}
    click.echo(
        f"samlink doctor: {counts['ok']} ok, {counts['warn']} warn, {counts['fail']} fail",
        err=True,
    )
    return 1 if failed else 0
