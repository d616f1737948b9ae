"""The warm `samlink build`: replay the last build's plan when none of its inputs changed.

SAM reruns the make target on every `sam build` and every `sam sync` change, into an emptied
ARTIFACTS_DIR, so a build with nothing changed should cost about what hard-linking the tree
does. A full build (`assemble.build`) ends by saving a PLAN, `.samlink/builds/<Id>.plan`: the
store entry's files, the steps that followed (`Op`s: links, small files, copies), the summary,
and a STAMP of every input it read (stat of files, names in folders, a digest of the
environment variables that matter). `samlink.entry`, the console entry, hands `replay` the
arguments of the generated make target; it recomputes the stamp and, when it matches, replays
the plan; anything else, or any doubt, goes to the click CLI and the full build.

The full build applies its steps with `tree.apply`, as a replay does: the same tree by
construction.

Start-up is most of a warm build: this module imports only what Python has loaded before
`site` runs (os, sys, marshal, stat, time), and the plan is marshal data, not JSON (`json` pulls in
`re` and `enum`, about 10 ms). shutil and samlink.build.ship are imported only when needed.
"""

from __future__ import annotations

import marshal
import os
import sys
import time

from samlink import __version__
from samlink.build.tree import apply, materialize, touch

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; mypy reads these, Python never runs them
    from collections.abc import Iterable, Mapping, Sequence
    from typing import Any

Stamp = list[tuple[str, str, object]]

PLAN_FORMAT = 2  # 2: "sealed", the store entry's newest file mtime (the in-place edit guard)
PLAN_SUFFIX = ".plan"
DEBUG_ENV = "SAMLINK_DEBUG"
# Environment variables read by a build: pip's and uv's settings, samlink's options, where pip
# looks for its files and samlink keeps its store, and PATH (uv or keyring found on it).
ENV_PREFIXES = ("PIP_", "UV_", "SAMLINK_")
ENV_NAMES = (
    "HOME",
    "PATH",
    "VIRTUAL_ENV",
    "XDG_CACHE_HOME",
    "XDG_CONFIG_DIRS",
    "XDG_CONFIG_HOME",
)
# Read by the build but not changing what it makes: the mode is chosen at replay, REFRESH is
# checked on its own, DEBUG only talks, SAM_CWD (where `sam build` runs) is checked on its own.
ENV_IGNORED = frozenset({DEBUG_ENV, "SAMLINK_SYNC", "SAMLINK_SAM_CWD", "SAMLINK_RESOURCE"})
# A nested application's make target: `build Fn --template T --makefile M --root-template R`.
ROOT_OPTION = "--root-template"
# The full ID a nested build serves ("App/Child/Fn"), where ARTIFACTS_DIR cannot tell it (a
# rebuild into a fresh sibling dir); else it is the tail of ARTIFACTS_DIR, as SAM lays it out.
RESOURCE_ENV = "SAMLINK_RESOURCE"
# An input whose ctime is this close to the build's start may have changed after the build
# read it (coarse file system clocks, the template read before the build starts): no plan.
RACY_NS = 1_000_000_000


class Miss(Exception):
    """Why the plan cannot be replayed (only told under SAMLINK_DEBUG=1)."""


def replay(argv: Sequence[str], started: float) -> int:
    """Replay the plan for `build ID --template T [--makefile M]`; raises Miss otherwise."""
    root = ""  # a nested application's target names the root template too
    if len(argv) == 8 and argv[2] == "--template" and argv[4:7:2] == ["--makefile", ROOT_OPTION]:
        makefile = _makefile_from_list(argv[5])
        template = os.path.join(os.path.dirname(makefile), argv[3])
        root = os.path.join(os.path.dirname(makefile), argv[7])
    elif len(argv) == 6 and argv[2] == "--template" and argv[4] == "--makefile":
        makefile = _makefile_from_list(argv[5])
        template = os.path.join(os.path.dirname(makefile), argv[3])
    elif len(argv) == 4 and argv[2] == "--template":
        makefile, template = "", argv[3]
    else:
        raise Miss("not the make target's arguments")
    resource = argv[1]
    artifacts = os.environ.get("ARTIFACTS_DIR")
    if not artifacts or not resource.isalnum():
        raise Miss("no ARTIFACTS_DIR, or an unusual resource id")
    if os.environ.get("SAMLINK_REFRESH"):
        raise Miss("SAMLINK_REFRESH is set")
    template = os.path.realpath(template)
    project = os.path.dirname(os.path.realpath(root) if root else template)
    plan: dict[str, Any] | None = None
    for full_id in nested_ids(artifacts, resource) if root else [resource]:
        try:
            with open(plan_path(project, full_id), "rb") as f:
                plan = marshal.loads(f.read())
        except FileNotFoundError:
            continue
        except (OSError, EOFError, ValueError, TypeError) as exc:
            raise Miss(f"unreadable plan: {exc}") from None
        if root and isinstance(plan, dict) and plan.get("template") != template:
            plan = None  # another stack's resource of the same name (Other/Fn beside App/Fn)
            continue
        break
    if plan is None:
        raise Miss("no plan yet")
    check(plan, template, full_id)
    if root:
        check_stacks(project, full_id)

    dest = os.path.realpath(artifacts)
    if plan["kind"] == "layer":
        dest = os.path.join(dest, "python")
    materialize(plan["tree"], dest, plan["top"], plan["halves"], plan["symlinks"], plan["sealed"])
    materialized = apply(dest, plan["ops"])
    touch(plan["marker"])
    seconds = time.monotonic() - started
    _update_record(plan, project, dest, materialized)
    summary = dict(plan["summary"], seconds=seconds, materialized=materialized)
    finish(plan["id"], dest, summary, makefile=bool(makefile))
    debug("replayed the plan")
    return 0


def check(plan: Mapping[str, Any], template: str, resource: str) -> None:
    """Raise Miss unless `plan` is for this template, resource and unchanged inputs."""
    if not isinstance(plan, dict) or plan.get("format") != PLAN_FORMAT:
        raise Miss("plan of another format")
    if plan["samlink"] != __version__ or plan["prefix"] != sys.prefix:
        raise Miss("plan made by another samlink")
    if plan["template"] != template or plan["id"] != resource:
        raise Miss("plan of another template")
    if plan["env"] != env_digest(os.environ, plan["env_extra"]):
        raise Miss("environment changed")
    for kind, path, value in plan["stamp"]:
        if observe(kind, path) != value:
            raise Miss(f"{path} changed")
    # A project root widened to where `sam build` ran (samlink.build.ship.project_root) holds
    # only while it runs there: elsewhere the full build finds the root anew.
    widened = plan.get("cwd_root")
    if widened:
        cwd = os.environ.get("SAMLINK_SAM_CWD") or os.environ.get("PWD") or "."
        if os.path.realpath(cwd) != widened:
            raise Miss("`sam build` runs in another directory")
    expires = plan["expires"]
    if expires is not None and time.time() > expires:
        raise Miss("the store entry is due for a refresh (unpinned requirements)")


def nested_ids(artifacts: str, local_id: str) -> list[str]:
    """The full IDs a nested build into `artifacts` may serve, shortest first: SAM builds
    App/Child/Fn into <build dir>/App/Child/Fn (or names it in SAMLINK_RESOURCE)."""
    named = os.environ.get(RESOURCE_ENV)
    if named:
        return [named] if named.rsplit("/", 1)[-1] == local_id else []
    parts = [part for part in os.path.normpath(artifacts).split(os.sep) if part]
    if not parts or parts[-1] != local_id:
        return []
    return ["/".join(parts[start:]) for start in range(len(parts) - 2, -1, -1)]


def stacks_path(project_dir: str, resource: str) -> str:
    """Beside a nested resource's plan: the stamp of the templates above its own (the root's and
    its parents'), whose Parameters decide its values; the plan stamps its own template."""
    return plan_path(project_dir, resource) + ".stacks"


def save_stacks(project_dir: str, resource: str, templates: Sequence[str], since_ns: int) -> None:
    """Stamp the parent templates of a nested resource's build (none when one changed while it
    ran: the next build is a full one)."""
    import contextlib

    stamp = make_stamp([("f", path) for path in templates], since_ns)
    with contextlib.suppress(OSError):  # a read-only project keeps no plan either
        if stamp is None:
            os.unlink(stacks_path(project_dir, resource))
        else:
            write_atomic(stacks_path(project_dir, resource), marshal.dumps(stamp))


def check_stacks(project_dir: str, resource: str) -> None:
    """Raise Miss unless the parent templates are as the nested build saw them."""
    try:
        with open(stacks_path(project_dir, resource), "rb") as f:
            stamp: Stamp = marshal.loads(f.read())
    except (OSError, EOFError, ValueError, TypeError):
        raise Miss("no stamp of the parent templates") from None
    for kind, path, value in stamp:
        if observe(kind, path) != value:
            raise Miss(f"{path} changed")


# Both under links.STATE_DIR (".samlink"); samlink.model.links imports packaging: not used here.
def plan_path(project_dir: str, resource: str) -> str:
    """Where the plan of `resource` lives (next to its build record)."""
    return os.path.join(project_dir, ".samlink", "builds", resource + PLAN_SUFFIX)


def record_path(project_dir: str, resource: str) -> str:
    """The build record of `resource` (assemble writes it; `samlink status` reads it)."""
    return os.path.join(project_dir, ".samlink", "builds", resource + ".json")


def _makefile_from_list(value: str) -> str:
    # As makefile.makefile_from_list: the first existing file made of a prefix of the words.
    words = value.strip().split(" ")
    for end in range(1, len(words) + 1):
        candidate = " ".join(words[:end])
        if candidate and os.path.isfile(candidate):
            return os.path.realpath(candidate)
    raise Miss("Makefile not found")


def debug(message: str) -> None:
    """Tell why a build replayed its plan or not (SAMLINK_DEBUG=1).

    Under make (MAKELEVEL set) the report goes to stdout: `sam build` prints make's stdout and
    keeps its stderr to itself unless the build fails.
    """
    if os.environ.get(DEBUG_ENV) == "1":
        out = sys.stdout if "MAKELEVEL" in os.environ else sys.stderr
        print(f"samlink: fast path: {message}", file=out, flush=True)


# --- the stamp ---------------------------------------------------------------------------------


def observe(kind: str, path: str) -> object:
    """What an input looks like now; any change means the plan is not to be trusted.

    "f": a file (size, mtime, ctime, inode; None if missing); "m": the same for a file that is
    never rewritten (a store manifest); "d": the names a build sees in a folder (no dot names;
    folders end in "/", links carry their real target); "l": a find-links folder's listing,
    as the store key takes it; "r": where a path really is (a code dir reached by a link).
    """
    if kind in ("f", "m"):
        try:
            st = os.stat(path)
        except OSError:
            return None
        return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
    if kind == "d":
        try:
            with os.scandir(path) as it:
                names = []
                for entry in it:
                    name = entry.name
                    if name.startswith("."):
                        continue
                    if entry.is_symlink():
                        name += "@" + os.path.realpath(entry.path)
                    if entry.is_dir():
                        name += "/"
                    names.append(name)
        except OSError:
            return None
        names.sort()
        return names
    if kind == "l":
        try:
            return sorted(os.listdir(path))
        except OSError:
            return None
    if kind == "r":
        return os.path.realpath(path)
    raise ValueError(f"unknown stamp kind {kind!r}")


def make_stamp(inputs: Iterable[tuple[str, str]], since_ns: int) -> Stamp | None:
    """The stamp of `inputs` now; None if one of them changed while the build ran."""
    stamp: Stamp = []
    seen: set[tuple[str, str]] = set()
    for kind, path in inputs:
        if (kind, path) in seen:
            continue
        seen.add((kind, path))
        value = observe(kind, path)
        if kind not in ("m", "r") and value is not None:
            try:
                changed = os.stat(path).st_ctime_ns
            except OSError:
                return None
            if changed >= since_ns - RACY_NS:
                return None
        stamp.append((kind, path, value))
    return stamp


def env_names(environ: Mapping[str, str], extra: Iterable[str] = ()) -> list[str]:
    """The variables a build depends on: by prefix, by name, and `extra` (from requirements)."""
    names = {n for n in environ if n.startswith(ENV_PREFIXES) and n not in ENV_IGNORED}
    return sorted(names | set(ENV_NAMES) | set(extra))


def env_digest(environ: Mapping[str, str], extra: Iterable[str] = ()) -> str:
    """A digest of the values of `env_names` (stored instead of them: index URLs hold tokens)."""
    try:
        from _blake2 import blake2b  # hashlib's own backend; hashlib loads OpenSSL (~4 ms)
    except ImportError:  # pragma: no cover - an interpreter without it
        from hashlib import blake2b
    digest = blake2b(digest_size=20)
    for name in env_names(environ, extra):
        value = environ.get(name)
        if value is not None:
            digest.update(f"{name}={value}\0".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def _update_record(
    plan: Mapping[str, Any], project: str, dest: str, materialized: list[str]
) -> None:
    # The full build's record stays true while it is the file the plan saw and this build went
    # to the same place and copied as many files; else it is rewritten (json costs start-up).
    record = plan["record"]
    path = record_path(project, plan["id"])
    if (
        record["dest"] == dest
        and record["materialized"] == materialized
        and observe("f", path) == plan["record_stamp"]
    ):
        return
    import contextlib
    import json

    record = dict(record, dest=dest, built=time.time(), materialized=materialized)
    with contextlib.suppress(OSError):  # as the full build: a read-only project still builds
        write_atomic(path, (json.dumps(record, indent=2) + "\n").encode())


def write_atomic(path: str, data: bytes) -> None:
    """Replace `path` with `data` whole; a killed writer's temp file is swept by the next one."""
    from samlink import atomicfile  # imports only os: still the warm path's budget

    atomicfile.write_bytes(path, data)


# --- the end of every build: summary, and real files under `samlink sync` ---------------------


def finish(resource: str, dest: str, summary: Mapping[str, Any], *, makefile: bool) -> None:
    """Print the build's summary; under `samlink sync`, first turn its links into real files."""
    release = bool(summary["release"])
    if os.environ.get("SAMLINK_SYNC") == "1" and not release:
        # Under `samlink sync` SAM zips this dir for upload, following links: hand it real,
        # filtered files instead (no __pycache__, tests, editor files), as hard links.
        from pathlib import Path

        from samlink.build.ship import realize

        scratch = Path.cwd() if makefile else None
        root = Path(summary["root"]) if summary.get("root") else None
        count = realize(Path(dest), Path(summary["code_dir"]), scratch, root)
        print(render_summary(resource, summary, mode="sync"))
        print(f"samlink: {resource}: sync build: {count} linked files as real files")
        return
    print(render_summary(resource, summary, mode="release" if release else "dev"))


def render_summary(name: str, summary: Mapping[str, Any], *, mode: str) -> str:
    """The lines a build prints at its end (make's output reaches the `sam build` user).

    `summary`: files, seconds, code_dir, code_linked, linked [(name, root, origin)],
    materialized. `mode` is "dev", "release" or "sync" (a dev build that `samlink sync` uploads
    as files).
    """
    lines = [f"samlink: warning: {text}" for text in summary.get("warnings", ())]
    files, seconds = summary["files"], summary["seconds"]
    lines.append(f"samlink: {name}: {files} dependency files in {seconds:.2f}s")
    if mode == "release":
        lines.append(f"samlink: {name}: RELEASE build, real files only")
        return "\n".join(lines)
    linked = summary["linked"]
    if mode == "sync":
        names = ", ".join(project for project, _root, _origin in linked) or "no linked library"
        lines.append(
            f"samlink: {name}: SYNC build for a dev stack: the function code and {names}, "
            "as they are on this machine now"
        )
        return "\n".join(lines)
    code_links = list(summary.get("code_links") or [])
    if not (summary["code_linked"] or linked or summary["materialized"]):
        lines.append(f"samlink: {name}: DEV BUILD, no live links: real files only")
        return "\n".join(lines)
    lines.append(
        f"samlink: {name}: DEV BUILD with live links to this machine's files "
        "(`sam deploy` would ship them as they are now):"
    )
    if summary["code_linked"]:
        what = "layer code" if summary.get("kind") == "layer" else "function code"
        names = f" ({', '.join(code_links)})" if code_links else ""
        lines.append(f"samlink:   {what} -> {summary['code_dir']}{names}")
    for project, root, origin in linked:
        lines.append(f"samlink:   {project} -> {root} ({origin})")
    for item in summary["materialized"]:
        lines.append(f"samlink:   copied, not live (refresh with `samlink watch`): {item}")
    lines.append(
        "samlink: `sam local invoke` mounts these links (mount_symlinks, SAM >= 1.134); "
        "`sam local start-api`/`start-lambda` cannot: use `samlink start-api`/`start-lambda`"
    )
    lines.append("samlink: to deploy, build with SAMLINK_RELEASE=1 and run `samlink check`")
    return "\n".join(lines)


def save_plan(project_dir: str, plan: dict[str, Any]) -> None:
    """Write a plan (marshal data: read back without importing anything)."""
    # A nested application's plan sits in folders named after its stack path.
    os.makedirs(os.path.dirname(plan_path(project_dir, plan["id"])), exist_ok=True)
    write_atomic(plan_path(project_dir, plan["id"]), marshal.dumps(plan))


def drop_plan(project_dir: str, resource: str) -> None:
    """Forget a plan (a build that cannot be replayed)."""
    import contextlib

    with contextlib.suppress(OSError):  # a read-only project keeps no plan either
        os.unlink(plan_path(project_dir, resource))
