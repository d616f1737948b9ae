"""A root of ~100 functions across nested applications (issue 16): init, warm build, status.

    .venv/bin/python bench/scale.py [--apps 5] [--per-app 20] [--flat] [--runs N] [--no-write]

The project (`projects.make_scale`): a root template with `--apps` AWS::Serverless::Application
resources whose templates are local (`apps/appN/template.yaml`), each with `--per-app` python3.12
functions in their own code dirs; every requirements.txt is one `-r` line naming one of three
small shared files under `requirements/`. `--flat` puts the same functions and code dirs in the
root template instead. Rows:
- `samlink init` of the fresh project (a new copy each run);
- warm `sam build --parallel` (nothing changed, store warm) with samlink's targets, against the
  same project whose make targets only copy the handler: SAM's own cost, the floor;
- `samlink status` after the build.
"""

from __future__ import annotations

import argparse
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=5, help="nested applications (5)")
    parser.add_argument("--per-app", type=int, default=20, help="functions in each (20)")
    parser.add_argument("--flat", action="store_true", help="every function in the root template")
    parser.add_argument("--runs", type=int, default=3, help="runs of the build rows (3)")
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/")
    parser.add_argument("--keep", action="store_true", help="keep the scratch dir")
    args = parser.parse_args()
    nested = not args.flat
    count = args.apps * args.per_app
    shape = (
        f"{args.apps} nested applications x {args.per_app} functions"
        if nested
        else f"{count} functions in one template (code dirs as in the nested layout)"
    )

    with workdir(args.keep) as work:
        env = tool_env(work)
        sam = BIN / "sam"

        def make(name: str, flavor: str) -> Path:
            return projects.make_scale(
                work / name, args.apps, args.per_app, flavor, env, nested=nested
            )

        print(f"== {shape}", file=sys.stderr)
        ours = make("samlink", "samlink")
        bare = make("copy-only", "copy-only")
        # First builds fill the store (three entries) and warm SAM and make; not timed.
        for project in (ours, bare):
            run([sam, "build", "--parallel"], project, env)
        # A full build writes a plan only for inputs older than a second: build once more,
        # then check that a rebuild replays every plan (the warm row is the warm path).
        time.sleep(1.1)
        run([sam, "build", "--parallel"], ours, env)
        replayed = replays([sam, "build", "--parallel"], ours, env)
        if replayed != count:
            sys.exit(f"{replayed} of {count} make targets took the fast path")
        _check_built(ours, bare, args.apps, args.per_app, nested)

        fresh = iter(range(10_000))

        def init() -> float:
            project = make(f"init-{next(fresh)}", "plain")  # untimed: a new project each run
            return timed([BIN / "samlink", "init"], project, env)

        init_row = Row("`samlink init`", note="fresh project each run")
        floor_row = Row("`sam build --parallel`, copy-only targets (floor)", note="rebuild")
        build_row = Row("`sam build --parallel`, samlink targets", note="rebuild, store warm")
        status_row = Row("`samlink status`", note="after the build")
        rounds(
            [
                (floor_row, lambda: timed([sam, "build", "--parallel"], bare, env), args.runs),
                (build_row, lambda: timed([sam, "build", "--parallel"], ours, env), args.runs),
                (init_row, init, args.runs),
                (status_row, lambda: timed([BIN / "samlink", "status"], ours, env), args.runs),
            ]
        )
        _check_built(ours, bare, args.apps, args.per_app, nested)
        load_after = load()
        versions = f"{tool_version([sam, '--version'], env)}; {measured_samlink(work)}"

    ratio = build_row.median / floor_row.median
    best = min(build_row.seconds) / min(floor_row.seconds)
    extra = (build_row.median - floor_row.median) / count
    shared = projects.SHARED_REQUIREMENTS.values()
    sets = ", ".join(f"`{' '.join(text.split())}`" for text in shared)
    name = "scale" if nested else "scale_flat"
    title = "nested applications" if nested else "one flat template"
    lines = [
        f"## {count} functions, {title}: init, warm `sam build --parallel`, status",
        "",
        f"`{command_line()}`: {shape}; python3.12/x86_64, each function in its own code dir, its "
        f"requirements.txt one `-r` line naming one of three shared files ({sets}). "
        "Wall-clock of the whole command; the build rows interleaved. "
        f"{machine()}, load {load_after:.1f} at the end; {versions}.",
        "",
        table([floor_row, build_row], reference=floor_row),
        table([init_row, status_row]),
        f"Warm `sam build --parallel` with samlink's targets: **{ratio:.2f}x** the copy-only "
        f"floor (medians; {best:.2f}x of the minimums), {extra * 1000:.0f} ms a function over "
        "SAM's own cost.",
        "",
    ]
    publish(name, "\n".join(lines), write=not args.no_write)


def _check_built(ours: Path, bare: Path, apps: int, per_app: int, nested: bool) -> None:
    """Every function of both projects was built: the samlink build holds its requirement
    set's package, the copy-only build its handler (a broken build must not pass for a fast one)."""
    for function in projects.scale_functions(apps, per_app, nested=nested):
        built = ours / ".aws-sam" / "build" / function.build_path
        if not (built / function.package / "__init__.py").is_file():
            sys.exit(f"samlink: {function.build_path} was not built (no {function.package})")
        if not (bare / ".aws-sam" / "build" / function.build_path / "app.py").is_file():
            sys.exit(f"copy-only: {function.build_path} was not built")


if __name__ == "__main__":
    main()
