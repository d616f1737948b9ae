"""`samlink build`: the body of a generated make target."""

from __future__ import annotations

import os
from pathlib import Path

import click

from samlink import assemble, makefile
from samlink.errors import UsageError
from samlink.template import load_template


def run(
    resource_id: str, *, template: Path | None, makefile_list: str | None, options: assemble.Options
) -> int:
    artifacts = os.environ.get("ARTIFACTS_DIR")
    if not artifacts:
        raise UsageError(
            "ARTIFACTS_DIR is not set",
            "`samlink build` runs inside `sam build`; run `sam build` instead",
        )
    if makefile_list:
        here = makefile.makefile_from_list(makefile_list).parent
        template_path = here / template if template else here / "template.yaml"
    else:
        template_path = template or Path("template.yaml")
    model = load_template(template_path.resolve())
    resource = model.get(resource_id)
    report = assemble.build(resource, model.path.parent, Path(artifacts).resolve(), options)
    assert resource.code_dir is not None
    if os.environ.get("SAMLINK_SYNC") == "1" and not options.release:
        # Under `samlink sync` SAM zips this dir for upload, following links: hand it real,
        # filtered files instead (no __pycache__, tests, editor files), as hard links.
        from samlink import sync

        scratch = Path.cwd() if makefile_list else None
        count = sync.realize(report.dest, resource.code_dir, scratch)
        click.echo(assemble.summary(report, resource.code_dir, mode="sync"))
        click.echo(f"samlink: {resource_id}: sync build: {count} linked files as real files")
        return 0
    mode = "release" if options.release else "dev"
    click.echo(assemble.summary(report, resource.code_dir, mode=mode))
    return 0
