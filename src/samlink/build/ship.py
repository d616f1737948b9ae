"""What may ship: the rule for which files of a code dir or package a build hands on.

Release builds, the real-file builds made for `samlink sync` uploads and `samlink check` share
this one rule. A file ships when it is reached from inside a code dir or package without
leaving its BOUNDARY: the project root (the directory `sam build` runs in, or the git work tree
that holds the template) for the function's code, and the package dir itself for a linked
checkout outside the project. A link that stays inside is followed, as SAM's own builders
follow it; a link that leaves, dangles or loops is refused: builds stop naming it, `check`
reports it. Clutter (caches, VCS folders, virtualenvs, tests, editor droppings) never ships
from a sync build, and console scripts an installer writes (`bin/`, with this machine's
interpreter in their shebang) never ship at all. Under `samlink sync` the SAM process carries
SAMLINK_SYNC=1 down to make and `samlink build`, which then calls `realize`: the top-level
links of the dev build become real, filtered files, hard-linked, not copied, because SAM zips
the build dir through its links.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import shutil
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from samlink.errors import BuildError
from samlink.model.project import ProjectInfo
from samlink.model.root import git_work_tree, project_roots

SYNC_ENV = "SAMLINK_SYNC"
# Where `sam build` runs: the generated make target passes make's $(PWD) in it.
SAM_CWD_ENV = "SAMLINK_SAM_CWD"

# Folders that never ship and never matter: caches, VCS and virtualenvs (dot names), tests.
_NOISE_DIRS = frozenset({"__pycache__", "node_modules", "tests", "test"})
_NOISE_DIR_SUFFIXES = (".egg-info", ".dist-info")
# Editor droppings: backups and autosaves (emacs), swap and probe files (vim), JetBrains' safe
# write temps, and bytecode.
_NOISE_FILES = ("*~", "#*#", "*.sw[a-p]", "4913", "*___jb_tmp___", "*___jb_old___", "*.py[co]")


def is_noise(name: str, *, is_dir: bool) -> bool:
    """Whether a file or folder name is clutter that never ships and never triggers a sync."""
    if name.startswith("."):
        return True
    if is_dir:
        return name in _NOISE_DIRS or name.endswith(_NOISE_DIR_SUFFIXES)
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in _NOISE_FILES)


def is_noise_path(path: Path, root: Path) -> bool:
    """Whether `path` (a file under `root`) is clutter or lies in a clutter folder."""
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        return True
    if not parts:
        return False
    return any(is_noise(p, is_dir=True) for p in parts[:-1]) or is_noise(parts[-1], is_dir=False)


def walk_files(root: Path) -> Iterator[Path]:
    """The files under `root` that are not clutter, following links to folders once."""
    if root.is_file():
        yield root
        return
    seen: set[tuple[int, int]] = set()
    for folder, dirs, files in os.walk(root, followlinks=True):
        info = os.stat(folder)
        if (info.st_dev, info.st_ino) in seen:  # a link loop
            dirs[:] = []
            continue
        seen.add((info.st_dev, info.st_ino))
        dirs[:] = sorted(
            d
            for d in dirs
            if not is_noise(d, is_dir=True) and not (Path(folder, d, "pyvenv.cfg")).exists()
        )
        for name in sorted(files):
            if not is_noise(name, is_dir=False):
                yield Path(folder, name)


def sync_mode() -> bool:
    """Whether this process runs under `samlink sync` (SAM passes the environment to make)."""
    return os.environ.get(SYNC_ENV) == "1"


# --- the rule: which files of a tree may ship -------------------------------------------------

# What an installer writes beside the packages: console scripts whose shebang is this machine's
# interpreter. SAM's own Python builder ships no `bin/`.
INSTALLER_SCRIPTS = "bin"

Skip = Callable[[str, bool], bool]  # (name, is_dir) -> leave it out


def sync_skip(name: str, is_dir: bool) -> bool:
    """What a sync build leaves out: clutter (`is_noise`)."""
    return is_noise(name, is_dir=is_dir)


def release_skip(name: str, is_dir: bool) -> bool:
    """What a release build leaves out of the function's code (as SAM's builders do)."""
    return name == "__pycache__" if is_dir else name.endswith((".pyc", ".pyo"))


@dataclass(frozen=True)
class Refusal:
    """A link the rule does not follow: it leaves its boundary (or goes into a hidden folder
    there), dangles or loops."""

    link: Path  # where the link was met
    target: str  # what it says (os.readlink)
    reason: str  # "outside" | "hidden" | "dangling" | "loop"
    boundary: Path

    @property
    def code(self) -> str:
        """The `samlink check` finding code."""
        codes = {"outside": "link-outside-project", "hidden": "link-outside-project"}
        return codes.get(self.reason, f"link-{self.reason}")

    def why(self) -> str:
        """What is wrong with the link, without naming it."""
        return (
            f"links to {self.target}, "
            + {
                "outside": f"outside {self.boundary}",
                "hidden": f"a hidden folder in {self.boundary}",
                "dangling": "which is gone",
                "loop": "which loops back into itself",
            }[self.reason]
        )

    def describe(self) -> str:
        """The link and what is wrong with it."""
        return f"{self.link} {self.why()}"

    def error(self) -> BuildError:
        """The one line a build stops with."""
        return BuildError(
            f"{self.describe()}: never followed into an upload or a release",
            "remove the link, or move what it points to inside the project",
        )


class Item(NamedTuple):
    """A file or folder that may ship: where to read it, and its path under the walked top."""

    source: Path
    rel: str  # "" for the top itself
    folder: bool


def walk_ship(top: Path, boundary: Path, skip: Skip = sync_skip) -> Iterator[Item | Refusal]:
    """Every file and folder that may ship from `top`, and every link the rule refuses.

    Links are judged one by one (the top itself too): one that resolves inside `boundary`
    is followed, as SAM follows it; one that leaves it, dangles or loops is refused and not
    entered. Folders holding a virtualenv (`pyvenv.cfg`) never ship.
    """
    bound = os.path.realpath(boundary)
    yield from _visit(str(top), "", bound, (), skip)


def files_to_ship(top: Path, boundary: Path, skip: Skip = sync_skip) -> list[Item]:
    """`walk_ship`'s items; raises the BuildError of the first refused link (nothing shipped)."""
    items = []
    for found in walk_ship(top, boundary, skip):
        if isinstance(found, Refusal):
            raise found.error()
        items.append(found)
    return items


def refusals(top: Path, boundary: Path, skip: Skip = sync_skip) -> list[Refusal]:
    """Every link under `top` the rule refuses (what `samlink check` reports)."""
    return [found for found in walk_ship(top, boundary, skip) if isinstance(found, Refusal)]


def _visit(
    path: str, rel: str, bound: str, ancestors: tuple[str, ...], skip: Skip
) -> Iterator[Item | Refusal]:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(info.st_mode):
        refusal = _judge(path, bound)
        if refusal is not None:
            yield refusal
            return
        info = os.stat(path)
    if stat.S_ISREG(info.st_mode):
        yield Item(Path(path), rel, False)
    elif stat.S_ISDIR(info.st_mode):
        real = os.path.realpath(path)
        if real in ancestors:  # reached again through links further down: a loop
            yield Refusal(Path(path), real, "loop", Path(bound))
            return
        if rel and os.path.exists(os.path.join(path, "pyvenv.cfg")):
            return
        try:
            names = sorted(os.listdir(path))
        except OSError:  # unreadable: nothing of it ships (as os.walk skips it)
            return
        yield Item(Path(path), rel, True)
        for name in names:
            child = os.path.join(path, name)
            if skip(name, os.path.isdir(child)):
                continue
            yield from _visit(
                child, f"{rel}/{name}" if rel else name, bound, (*ancestors, real), skip
            )
    # Sockets, pipes and devices never ship.


def judge(link: Path, boundary: Path) -> Refusal | None:
    """The rule for one link met under `boundary`: None when it may be followed."""
    return _judge(str(link), os.path.realpath(boundary))


def _judge(link: str, bound: str) -> Refusal | None:
    target = os.readlink(link)
    try:
        real = os.path.realpath(link, strict=True)
    except OSError as exc:
        reason = "loop" if exc.errno == errno.ELOOP else "dangling"
        return Refusal(Path(link), target, reason, Path(bound))
    if not _inside(real, bound):
        return Refusal(Path(link), target, "outside", Path(bound))
    # Hidden folders (.ssh, .aws, .git, .venv) hold secrets and state, never code.
    if any(part.startswith(".") for part in Path(os.path.relpath(real, bound)).parts):
        return Refusal(Path(link), target, "hidden", Path(bound))
    # A link to a folder that holds the link itself: a zip through it never ends.
    if os.path.isdir(real) and _inside(os.path.realpath(os.path.dirname(link)), real):
        return Refusal(Path(link), target, "loop", Path(bound))
    return None


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def package_tops(info: ProjectInfo, project: Path) -> list[tuple[Path, Path]]:
    """What of a local project a build hands on, each with its boundary: the import packages
    (a src layout's namespace: its source root), within the package itself unless it lies in
    the `project` root."""
    tops = []
    for package in info.imports:
        exposed = package.kind == "namespace" and package.path_root != info.root
        top = package.path_root if exposed else package.source
        inside = _inside(os.path.realpath(top), os.path.realpath(project))
        tops.append((top, project if inside else top))
    return tops


def is_installer_script(rel: str) -> bool:
    """Whether a path of an installed tree is a console script the installer wrote."""
    return rel == INSTALLER_SCRIPTS or rel.startswith(INSTALLER_SCRIPTS + "/")


def drop_installer_scripts(dest: Path) -> None:
    """Remove the `bin/` an installer wrote into `dest`: its shebangs name this machine."""
    scripts = dest / INSTALLER_SCRIPTS
    if scripts.is_dir() and not scripts.is_symlink():
        shutil.rmtree(scripts)


def project_root(template: Path, sam_cwd: str | None = None) -> Path:
    """The boundary of a project's own files: the widest of samlink.model.root's project roots
    (the git work tree holding `template`, the directory `sam build` runs in, `sam_cwd`, when
    it holds the template, the template's folder).

    A root that holds the home directory never bounds what ships (dotfiles kept in git, a
    `sam build` started in a home's parent): the next narrower one does.
    """
    home = os.path.realpath(os.path.expanduser("~"))
    cwd = Path(sam_cwd) if sam_cwd else template.parent
    for candidate in project_roots(template, cwd):  # widest first
        if not _inside(home, str(candidate)):
            return candidate
    return Path(os.path.realpath(template)).parent


# --- sync builds ------------------------------------------------------------------------------


def realize(
    dest: Path, code_dir: Path, scratch: Path | None = None, boundary: Path | None = None
) -> int:
    """Replace the top-level links of a dev build with real files the rule lets ship; returns
    the count of files.

    `boundary` is the project root (see `project_root`; by default the git work tree holding
    the code dir, or the code dir). Every link is
    judged before anything is replaced: a refused one stops the build and leaves the dev build
    as it was. Files are hard-linked. A source inside `code_dir` is taken from `scratch` (SAM's
    temp copy of the code dir, make's cwd) when there is one, and copied otherwise: SAM watches
    the code dir, and on some systems a hard link made to a watched file reads as an edit.
    """
    project = boundary if boundary is not None else git_work_tree(code_dir) or code_dir
    if scratch is not None and scratch.resolve() == code_dir.resolve():
        scratch = None
    plans: list[tuple[Path, list[Item], Path | None, bool]] = []
    for entry in sorted(dest.iterdir()):
        if not entry.is_symlink():
            continue
        target = entry.resolve()
        if not target.exists():
            raise Refusal(entry, os.readlink(entry), "dangling", dest).error()
        code_entry = code_dir / entry.name
        if os.path.lexists(code_entry) and code_entry.resolve() == target:
            # The function's code: judge the code dir's own entry, a link itself perhaps.
            items = files_to_ship(code_entry, project)
            plans.append((entry, items, scratch / entry.name if scratch else None, True))
        else:  # a linked package: outside the project, its links must stay in the package
            boundary = project if _inside(str(target), str(project.resolve())) else target
            plans.append((entry, files_to_ship(target, boundary), None, False))
    count = 0
    for entry, items, copy_base, code in plans:
        staged = entry.with_name(f".{entry.name}.samlink-real")
        _remove(staged)
        count += _place(items, staged, copy_base, code=code)
        entry.unlink()
        staged.rename(entry)
    return count


def _place(items: list[Item], dest: Path, copy_base: Path | None, *, code: bool) -> int:
    """Lay `items` out under `dest`: hard links to linked sources and to SAM's copy of the code,
    copies of code files SAM's copy lacks."""
    hard = True  # until the file system says otherwise
    count = 0
    for item in items:
        target = dest / item.rel if item.rel else dest
        if item.folder:
            target.mkdir(exist_ok=True)
            continue
        source, link = item.source, hard and not code
        if copy_base is not None:
            copy = copy_base / item.rel if item.rel else copy_base
            if copy.is_file() and not copy.is_symlink():
                source, link = copy, hard
        linked = _put(source, target, link)
        if link:
            hard = linked
        count += 1
    return count


def _put(source: Path, dest: Path, hard: bool) -> bool:
    """Hard-link (or copy) one file; returns whether hard links still work for the next one."""
    if hard:
        try:
            os.link(source.resolve(), dest)
            return True
        except OSError as exc:  # another file system, or one without hard links
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
                raise
    shutil.copy2(source, dest)
    return False


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)
