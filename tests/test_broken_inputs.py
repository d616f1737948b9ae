"""Every command a user types, against a table of broken inputs: never a traceback.

Each (case, command) pair runs the real `samlink` on a fresh copy of the hello-world example
(initialised and linked), broken as the case says. Whatever the outcome, there is no traceback
and no exit code 3. Exit 2 is one line, `samlink: error: ... (hint: ...)`, and the project is
byte for byte as it was (nothing half-written). The case says which commands must refuse (2), or
may fail as a build fails (1). Commands the case does not concern just must not crash.

Read-only files: tests run as root, and root ignores file modes, so a read-only bind mount is
made inside a private mount namespace (`unshare -m`, nothing leaks to the host); a full disk is a
tiny tmpfs there, filled up. Where mount namespaces are not permitted those cases skip.
`samlink sync` runs with standard input closed, so SAM's confirmation prompt ends it early when
samlink lets it start; `samlink watch` runs only in cases that must stop it before it watches.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import BIN, copy_example, run

SAMLINK = BIN / "samlink"
ONE_LINE = re.compile(r"^samlink: error: .+ \(hint: .+\)$")
TIMEOUT = 120

# name -> argv after `samlink`; ARTIFACTS_DIR is set for `build` (it runs inside make).
COMMANDS: dict[str, list[str]] = {
    "init": ["init"],
    "link": ["link", "sam-sync-test-upstream"],
    "unlink": ["unlink", "sam-sync-test-upstream"],
    "unlink --all": ["unlink", "--all"],
    "status": ["status"],
    "build": ["build", "HelloWorldFunction"],
    "invoke": ["invoke", "HelloWorldFunction", "--no-build"],
    "check": ["check"],
    "doctor": ["doctor"],
    "cache list": ["cache", "list"],
    "cache prune": ["cache", "prune", "--older-than", "0"],
    "cache verify": ["cache", "verify"],
    "cache clear": ["cache", "clear"],
    "sync": ["sync", "--stack-name", "dev"],
    "watch": ["watch"],
    # The servers run only in cases that must stop them before they serve (they would not end).
    "start-api": ["start-api", "--port", "0"],
    "start-lambda": ["start-lambda", "--port", "0"],
}
SERVERS = frozenset({"start-api", "start-lambda"})
# Commands whose exit 1 is a report (findings, SAM's own exit) rather than a one-line error.
REPORTS = {"check", "doctor", "sync", "watch", "invoke"}


def _can_unshare() -> str | None:
    if shutil.which("unshare") is None:
        return "no unshare here"
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=4k tmpfs /mnt"],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        return f"mount namespaces not permitted here: {probe.stderr.strip()}"
    return None


NO_UNSHARE = _can_unshare()


@dataclass
class Setup:
    """A fresh copy of the project, and what the case did to it."""

    project: Path
    env: dict[str, str]
    scratch: Path
    mounts: list[str] = field(default_factory=list)  # shell lines run in the namespace first
    watch: list[Path] = field(default_factory=list)  # more trees that must not change on exit 2

    def readonly(self, path: Path) -> None:
        self.mounts.append(f"mount --bind '{path}' '{path}'")
        self.mounts.append(f"mount -o remount,bind,ro '{path}'")

    def full_disk(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.mounts.append(f"mount -t tmpfs -o size=64k tmpfs '{path}'")
        # Fill it: every later write gets ENOSPC.
        self.mounts.append(f"head -c 1048576 /dev/zero > '{path}/.filler' 2>/dev/null || true")


@dataclass(frozen=True)
class Case:
    name: str
    setup: Callable[[Setup], None]
    refuse: frozenset[str] = frozenset()  # must exit 2, one line, nothing written
    fail: frozenset[str] = frozenset()  # must exit 1 or 2 (a build that cannot go on)
    only: frozenset[str] | None = None  # the commands that concern the case (default: all)
    must_say: str = ""  # every refusal names this
    follow_up: tuple[tuple[str, ...], ...] = ()  # commands that must then work (exit 0)
    mounts: bool = False


def _dup_key(s: Setup) -> None:
    (s.project / "samconfig.toml").write_text(
        "version = 0.1\n[default.local_invoke.parameters]\nmount_symlinks = true\n"
        "mount_symlinks = false\n"
    )


def _link_loop(s: Setup) -> None:
    (s.project / "loop").symlink_to("loop")
    (s.project / "a").symlink_to("b")
    (s.project / "b").symlink_to("a")


def _links_shape(text: str) -> Callable[[Setup], None]:
    def setup(s: Setup) -> None:
        (s.project / ".samlink" / "links.json").write_text(text)

    return setup


def _cache_is_file(s: Setup) -> None:
    cache = s.scratch / "cache-file"
    cache.write_text("not a folder\n")
    s.env["SAMLINK_CACHE_DIR"] = str(cache)


def _full_build_dir(s: Setup) -> None:
    s.full_disk(Path(s.env["ARTIFACTS_DIR"]).parent)


def _ro_template(s: Setup) -> None:
    (s.project / "template.yaml").write_text(
        (s.project / "template.yaml").read_text().replace("BuildMethod: makefile", "BuildMethod: x")
    )
    s.readonly(s.project / "template.yaml")


def _ro_code_dir(s: Setup) -> None:
    (s.project / "hello_world" / "Makefile").unlink()
    text = (s.project / "template.yaml").read_text()
    (s.project / "template.yaml").write_text(
        re.sub(r"\n +Metadata:\n +BuildMethod: makefile", "", text)
    )
    s.readonly(s.project / "hello_world")


def _ro_state(s: Setup) -> None:
    (s.project / ".samlink" / "links.json").write_text('{"format": 1, "links": []}\n')
    s.readonly(s.project / ".samlink")


def _ro_store(s: Setup) -> None:
    store = s.scratch / "store"
    store.mkdir()
    s.env["SAMLINK_CACHE_DIR"] = str(store)
    s.readonly(store)
    s.watch.append(store)


def _ro_filled_store(s: Setup) -> None:
    store = s.scratch / "store"
    # A real build fills it (an entry, its manifest, a lock file) before it turns read-only.
    run(
        [SAMLINK, "build", "HelloWorldFunction"],
        s.project,
        {**s.env, "SAMLINK_CACHE_DIR": str(store)},
    )
    shutil.rmtree(Path(s.env["ARTIFACTS_DIR"]))
    Path(s.env["ARTIFACTS_DIR"]).mkdir()
    s.env["SAMLINK_CACHE_DIR"] = str(store)
    s.readonly(store)
    s.watch.append(store)


def _not_yaml(s: Setup) -> None:
    (s.project / "template.yaml").write_text("Resources:\n  Fn: [unclosed\n\t- tab\n")


def _bad_requirements(s: Setup) -> None:
    (s.project / "hello_world" / "requirements.txt").write_text("requests===\n")


EXTRA = {
    # The symlink-loop case runs link on each kind of loop.
    "loop": ["link", "loop"],
    "pair": ["link", "a"],
    # An unknown function id, wherever a command takes one.
    "build Nope": ["build", "Nope"],
    "invoke Nope": ["invoke", "Nope"],
    "init Nope": ["init", "Nope"],
    "link --function Nope": ["link", "sam-sync-test-upstream", "--function", "Nope"],
}
ALL = frozenset(COMMANDS) - SERVERS
NO_WATCH = ALL - {"watch"}
TEMPLATE_READERS = frozenset({"init", "link", "status", "build", "invoke", "sync", "watch"})
# `invoke --no-build` may stop first at "not built", which is right too. `watch` says what is
# wrong with the registry and keeps watching it for the fix, as it should: it is not run here.
REGISTRY_READERS = frozenset({"link", "unlink", "status", "build", "sync"})
CASES = [
    Case(
        "samconfig.toml with a duplicate key",
        _dup_key,
        refuse=frozenset({"init"}) | SERVERS,
        fail=frozenset({"check", "doctor"}),
        only=NO_WATCH | SERVERS,
        must_say="samconfig.toml",
    ),
    Case(
        "link a symlink loop",
        _link_loop,
        refuse=frozenset({"loop", "pair"}),
        only=frozenset({"loop", "pair"}),
        must_say="loop",
    ),
    Case(
        "links.json is a list",
        _links_shape("[1, 2]\n"),
        refuse=REGISTRY_READERS,
        only=NO_WATCH,
        must_say="links.json",
        follow_up=(("unlink", "--all"), ("status",)),
    ),
    Case(
        "links.json with links of the wrong shape",
        _links_shape('{"format": 1, "links": [{"nome": "x"}, 3]}\n'),
        refuse=REGISTRY_READERS,
        only=NO_WATCH,
        must_say="links.json",
        follow_up=(("unlink", "--all"), ("status",)),
    ),
    Case(
        "links.json with a path of the wrong type",
        _links_shape('{"format": 1, "links": [{"name": "x", "path": 3, "functions": "Fn"}]}\n'),
        refuse=REGISTRY_READERS,
        only=NO_WATCH,
        must_say="links.json",
        follow_up=(("unlink", "--all"), ("status",)),
    ),
    Case(
        "SAMLINK_CACHE_DIR is a file",
        _cache_is_file,
        refuse=frozenset({"build", "cache list", "cache prune", "cache verify", "cache clear"}),
        only=NO_WATCH,
        must_say="SAMLINK_CACHE_DIR",
    ),
    Case(
        "a full disk under the build dir",
        _full_build_dir,
        fail=frozenset({"build"}),
        only=frozenset({"build"}),
        must_say="space",
        mounts=True,
    ),
    Case(
        "a read-only template",
        _ro_template,
        refuse=frozenset({"init"}),
        only=frozenset({"init", "link", "unlink", "status", "check", "doctor"}),
        must_say="template.yaml",
        mounts=True,
    ),
    Case(
        "a read-only code dir",
        _ro_code_dir,
        refuse=frozenset({"init"}),
        only=frozenset({"init", "link", "status", "check", "doctor"}),
        must_say="hello_world",
        mounts=True,
    ),
    Case(
        "a read-only .samlink",
        _ro_state,
        refuse=frozenset({"link", "unlink --all"}),
        only=frozenset({"link", "unlink --all", "status", "build", "check", "doctor"}),
        must_say=".samlink",
        mounts=True,
    ),
    Case(
        "a read-only empty store",
        _ro_store,
        fail=frozenset({"build"}),
        only=frozenset(
            {"build", "cache list", "cache prune", "cache verify", "cache clear", "doctor"}
        ),
        must_say="store",
        mounts=True,
    ),
    Case(
        "a read-only store with entries",
        _ro_filled_store,
        refuse=frozenset({"cache prune", "cache clear"}),
        only=frozenset({"build", "cache list", "cache prune", "cache verify", "cache clear"}),
        must_say="dependency store",
        mounts=True,
    ),
    Case(
        "a template that is not YAML",
        _not_yaml,
        refuse=TEMPLATE_READERS | SERVERS,
        fail=frozenset({"check", "doctor"}),
        only=ALL | SERVERS,
        must_say="template.yaml",
    ),
    Case(
        "a requirements file with a bad line",
        _bad_requirements,
        refuse=frozenset({"link", "build", "status", "sync"}),
        fail=frozenset({"check"}),
        only=NO_WATCH,  # watch reports it and keeps watching for the fix, as it should
        must_say="requirements.txt:1",
    ),
    Case(
        "an unknown function id",
        lambda s: None,
        refuse=frozenset({"build Nope", "invoke Nope", "init Nope", "link --function Nope"}),
        only=frozenset({"build Nope", "invoke Nope", "init Nope", "link --function Nope"}),
        must_say="Nope",
    ),
]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory, tool_env: dict[str, str]) -> Path:
    """The example, initialised and linked, with its wheelhouse: copied for every run."""
    project = copy_example(tmp_path_factory.mktemp("pristine") / "hello", tool_env)
    run([SAMLINK, "init"], project, tool_env)
    run([SAMLINK, "link", "sam-sync-test-upstream"], project, tool_env)
    return project


def snapshot(*roots: Path) -> dict[str, str]:
    """Every entry under the roots, links not followed: a link's target, a file's digest.

    Left out: `.samlink/projects/` (a cache of inspected checkouts, derived and safe to lose)
    and lock files under `.samlink/` (coordination between processes, empty).
    """
    found: dict[str, str] = {}
    for root in roots:
        for folder, dirs, files in os.walk(root):
            for name in dirs + files:
                path = Path(folder) / name
                if path.parent.name == ".samlink" and (
                    name == "projects" or name.endswith(".lock")
                ):
                    continue
                if path.parent.name == "projects" and path.parent.parent.name == ".samlink":
                    continue
                if path.is_symlink():
                    found[str(path)] = "-> " + os.readlink(path)
                elif path.is_file():
                    found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
                else:
                    found[str(path)] = "dir"
    return found


def invoke_command(
    argv: list[str], s: Setup, *, stdin_closed: bool = True
) -> subprocess.CompletedProcess[str]:
    cmd = [str(SAMLINK), *argv]
    if s.mounts:
        script = " && ".join([*s.mounts, 'exec "$@"'])
        cmd = ["unshare", "-m", "sh", "-c", script, "sh", *cmd]
    proc = subprocess.Popen(
        cmd,
        cwd=s.project,
        env=s.env,
        stdin=subprocess.DEVNULL if stdin_closed else None,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # so a command that does not stop can be ended with its children
    )
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return subprocess.CompletedProcess(cmd, -9, out, err + "\n[did not stop: killed]")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def fresh(pristine: Path, tmp: Path, env: dict[str, str]) -> Setup:
    project = tmp / "hello"
    shutil.copytree(pristine, project, symlinks=True)
    (tmp / "scratch").mkdir()
    artifacts = tmp / "artifacts" / "HelloWorldFunction"
    artifacts.parent.mkdir()
    return Setup(project, {**env, "ARTIFACTS_DIR": str(artifacts)}, tmp / "scratch")


def judge(
    case: Case,
    name: str,
    result: subprocess.CompletedProcess[str],
    s: Setup,
    before: dict[str, str],
) -> list[str]:
    """What is wrong with one outcome ([] when nothing is)."""
    problems = []
    both = result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    if "Traceback" in both or "internal error" in both or result.returncode not in (0, 1, 2):
        problems.append(f"crashed (exit {result.returncode}):\n{result.stderr[-1500:]}")
        return problems
    if name in case.refuse and result.returncode != 2:
        problems.append(f"exit {result.returncode}, not 2:\n{result.stderr[-800:]}")
    if name in case.fail and result.returncode == 0:
        problems.append(f"exit 0 where it must fail:\n{result.stderr[-800:]}")
    one_line_wanted = result.returncode == 2 or (result.returncode == 1 and name not in REPORTS)
    if one_line_wanted and not (len(lines) == 1 and ONE_LINE.match(lines[0])):
        problems.append(
            f"exit {result.returncode} without one line + hint:\n{result.stderr[-800:]}"
        )
    if result.returncode == 2 and (name in case.refuse) and case.must_say not in result.stderr:
        problems.append(f"the refusal does not name {case.must_say!r}: {result.stderr.strip()}")
    if result.returncode == 2:
        after = snapshot(s.project, *s.watch)
        changed = sorted(set(before.items()) ^ set(after.items()))
        if changed:
            problems.append(f"exit 2 but wrote: {sorted({k for k, _ in changed})[:8]}")
    return problems


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_no_command_crashes_on_broken_input(
    case: Case, pristine: Path, tool_env: dict[str, str], tmp_path: Path
) -> None:
    if case.mounts and NO_UNSHARE:
        pytest.skip(NO_UNSHARE)
    commands = {**COMMANDS, **EXTRA}
    names = sorted(case.only if case.only is not None else ALL)
    problems: dict[str, list[str]] = {}
    for i, name in enumerate(names):
        s = fresh(pristine, tmp_path / f"run{i}", tool_env)
        case.setup(s)
        before = snapshot(s.project, *s.watch)
        result = invoke_command(commands[name], s)
        found = judge(case, name, result, s, before)
        if not found and result.returncode == 2 and case.follow_up:
            for argv in case.follow_up:
                again = invoke_command(list(argv), Setup(s.project, s.env, s.scratch, s.mounts))
                if again.returncode != 0:
                    found.append(
                        f"the hint's `samlink {' '.join(argv)}` failed ({again.returncode}):"
                        f"\n{again.stderr[-800:]}"
                    )
                    break
        if found:
            problems[name] = found
    assert not problems, "\n\n".join(
        f"samlink {name} [{case.name}]:\n  " + "\n  ".join(p) for name, p in problems.items()
    )


@pytest.mark.skipif(NO_UNSHARE is not None, reason=NO_UNSHARE or "")
def test_an_os_error_no_command_names_is_one_line_and_keeps_the_traceback(
    pristine: Path, tool_env: dict[str, str], tmp_path: Path
) -> None:
    # `cache verify --fix` removing a damaged entry of a read-only store: no command maps that
    # one, so main()'s last resort must, without hiding the details.
    s = fresh(pristine, tmp_path, tool_env)
    store = s.scratch / "store"
    run(
        [SAMLINK, "build", "HelloWorldFunction"],
        s.project,
        {**s.env, "SAMLINK_CACHE_DIR": str(store)},
    )
    (manifest,) = store.glob("*/entries/*/manifest.json")
    manifest.write_text("{")
    s.env["SAMLINK_CACHE_DIR"] = str(store)
    s.readonly(store)
    result = invoke_command(["cache", "verify", "--fix"], s)
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert ONE_LINE.match(line) and "Read-only file system" in line, line
    log = Path(line.rsplit("details in ", 1)[1].rstrip(")"))
    try:
        assert "Traceback" in log.read_text() and "OSError" in log.read_text()
    finally:
        log.unlink()
    assert manifest.read_text() == "{"
