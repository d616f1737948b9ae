"""What of this machine a build would carry along, by the rule of what may ship.

The sources side walks each function's code (within the project root) and each linked
checkout's packages (within the package) with samlink.build.ship's rule, so a link that leaves,
dangles or loops is reported even when a build dir holds only the real files it reached. The
build side finds console scripts whose shebang names this machine's interpreter, and links that
loop inside a build dir (a zip through them never ends). `samlink check` turns each into a
finding with the same code.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from samlink.build import ship
from samlink.build.assemble import code_entries
from samlink.errors import UsageError
from samlink.model import links, requirements
from samlink.model.project import ProjectInfo
from samlink.model.template import Template

# Interpreters a Lambda runtime has (or that resolve there): a shebang naming one is portable.
_PORTABLE = ("/usr/bin/", "/bin/", "/usr/local/bin/", "/var/lang/bin/", "/opt/")
# pip's long-path form: `#!/bin/sh` then `'''exec' "/path/to/python" "$0" "$@"`.
_SH_EXEC = re.compile(rb"""^'''exec' "?([^"\s]+)""", re.M)
_FIX_LINK = "remove the link, or move what it points to inside the project"
# The finding codes this module gives `samlink check`.
CODES = ("link-outside-project", "link-dangling", "link-loop", "host-shebang")


@dataclass(frozen=True)
class Leak:
    """One way this machine's files would ship."""

    code: str  # link-outside-project | link-dangling | link-loop | host-shebang
    message: str
    fix: str
    path: Path
    resource: str | None


def source_leaks(template: Template, cwd: Path) -> list[Leak]:
    """Links in the code dirs and linked packages that the rule refuses to follow."""
    root = ship.project_root(template.path, str(cwd))
    found: list[Leak] = []
    seen: set[Path] = set()
    for resource in template.managed():
        code_dir = resource.code_dir
        if code_dir is None or code_dir in seen or not code_dir.is_dir():
            continue
        seen.add(code_dir)
        for entry in code_entries(code_dir):
            for refusal in ship.refusals(entry, root, ship.release_skip):
                found.append(_refused(refusal, resource.logical_id, "the function's code"))
    for info in _local_projects(template):
        for top, boundary in ship.package_tops(info, root):
            for refusal in ship.refusals(top, boundary):
                found.append(_refused(refusal, None, f"local project {info.name}"))
    return found


def _local_projects(template: Template) -> list[ProjectInfo]:
    """The checkouts a build may hand on: linked ones, and those requirements lines name."""
    folder = template.path.parent
    roots: list[Path] = []
    with contextlib.suppress(UsageError):  # an unreadable registry: `samlink status` says so
        roots += [link.path for link in links.load(folder)]
    for resource in template.managed():
        path = resource.code_dir / "requirements.txt" if resource.code_dir else None
        if path is not None and path.is_file():
            with contextlib.suppress(UsageError):  # `requirements-invalid` says so
                roots += [line.path for line in requirements.parse(path).local_lines if line.path]
    found: dict[Path, ProjectInfo] = {}
    for checkout in roots:
        if checkout.is_dir() and checkout.resolve() not in found:
            try:
                found[checkout.resolve()] = links.inspect_cached(folder, checkout)
            except UsageError:
                continue  # not a project (any more): status and the build say so
    return list(found.values())


def _refused(refusal: ship.Refusal, resource: str | None, where: str) -> Leak:
    return Leak(
        refusal.code,
        f"{refusal.why()}: a sync upload or release of {where} would carry it",
        _FIX_LINK,
        refusal.link,
        resource,
    )


def build_leaks(folder: Path, resource: str) -> list[Leak]:
    """Host-interpreter shebangs and looping links in one resource's build dir."""
    found: list[Leak] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in sorted(dirnames + filenames):
            path = os.path.join(dirpath, name)
            try:
                info = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISLNK(info.st_mode):
                real = os.path.realpath(path)
                if os.path.isdir(real) and _inside(os.path.realpath(dirpath), real):
                    found.append(
                        Leak(
                            "link-loop",
                            f"link to {os.readlink(path)} loops back into itself: "
                            "zipping the build would never end",
                            _FIX_LINK,
                            Path(path),
                            resource,
                        )
                    )
            elif stat.S_ISREG(info.st_mode) and info.st_mode & 0o111:
                interpreter = host_interpreter(Path(path))
                if interpreter is not None:
                    found.append(
                        Leak(
                            "host-shebang",
                            f"script runs this machine's interpreter {interpreter}: "
                            "it cannot run in Lambda",
                            "rebuild with this samlink (installers' console scripts are "
                            "dropped), or remove the script from the code",
                            Path(path),
                            resource,
                        )
                    )
    return found


def host_interpreter(path: Path) -> str | None:
    """The interpreter a script's shebang names when it is not a Lambda runtime's, or None."""
    try:
        with open(path, "rb") as f:
            head = f.read(1024)
    except OSError:
        return None
    if not head.startswith(b"#!"):
        return None
    first = head[2:].split(b"\n", 1)[0].strip()
    words = first.split()
    if not words:
        return None
    interpreter = words[0]
    if interpreter == b"/bin/sh":
        match = _SH_EXEC.search(head)
        if match is None:
            return None
        interpreter = match.group(1)
    text = interpreter.decode("utf-8", "replace")
    if not text.startswith("/") or text.startswith(_PORTABLE):
        return None
    return text


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)
