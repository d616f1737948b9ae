"""Where a SAM build dir is, found as `sam build` puts it: `--build-dir` when given, else the
`build_dir` of the SAM config next to the template (`[default.build.parameters]` over
`[default.global.parameters]`, as SAM reads it), else `.aws-sam/build`; a relative one is under
the current directory (where `sam build` writes it, wherever the template is).

Every command that reads or rebuilds a build (check, invoke, status, doctor, watch, start-api,
start-lambda) asks `find_build_dir`, so all of them see the build `sam build` made. `sam sync`
has no build dir setting (it always builds into `.aws-sam/build`), nor has `samlink sync`.
"""

from __future__ import annotations

import os
from pathlib import Path

from samlink.errors import UsageError
from samlink.model.samconfig import command_settings

DEFAULT = Path(".aws-sam") / "build"
BUILT_TEMPLATE = "template.yaml"


def find_build_dir(
    given: Path | None = None, *, cwd: Path | None = None, template: Path | None = None
) -> Path:
    """The build dir, absolute: `given` (--build-dir, relative to `cwd`), else the `build_dir`
    the SAM config next to `template` sets for `sam build`, else SAM's default.

    A named dir that does not exist is a UsageError: a typo must not read as "nothing built".
    The config's or SAM's default may not exist yet; callers that need a build say so with
    `not_built`.
    """
    here = cwd if cwd is not None else Path.cwd()
    if given is None:
        configured = configured_build_dir(template, cwd=here) if template is not None else None
        return configured if configured is not None else here / DEFAULT
    found = given if given.is_absolute() else here / given
    if not found.is_dir():
        what = "is not a directory" if found.exists() else "does not exist"
        raise UsageError(
            f"build dir {given} {what}",
            f"check the path, or build into it: `sam build --build-dir {given}`",
        )
    return found


def configured_build_dir(template: Path, *, cwd: Path) -> Path | None:
    """The `build_dir` that `sam build -t template` run in `cwd` takes from the SAM config, or
    None. SAM reads the config in the template's folder (samcli.commands._utils.options sets
    `samconfig_dir`), `[default.build.parameters]` over `[default.global.parameters]`, and
    resolves a relative `build_dir` against the current directory (os.path.abspath)."""
    project = template.parent if template.is_absolute() else (cwd / template).parent
    value = command_settings(project, "build").get("build_dir")
    if value is None or not str(value).strip():
        return None
    path = Path(str(value))
    return path if path.is_absolute() else cwd / path


def built_template(root: Path) -> Path:
    """The template `sam build` wrote into the build dir (it may not exist)."""
    return root / BUILT_TEMPLATE


def not_built(root: Path, template: Path, *, what: str = "no build") -> UsageError:
    """The error for a command that needs a build and found none at `root`, with the way out.

    When `sam build` was run in the template's folder instead, the hint names that build dir.
    """
    other = beside(root, template)
    if other is not None:
        return UsageError(
            f"{what}: no build dir at {shown(root)}",
            f"`sam build` writes under the directory it runs in: pass --build-dir "
            f"{shown(other)}, or run samlink from {shown(template.resolve().parent)}",
        )
    return UsageError(
        f"{what}: no build dir at {shown(root)}",
        f"run `sam build -t {shown(template)}` here first, or pass --build-dir",
    )


def beside(root: Path, template: Path) -> Path | None:
    """A build dir next to the template, when there is one and it is not `root`: what `sam
    build` made when it ran in the template's folder, which SAM does not look at from here."""
    found = template.resolve().parent / DEFAULT
    if found.is_dir() and found.resolve() != root.resolve():
        return found
    return None


def shown(path: Path) -> str:
    """A path as the user would type it from here."""
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return str(path)
    return relative if not relative.startswith("..") else str(path)
