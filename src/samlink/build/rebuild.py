"""Bring one resource's build dir up to date without touching the others.

`sam build ID` wipes every other function's artifacts (FACTS.md), so a single resource is rebuilt
the way SAM would build it (its make target, ARTIFACTS_DIR set) into a fresh sibling dir, which
then replaces the old one: a failed or interrupted rebuild leaves the old build in place.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from samlink.build.state import build_state
from samlink.errors import BuildError
from samlink.model import links
from samlink.model.template import Resource, Template


def build_root(template: Template) -> Path:
    return template.path.parent / ".aws-sam" / "build"


def stale_reasons(template: Template, resource: Resource) -> list[str]:
    """Why a resource's build dir no longer matches its inputs ([] when it does)."""
    build_dir = build_root(template) / resource.logical_id
    if not build_dir.exists():
        return ["not built"]
    built_template = build_root(template) / "template.yaml"
    if built_template.exists() and template.path.stat().st_mtime > built_template.stat().st_mtime:
        return ["template changed"]
    found = build_state(template.path.parent, resource, links.load(template.path.parent))
    return list(found["stale"]) if found["built"] else []


def rebuild(template: Template, resource: Resource) -> None:
    """Run the resource's make target into a fresh dir and swap it in."""
    assert resource.code_dir is not None
    root = build_root(template)
    root.mkdir(parents=True, exist_ok=True)
    final = root / resource.logical_id
    fresh = Path(tempfile.mkdtemp(prefix=f".{resource.logical_id}.", dir=root))
    try:
        env = {**os.environ, "ARTIFACTS_DIR": str(fresh)}
        for name in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS"):
            env.pop(name, None)
        result = subprocess.run(
            [
                "make",
                "--makefile",
                str(resource.code_dir / "Makefile"),
                f"build-{resource.logical_id}",
            ],
            cwd=resource.code_dir,
            env=env,
            stdout=sys.stderr,
            stderr=subprocess.PIPE,
            text=True,
        )
        if result.returncode != 0:
            sys.stderr.write(result.stderr)
            lines = [line for line in result.stderr.splitlines() if line.strip()]
            raise BuildError(
                f"rebuilding {resource.logical_id} failed: {lines[-1] if lines else 'make failed'}",
                "fix the error above, or run `sam build`",
            )
        old = root / f".{resource.logical_id}.old"
        shutil.rmtree(old, ignore_errors=True)
        if final.exists() or final.is_symlink():
            os.rename(final, old)
        os.rename(fresh, final)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(fresh)


def full_build(template: Template) -> None:
    """`sam build` of the whole template, as the user would run it."""
    sam = shutil.which("sam")
    if sam is None:
        raise BuildError("sam is not on PATH", "install the AWS SAM CLI: pip install aws-sam-cli")
    result = subprocess.run(
        [sam, "build", "--template", str(template.path)],
        cwd=template.path.parent,
        stdout=sys.stderr,
    )
    if result.returncode != 0:
        raise BuildError("sam build failed", "see its output above")
