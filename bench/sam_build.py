"""Whole `sam build` of 1 and of 20 functions sharing ~100 MB of requirements, by builder.

    .venv/bin/python bench/sam_build.py [--quick] [--functions 20] [--runs N] [--no-write] [--keep]

Every row is a real `sam build` of the same project shape (each function in its own code dir,
the same requirements.txt), timed from start to exit, SAM's own start-up included:
- samlink's make targets, the store already holding the entry (`sam build`, `--parallel`);
- SAM's default Python builder (`sam build`; `sam build --cached --parallel` after a first build);
- the seed's Makefile (`pip install -t` in every function, every time).
The "rebuild" rows rebuild with nothing changed: what every `sam build` after the first costs.
Slow rows get fewer runs (said in the table). --quick: 5 functions, fewest runs.

A second table (`--only floor`) puts a warm `sam build --parallel` of a 10-function project with
samlink's targets against the same project whose make targets only copy the handler: SAM's own
cost of a makefile build, the floor any make target pays; the ratio is samlink's whole share.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 functions, 1-2 runs per row")
    parser.add_argument("--functions", type=int, help="functions in the big project (20)")
    parser.add_argument("--runs", type=int, help="runs of the fast rows (default 5)")
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/")
    parser.add_argument("--keep", action="store_true", help="keep the scratch dir")
    parser.add_argument(
        "--only",
        choices=("functions", "floor"),
        help="one table: 1 and N functions by builder, or samlink against the copy-only floor",
    )
    args = parser.parse_args()
    fast_runs = args.runs or (2 if args.quick else 5)
    if args.only != "functions":
        floor(args.functions or (5 if args.quick else 10), fast_runs, args)
    if args.only != "floor":
        by_builder(args, fast_runs)


def by_builder(args: argparse.Namespace, fast_runs: int) -> None:
    many = args.functions or (5 if args.quick else 20)
    slow_runs = 1 if args.quick else 3

    sections = []
    with workdir(args.keep) as work:
        env = tool_env(work)
        sam = BIN / "sam"
        for count in (1, many):
            print(f"== {count} function(s)", file=sys.stderr)
            made = {
                name: projects.make(work / f"{name}-{count}", count, flavor, env)
                for name, flavor in (
                    ("samlink", "samlink"),
                    ("default", "sam-default"),
                    ("cached", "sam-default"),
                    ("seed", "seed"),
                )
            }

            def build(project: Path, *flags: str) -> Callable[[], float]:
                return lambda: timed([sam, "build", *flags], project, env)

            # First builds: an empty store / SAM cache (the download caches of uv and pip are
            # warm, as on any developer machine after the first day). They also warm up.
            run([BIN / "samlink", "cache", "clear"], work, env)
            first_samlink = Row("samlink --parallel, empty store", note="first build")
            first_samlink.seconds.append(build(made["samlink"], "--parallel")())
            first_cached = Row("SAM default --cached --parallel, empty cache", note="first build")
            first_cached.seconds.append(build(made["cached"], "--cached", "--parallel")())
            run([sam, "build"], made["seed"], env)  # warms pip's cache for the seed rows
            _check_built({k: v for k, v in made.items() if k != "default"}, count)

            # Slow rows: one run at 20 functions, a few at 1.
            slow = slow_runs if count == 1 else 1
            samlink_seq = Row("samlink `sam build`", note="rebuild")
            samlink_par = Row("samlink `sam build --parallel`", note="rebuild")
            default = Row("SAM default `sam build`", note="rebuild; no cache, as a first build")
            cached = Row("SAM default `sam build --cached --parallel`", note="rebuild, cache hit")
            seed = Row("seed Makefile `sam build`", note="rebuild; pip install -t every time")
            rounds(
                [
                    (samlink_seq, build(made["samlink"]), fast_runs),
                    (samlink_par, build(made["samlink"], "--parallel"), fast_runs),
                    (cached, build(made["cached"], "--cached", "--parallel"), fast_runs),
                    (default, build(made["default"]), slow),
                    (seed, build(made["seed"]), slow),
                ]
            )
            _check_built(made, count)
            rows = [samlink_seq, samlink_par, cached, default, seed, first_samlink, first_cached]
            sections.append((count, rows, default, cached))
        versions = (
            f"{tool_version([sam, '--version'], env)}; "
            f"{tool_version([BIN / 'uv', '--version'], env)}"
        )

    lines = [
        f"## Whole `sam build`: 1 and {many} functions sharing the same requirements",
        "",
        f"`bench/sam_build.py`: python3.12/x86_64 functions, each in its own code dir with "
        f"`{' '.join(projects.REQUIREMENTS.split())}` (~103 MB installed per function). "
        "Wall-clock of the whole `sam build`, SAM's start-up (about 2 s) included. "
        '"rebuild" = nothing changed since the last build. Download caches of uv and pip '
        f"warm. {machine()}; {versions}.",
        "",
    ]
    for count, rows, default, cached in sections:
        lines += [f"### {count} function{'s' if count > 1 else ''}", ""]
        lines.append(table(rows, reference=rows[0]))
        if count == many and count > 1:
            best = min(rows[0].median, rows[1].median)
            speedup = default.median / best
            verdict_default = "met" if speedup >= 5 else "NOT met"
            verdict_cached = "met" if best < cached.median else "NOT met"
            lines += [
                f"Targets at {count} functions: >= 5x faster than SAM's default builder without "
                f"cache: **{verdict_default}** ({speedup:.1f}x); faster than its "
                f"`--cached --parallel`: **{verdict_cached}** "
                f"({best:.1f} s vs {cached.median:.1f} s).",
                "",
            ]
    publish("sam_build", "\n".join(lines), write=not args.no_write)


def floor(count: int, runs: int, args: argparse.Namespace) -> None:
    """Warm `sam build --parallel`: samlink's targets against copy-only targets, interleaved."""
    with workdir(args.keep) as work:
        env = tool_env(work)
        sam = BIN / "sam"
        print(f"== floor: {count} functions", file=sys.stderr)
        ours = projects.make(work / "samlink", count, "samlink", env)
        bare = projects.make(work / "copy-only", count, "copy-only", env)
        linked = projects.make(work / "cp-al", count, "copy-only", env)
        # First builds fill the store (and warm SAM and make); not timed.
        for project in (ours, bare):
            run([sam, "build", "--parallel"], project, env)
        # A full build writes a plan only for inputs older than a second: build once more.
        time.sleep(1.1)
        run([sam, "build", "--parallel"], ours, env)
        _check_fast_path(ours, count, env)
        projects.hardlink_targets(linked, count, _store_tree(env))
        run([sam, "build", "--parallel"], linked, env)
        samlink_row = Row("samlink targets", note="rebuild, store warm")
        floor_row = Row("copy-only targets (floor)", note="`cp app.py $(ARTIFACTS_DIR)`, no deps")
        linked_row = Row(
            "`cp -al` targets", note="hard links of the store's tree + the handler, no samlink"
        )
        rounds(
            [
                (floor_row, lambda: timed([sam, "build", "--parallel"], bare, env), runs),
                (linked_row, lambda: timed([sam, "build", "--parallel"], linked, env), runs),
                (samlink_row, lambda: timed([sam, "build", "--parallel"], ours, env), runs),
            ]
        )
        _check_built({"samlink": ours, "cp-al": linked}, count)
        for function_id in projects.function_ids(count):
            if not (bare / ".aws-sam" / "build" / function_id / "app.py").is_file():
                sys.exit(f"copy-only: {function_id} was not built")
        load_after = load()
        sam_version = f"{tool_version([sam, '--version'], env)}; {measured_samlink(work)}"
    ratio = samlink_row.median / floor_row.median
    best = min(samlink_row.seconds) / min(floor_row.seconds)
    extra = (samlink_row.median - floor_row.median) / count
    over_links = (samlink_row.median - linked_row.median) / count
    lines = [
        f"## Warm `sam build --parallel` of {count} functions: samlink against SAM's floor",
        "",
        f"`{command_line()}`: the same {count} python3.12/x86_64 functions "
        f"(`{' '.join(projects.REQUIREMENTS.split())}`, ~103 MB installed each), built with "
        "samlink's make targets (store warm, nothing changed) and with make targets that only "
        "copy the handler: what SAM itself costs for a makefile build (start-up, template, a "
        "temp copy of each code dir, make), the floor; and with make targets that `cp -al` "
        "the same installed tree and copy the handler: what shipping the dependencies by hard "
        "links costs without samlink (SAM also deletes the last build's files first). Whole "
        f"`sam build --parallel`, interleaved. {machine()}, load {load_after:.1f} at the end; "
        f"{sam_version}.",
        "",
        table([floor_row, linked_row, samlink_row], reference=floor_row),
        f"samlink's share: **{ratio:.2f}x** the floor (medians; {best:.2f}x of the minimums), "
        f"{extra * 1000:.0f} ms a function over SAM's own cost, {over_links * 1000:.0f} ms a "
        "function over the `cp -al` targets.",
        "",
    ]
    publish("sam_build_floor", "\n".join(lines), write=not args.no_write)


def _store_tree(env: dict[str, str]) -> Path:
    """The installed tree of the store's one entry (the floor project's requirements)."""
    out = subprocess.run(
        [str(BIN / "samlink"), "cache", "list", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    entries = json.loads(out)["entries"]
    if len(entries) != 1:
        sys.exit(f"expected one store entry, found {len(entries)}")
    return Path(entries[0]["path"])


def _check_fast_path(project: Path, count: int, env: dict[str, str]) -> None:
    """Stop unless a rebuild of `project` replays every function's plan (the warm row must be
    the warm path) and leaves every function built."""
    replayed = replays([BIN / "sam", "build", "--parallel"], project, env)
    if replayed != count:
        sys.exit(f"{project.name}: {replayed} of {count} make targets took the fast path")
    _check_built({project.name: project}, count)


def _check_built(made: dict[str, Path], count: int) -> None:
    """Every flavor's last build holds pandas for every function (a benchmark of a broken
    build would mean nothing)."""
    for name, project in made.items():
        for function_id in projects.function_ids(count):
            marker = project / ".aws-sam" / "build" / function_id / "pandas" / "__init__.py"
            if not marker.is_file():
                sys.exit(f"{name}: {function_id} was not built ({marker} missing)")


if __name__ == "__main__":
    main()
