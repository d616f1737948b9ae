"""How the benchmarks run: one scratch dir, the tools' environment, timed commands, medians.

Rows that are compared are measured in the same run, interleaved round by round (row A, row B,
row A, row B, ...), so a slow minute on a shared machine hits every row alike.
"""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent  # the dev venv's bin: samlink, sam, uv


@dataclass
class Row:
    """One measured line of a table: its name and every run's seconds."""

    name: str
    seconds: list[float] = field(default_factory=list)
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def spread(self) -> str:
        if len(self.seconds) < 2:
            return "1 run"
        return f"{min(self.seconds):.2f}-{max(self.seconds):.2f} ({len(self.seconds)} runs)"


@contextmanager
def workdir(keep: bool) -> Iterator[Path]:
    """A scratch dir on the same filesystem as the default temp dir (the store lives there too)."""
    path = Path(tempfile.mkdtemp(prefix="samlink-bench-"))
    try:
        yield path
    finally:
        if keep:
            print(f"kept {path}", file=sys.stderr)
        else:
            subprocess.run(["chmod", "-R", "u+w", str(path)], check=False)
            shutil.rmtree(path, ignore_errors=True)


def tool_env(work: Path, *, store: Path | None = None) -> dict[str, str]:
    """The environment every measured command gets: this venv's tools, python3.12 on PATH."""
    env = dict(os.environ)
    python312 = find_python("3.12")
    env["PATH"] = os.pathsep.join([str(BIN), str(python312.parent), env.get("PATH", "")])
    env["SAMLINK_CACHE_DIR"] = str(store or work / "store")
    env["SAM_CLI_TELEMETRY"] = "0"
    env["__SAM_CLI_APP_DIR"] = str(work / "sam-app-dir")
    # Installed packages come with byte code; a dev checkout run with PYTHONDONTWRITEBYTECODE
    # would compile samlink on every start. A private prefix gives every tool its byte code
    # after the first (warm-up) run without writing into the repository.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    for name in ("SAMLINK_REFRESH", "SAMLINK_RELEASE", "SAMLINK_INSTALLER", "ARTIFACTS_DIR"):
        env.pop(name, None)
    revision = os.environ.get(REVISION_ENV)
    if revision:
        env["PYTHONPATH"] = os.pathsep.join(
            [str(snapshot(revision, work)), *filter(None, [env.get("PYTHONPATH")])]
        )
    return env


# SAMLINK_BENCH_REV=HEAD measures samlink as committed at that revision, not the checkout's
# files (which others may be editing): its src/ is exported into the scratch dir and put first
# on PYTHONPATH, which every samlink process below (make's too) inherits.
REVISION_ENV = "SAMLINK_BENCH_REV"


def snapshot(revision: str, work: Path) -> Path:
    """src/ of `revision`, exported once into the scratch dir (`git archive`, no checkout)."""
    dest = work / f"src-{revision.replace('/', '_')}"
    if not dest.is_dir():
        dest.mkdir()
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", revision, "src"], capture_output=True, check=False
        )
        if archive.returncode != 0:
            sys.exit(f"{REVISION_ENV}={revision}: {archive.stderr.decode().strip()}")
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
        commit = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", revision],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        (dest / "COMMIT").write_text(commit)
        print(f"measuring samlink at {revision} ({commit})", file=sys.stderr)
    return dest / "src"


def command_line() -> str:
    """The command that produced a table, as typed from the repository root."""
    revision = os.environ.get(REVISION_ENV)
    words = [f"bench/{Path(sys.argv[0]).name}", *sys.argv[1:]]
    return (f"{REVISION_ENV}={revision} " if revision else "") + " ".join(words)


def measured_samlink(work: Path) -> str:
    """Which samlink the figures are of, for a table's description."""
    revision = os.environ.get(REVISION_ENV)
    if revision:
        commit = (work / f"src-{revision.replace('/', '_')}" / "COMMIT").read_text()
        return f"samlink at commit {commit}"
    head = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return f"samlink from the checkout (HEAD {head or '?'} and any edits in progress)"


def find_python(version: str) -> Path:
    """A working pythonX.Y: on PATH (not a pyenv shim that refuses), else under pyenv."""
    found = shutil.which(f"python{version}")
    candidates = [Path(found)] if found else []
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates += sorted(root.glob(f"versions/{version}.*/bin/python{version}"), reverse=True)
    for candidate in candidates:
        probe = subprocess.run(
            [str(candidate), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return candidate
    sys.exit(f"python{version} is needed (SAM's default builder checks it): not found")


def run(cmd: Sequence[str | Path], cwd: Path, env: dict[str, str]) -> None:
    """Run a command to completion; on failure show its output and stop the benchmark."""
    result = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-4000:] + result.stderr[-4000:])
        sys.exit(f"benchmark command failed ({result.returncode}): {' '.join(map(str, cmd))}")


def replays(cmd: Sequence[str | Path], cwd: Path, env: dict[str, str]) -> int:
    """How many make targets of one `sam build` replayed their plan (samlink's fast path):
    SAMLINK_DEBUG=1 makes each say which path it took, on stdout, which `sam build` shows."""
    result = subprocess.run(
        [str(c) for c in cmd],
        cwd=cwd,
        env={**env, "SAMLINK_DEBUG": "1"},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-4000:] + result.stderr[-4000:])
        sys.exit(f"benchmark command failed ({result.returncode}): {' '.join(map(str, cmd))}")
    return (result.stdout + result.stderr).count("samlink: fast path: replayed the plan")


def timed(cmd: Sequence[str | Path], cwd: Path, env: dict[str, str]) -> float:
    """Wall-clock seconds of one run of `cmd` (start-up included, as a user waits for it)."""
    start = time.perf_counter()
    run(cmd, cwd, env)
    return time.perf_counter() - start


def rounds(
    rows: Sequence[tuple[Row, Callable[[], float], int]],
    *,
    before: Callable[[], None] | None = None,
) -> None:
    """Measure rows interleaved: round i runs every row that wants more than i runs.
    `before` runs (untimed) ahead of each measurement."""
    most = max((runs for _row, _measure, runs in rows), default=0)
    for index in range(most):
        for row, measure, runs in rows:
            if index >= runs:
                continue
            if before is not None:
                before()
            row.seconds.append(measure())
            print(f"  {row.name}: run {index + 1}/{runs}: {row.seconds[-1]:.3f}s", file=sys.stderr)


def load() -> float:
    """The 1-minute load average now (NaN where the system has none)."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def machine() -> str:
    """One line about where the figures come from."""
    cpus = os.cpu_count() or 0
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{platform.system()} {platform.machine()}, {cpus} cores, load {load:.1f} at start, "
        f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}"
    )


def tool_version(cmd: Sequence[str | Path], env: dict[str, str]) -> str:
    out = subprocess.run(
        [str(c) for c in cmd], capture_output=True, text=True, env=env, check=False
    ).stdout
    return out.strip().splitlines()[0] if out.strip() else "?"
