"""A uv workspace whose functions share members (issue 13): cold and warm `sam build`, samlink
against SAM's beta `python-uv` builder.

    .venv/bin/python bench/uv_workspace.py [--functions 8] [--runs N] [--no-write] [--keep]

The workspace (`projects.make_uv_workspace`): a virtual root with one `uv.lock`; packaged
members `libs/core` (requests), `libs/models` (core, pydantic), `libs/auth` (core, PyJWT); and
python3.12 functions under `functions/fnNN/`, each a virtual member that needs one or two
libraries through `{ workspace = true }` sources (no requirements.txt: the lock declares them).
Rows, all whole `sam build --parallel` runs, interleaved:
- samlink's targets (`samlink init` at the root): cold (empty store; uv's download cache warm)
  and warm (nothing changed);
- SAM's `BuildMethod: python-uv` on the same workspace: tried once; where it cannot build,
  the table says so with SAM's own error;
- SAM's `python-uv` on what it can build: the same functions with the member packages copied
  into each code dir, their PyPI pins in the function's pyproject.toml and a uv.lock in each
  CodeUri (SAM reads a lock only there): cold (no SAM cache; uv's cache warm) and warm
  (`--cached`, nothing changed).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import projects
from harness import (
    BIN,
    Row,
    command_line,
    load,
    machine,
    measured_samlink,
    replays,
    rounds,
    run,
    timed,
    tool_env,
    tool_version,
    workdir,
)
from report import publish, table

BETA = "--beta-features"  # SAM asks before a beta build method unless this is given
# Why, as read in aws_lambda_builders/workflows/python_uv/packager.py and seen in the run.
WHY_SAM_FAILS = (
    "Why: the function's CodeUri holds a pyproject.toml but no uv.lock (the workspace's lock "
    "sits at its root), so SAM runs `uv lock` in the function's folder (uv finds the "
    "workspace above and locks it there, in the source tree), then `uv export --no-emit-project` "
    "there, which writes the members the function needs as `-e ./libs/core` lines relative to "
    "the workspace root, then `uv pip install -r` of that export with the function's folder "
    "as the working directory: `./libs/core` is looked for under `functions/fn01/`. Members "
    "outside CodeUri are invisible to it, and an editable member installed with `--target` "
    "would be a `.pth` pointing at the source, not code in the zip."
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--functions", type=int, default=8, help="functions (8)")
    parser.add_argument("--runs", type=int, default=5, help="runs of the warm rows (5)")
    parser.add_argument("--cold-runs", type=int, default=3, help="runs of the cold rows (3)")
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/")
    parser.add_argument("--keep", action="store_true", help="keep the scratch dir")
    args = parser.parse_args()
    count = args.functions

    with workdir(args.keep) as work:
        env = tool_env(work)
        sam = BIN / "sam"
        print(f"== uv workspace, {count} functions", file=sys.stderr)
        workspace_attempt = projects.make_uv_workspace(work / "sam-uv", count, "sam-uv", env)
        sam_failure = _sam_uv_failure(workspace_attempt, count, env)
        vendored = projects.make_uv_workspace(work / "vendored", count, "sam-uv-vendored", env)
        run([sam, "build", BETA, "--parallel"], vendored, env)  # warms uv's cache
        run([sam, "build", BETA, "--cached", "--parallel"], vendored, env)
        hits = _cache_hits(vendored, env)
        _check_built(vendored, count)
        ours, samlink_failure = _samlink_project(work, count, env)

        def build(project: Path, *flags: str) -> float:
            return timed([sam, "build", *flags, "--parallel"], project, env)

        def cold_samlink() -> float:
            assert ours is not None
            run([BIN / "samlink", "cache", "clear"], work, env)  # untimed
            return build(ours)

        sam_cold = Row("SAM python-uv, members copied in: `sam build`", note="cold: no cache")
        sam_warm = Row(
            "SAM python-uv, members copied in: `sam build --cached`",
            note=(
                f"warm: dependencies reused for {hits} of {count} functions"
                if hits
                else "warm, but SAM installs again: its cache keys on requirements.txt"
            ),
        )
        samlink_cold = Row("samlink targets: `sam build`, empty store", note="cold")
        samlink_warm = Row("samlink targets: `sam build`", note="warm: nothing changed")
        measured = [
            (sam_cold, lambda: build(vendored, BETA), args.cold_runs),
            (sam_warm, lambda: build(vendored, BETA, "--cached"), args.runs),
        ]
        if ours is not None:
            measured += [
                (samlink_cold, cold_samlink, args.cold_runs),
                (samlink_warm, lambda: build(ours), args.runs),
            ]
        rounds(measured)
        _check_built(vendored, count)
        if ours is not None:
            run([sam, "build", "--parallel"], ours, env)  # the store is full again
            _check_built(ours, count)
        load_after = load()
        versions = (
            f"{tool_version([sam, '--version'], env)}; "
            f"{tool_version([BIN / 'uv', '--version'], env)}; {measured_samlink(work)}"
        )

    rows = [row for row, _measure, _runs in measured]
    libs = "; ".join(
        f"`{name}`: {', '.join((*pins, *members))}"
        for name, (pins, members) in projects.UV_LIBS.items()
    )
    lines = [
        f"## uv workspace: {count} functions sharing members, samlink against SAM's python-uv",
        "",
        f"`{command_line()}`: a virtual workspace root with one `uv.lock`, library members "
        f"({libs}) and {count} python3.12/x86_64 functions, each a virtual member needing one "
        "or two libraries through `{ workspace = true }` sources. Whole `sam build --parallel` "
        "runs, interleaved; uv's download cache warm throughout. "
        f"{machine()}, load {load_after:.1f} at the end; {versions}.",
        "",
        table(rows, reference=sam_cold),
    ]
    if ours is not None:
        lines += [
            f"Warm: samlink {samlink_warm.median:.2f} s against SAM's `--cached` "
            f"{sam_warm.median:.2f} s (**{samlink_warm.median / sam_warm.median:.2f}x**); cold: "
            f"{samlink_cold.median:.2f} s against {sam_cold.median:.2f} s "
            f"(**{samlink_cold.median / sam_cold.median:.2f}x**).",
            "",
        ]
    else:
        lines += [f"samlink rows: **not measured**: {samlink_failure}", ""]
    lines += [
        "SAM's `python-uv` on the workspace itself: "
        + (f"**cannot build**: `{sam_failure}`." if sam_failure else "builds it."),
        "",
    ]
    if "Distribution not found" in sam_failure:
        lines += [WHY_SAM_FAILS, ""]
    publish("uv_workspace", "\n".join(lines), write=not args.no_write)


def _sam_uv_failure(project: Path, count: int, env: dict[str, str]) -> str:
    """SAM's python-uv build of the workspace: "" when it builds every function, else the
    first line of uv's error as SAM shows it."""
    result = subprocess.run(
        [str(BIN / "sam"), "build", BETA],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    said = result.stdout + result.stderr
    if result.returncode == 0:
        try:
            _check_built(project, count)
        except SystemExit as missing:
            return f"built, but {missing}"
        return ""
    errors = [line.strip() for line in said.splitlines() if line.strip().startswith("error:")]
    first = errors[0] if errors else said.strip().splitlines()[-1]
    return first.replace(str(project), "<workspace>")


def _samlink_project(work: Path, count: int, env: dict[str, str]) -> tuple[Path | None, str]:
    """The workspace with samlink's targets, built twice (the second build writes the plans a
    warm build replays) and checked; or None and why samlink cannot build it here."""
    root = work / "samlink"
    try:
        projects.make_uv_workspace(root, count, "samlink", env)
        run([BIN / "sam", "build", "--parallel"], root, env)
        time.sleep(1.1)  # a plan is written only for inputs older than a second
        run([BIN / "sam", "build", "--parallel"], root, env)
        replayed = replays([BIN / "sam", "build", "--parallel"], root, env)
        if replayed != count:
            return None, f"{replayed} of {count} make targets took the fast path"
        _check_built(root, count)
    except SystemExit as failed:
        return None, f"{measured_samlink(work)} does not build it: {failed}"
    return root, ""


def _cache_hits(project: Path, env: dict[str, str]) -> int:
    """How many functions SAM's `--cached` rebuild reuses installed dependencies for. For
    Python runtimes `--cached` is SAM's incremental build: the code is copied again, and the
    dependencies are copied from `.aws-sam/deps` when the manifest's hash is unchanged (logged
    with --debug). The hash is of the runtime's default manifest, requirements.txt: a function
    that declares through pyproject.toml has none, and SAM installs again every time."""
    result = subprocess.run(
        [str(BIN / "sam"), "build", BETA, "--cached", "--parallel", "--debug"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        sys.exit(f"{project.name}: sam build --cached failed:\n{result.stderr[-3000:]}")
    return (result.stdout + result.stderr).count("Manifest is not changed for")


def _check_built(project: Path, count: int) -> None:
    """Every function's build dir holds the members it reaches and their PyPI packages."""
    third_party = {"core": "requests", "models": "pydantic", "auth": "jwt"}
    for function_id, needs in projects.uv_function_needs(count).items():
        built = project / ".aws-sam" / "build" / function_id
        for member in projects.uv_closure(needs):
            for package in (member, third_party[member]):
                if not (built / package / "__init__.py").is_file():
                    sys.exit(f"{project.name}: {function_id} lacks {package}")


if __name__ == "__main__":
    main()
