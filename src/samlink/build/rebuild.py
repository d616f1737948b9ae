"""Bring one resource's build dir up to date without touching the others.

`sam build ID` wipes every other function's artifacts (FACTS.md), so a single resource is rebuilt
the way SAM would build it (its make target, ARTIFACTS_DIR set) into a fresh sibling dir, which
then replaces the old one: a failed or interrupted rebuild leaves the old build in place.

Several samlink processes may find the same build stale at once. A rebuild holds the build dir's
lock exclusively (a flock on the folder that holds it) and checks again once it has it, so the
work is done once; the swap is one rename (an exchange on Linux); readers (`invoke`) hold the
lock shared while they read and run a function, so they see the old build or the new, never a
mix and never a gap.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from samlink import locks, reaper
from samlink.build.location import built_template, not_built
from samlink.build.plan import RESOURCE_ENV
from samlink.build.state import build_state
from samlink.errors import BuildError
from samlink.model import links
from samlink.model.template import Resource, Template


def stale_reasons(template: Template, resource: Resource, root: Path) -> list[str]:
    """Why a resource's dir in the build dir `root` no longer matches its inputs ([] when it
    does); `root` comes from `location.find_build_dir`."""
    build_dir = root / resource.logical_id
    if not build_dir.exists():
        return ["not built"]
    built = built_template(root)
    # A nested application's resource also goes stale with its own (child) template.
    sources = {template.path, resource.template_path or template.path}
    if built.exists() and any(p.stat().st_mtime > built.stat().st_mtime for p in sources):
        return ["template changed"]
    found = build_state(template.path.parent, resource, links.load(template.path.parent), root)
    return list(found["stale"]) if found["built"] else []


@contextlib.contextmanager
def reading(root: Path) -> Iterator[None]:
    """While a function of the build dir `root` is read and run: no rebuild swaps a dir in it."""
    with locks.folder_lock(_lock_folder(root), shared=True):
        yield None


@contextlib.contextmanager
def changing(root: Path) -> Iterator[None]:
    """While dirs of the build dir `root` are rebuilt and swapped: no reader, no other writer."""
    root.parent.mkdir(parents=True, exist_ok=True)
    with locks.folder_lock(_lock_folder(root)):
        yield None


def _lock_folder(root: Path) -> Path:
    # The folder that holds the build dir, not the build dir itself: `sam build` and `samlink
    # watch` replace that one, and a lock on a folder that is replaced locks nothing.
    return Path(os.path.abspath(root)).parent


def rebuild(
    template: Template, resource: Resource, root: Path, stopper: reaper.Stopper | None = None
) -> bool:
    """Run the resource's make target into a fresh dir of the build dir `root`, and swap it in.

    Returns False when another process rebuilt it while this one waited for the lock.
    `stopper` ends the make (its whole tree) when a server stops mid-build: the old build stays.
    """
    with changing(root):
        if not stale_reasons(template, resource, root):
            sys.stderr.write(
                f"samlink: {resource.logical_id} was rebuilt meanwhile by another samlink\n"
            )
            return False
        _rebuild(resource, root, stopper)
        return True


def _rebuild(resource: Resource, root: Path, stopper: reaper.Stopper | None = None) -> None:
    assert resource.code_dir is not None
    root.mkdir(parents=True, exist_ok=True)
    final = root / resource.logical_id  # App/Child/Fn for a nested application's function
    final.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{resource.local_id}.rebuild-"
    # A rebuild killed outright (SIGKILL) leaves its half-made dir behind; only the holder of
    # the lock builds here, so any such dir is a leftover now.
    for leftover in final.parent.glob(f"{glob.escape(prefix)}*"):
        shutil.rmtree(leftover, ignore_errors=True)
    fresh = Path(tempfile.mkdtemp(prefix=prefix, dir=final.parent))
    try:
        # mkdtemp makes 0700; SAM's build dirs are 0755 (and Docker's user must read them).
        fresh.chmod(0o755)
        env = {**os.environ, "ARTIFACTS_DIR": str(fresh)}
        if resource.stack:  # the fresh dir's name cannot tell which full ID it serves
            env[RESOURCE_ENV] = resource.logical_id
        for name in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS"):
            env.pop(name, None)
        # Below a supervisor: a samlink killed mid-rebuild takes make along (issue 11).
        result = reaper.run(
            [
                "make",
                "--makefile",
                str(resource.code_dir / "Makefile"),
                f"build-{resource.local_id}",
            ],
            cwd=resource.code_dir,
            env=env,
            stdout=sys.stderr,
            stderr=subprocess.PIPE,
            text=True,
            stopper=stopper,
        )
        if stopper is not None and stopper.stopped:
            raise BuildError(f"rebuilding {resource.logical_id} stopped", "the old build stays")
        if result.returncode != 0:
            sys.stderr.write(result.stderr)
            lines = [line for line in result.stderr.splitlines() if line.strip()]
            raise BuildError(
                f"rebuilding {resource.logical_id} failed: {lines[-1] if lines else 'make failed'}",
                "fix the error above, or run `sam build`",
            )
        _swap_in(fresh, final)
    finally:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(fresh)


def _swap_in(fresh: Path, final: Path) -> None:
    """Put `fresh` in `final`'s place in one step; what was there ends up at `fresh`."""
    if not (final.exists() or final.is_symlink()):
        os.rename(fresh, final)
        return
    if not _exchange(fresh, final):
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        os.rename(final, old)
        os.rename(fresh, final)
        os.rename(old, fresh)
    if fresh.is_symlink():
        fresh.unlink()


def _exchange(a: Path, b: Path) -> bool:
    """Linux renameat2(RENAME_EXCHANGE): swap two names atomically."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (ImportError, OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return bool(renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0)


def bring_up_to_date(
    template: Template,
    function_id: str,
    root: Path,
    say: Callable[[str], None],
    stopper: reaper.Stopper | None = None,
) -> list[str]:
    """Rebuild a function whose build is stale, the least that will do: its own make target
    (and its stale layers'), or a whole `sam build` when the template changed, nothing was
    built yet or samlink does not build it. Returns why it was stale ([] when it was fresh);
    `say` gets one line per build started (`samlink invoke`, the warm engine); `stopper` ends
    the builds it runs (the warm engine's, when its server is told to stop)."""
    resource = template.get(function_id)
    reasons = stale_reasons(template, resource, root)
    if not reasons:
        return []
    if reasons == ["not built"] and not built_template(root).exists():
        raise not_built(root, template.path, what=f"{function_id} is not built")
    if "template changed" in reasons or reasons == ["not built"] or not resource.managed:
        say(f"samlink: {', '.join(reasons)}: running sam build")
        full_build(template, root, stopper)
        return reasons
    targets = [resource] + [
        template.resources[layer]
        for layer in resource.layers
        if layer in template.resources
        and template.resources[layer].managed
        and stale_reasons(template, template.resources[layer], root)
    ]
    for item in targets:
        why = "; ".join(stale_reasons(template, item, root)) or "stale"
        say(f"samlink: rebuilding {item.logical_id} ({why})")
        rebuild(template, item, root, stopper)
    return reasons


def full_build(template: Template, root: Path, stopper: reaper.Stopper | None = None) -> None:
    """`sam build` of the whole template into the build dir `root`, as the user would run it
    from here (the current directory is the project SAM builds in). It runs below a supervisor:
    a samlink killed or stopped (`stopper`) mid-build takes sam and all it started along."""
    sam = shutil.which("sam")
    if sam is None:
        raise BuildError("sam is not on PATH", "install the AWS SAM CLI: pip install aws-sam-cli")
    with changing(root):
        _sam_build(sam, template, root, stopper)


def _sam_build(sam: str, template: Template, root: Path, stopper: reaper.Stopper | None) -> None:
    result = reaper.run(
        [sam, "build", "--template", str(template.path), "--build-dir", str(root)],
        stdout=sys.stderr,
        stopper=stopper,
    )
    if stopper is not None and stopper.stopped:
        raise BuildError("sam build stopped", "run it again")
    if result.returncode != 0:
        raise BuildError("sam build failed", "see its output above")
