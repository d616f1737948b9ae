"""The project root: where a project's own files may live.

A path belongs to the project when it is inside the git work tree that holds the template, or
inside the directory SAM runs in (the current directory, when it holds the template), or inside
the template's own folder. `../src` from `sam/template.yaml` is inside for a team that keeps both
in one repository or runs `sam build -t sam/template.yaml` from the top; `../../../../etc` is not.
"""

from __future__ import annotations

import os
from pathlib import Path


def project_roots(template_path: Path, cwd: Path | None = None) -> list[Path]:
    """The folders (real paths, widest first) whose contents count as the project's."""
    folder = Path(os.path.realpath(template_path)).parent
    here = Path(os.path.realpath(cwd if cwd is not None else Path.cwd()))
    roots = []
    work_tree = git_work_tree(folder)
    if work_tree is not None:
        roots.append(work_tree)
    if folder.is_relative_to(here):
        roots.append(here)
    roots.append(folder)
    return sorted(set(roots), key=lambda p: len(p.parts))


def inside_project(path: Path, roots: list[Path]) -> bool:
    """Whether `path` (its real path: links followed) lies under one of `roots`."""
    real = Path(os.path.realpath(path))
    return any(real.is_relative_to(root) for root in roots)


def git_work_tree(start: Path) -> Path | None:
    """The top of the git work tree holding `start` (a `.git` folder or file), if any."""
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return None
