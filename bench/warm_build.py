"""A warm `samlink build` (nothing changed) as SAM runs it, vs `cp -al` and the seed's Makefile.

    .venv/bin/python bench/warm_build.py [--quick] [--runs N] [--no-write] [--keep]

Each run is what `sam build` triggers for one function whose inputs did not change: SAM has
wiped the build dir, copied the code dir to a temp dir, and runs `make build-<Id>` there with
ARTIFACTS_DIR set. Rows:
- `cp -al` of the store entry's tree into an empty dir: the floor for any hard-link build;
- samlink's generated make target (`samlink build`), the store already holding the entry: the
  fast path (samlink.build.plan replays the last build's plan), checked to be taken;
- the same with the plan deleted first: the full build (CLI, template, store lookup);
- the seed's Makefile: `pip install -r requirements.txt -t $(ARTIFACTS_DIR)` every time.
Two more tables split the fast path and the full build into their parts.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import projects
from harness import (
    BIN,
    Row,
    command_line,
    load,
    machine,
    measured_samlink,
    rounds,
    run,
    timed,
    tool_env,
    tool_version,
    workdir,
)
from report import publish, table

# Stages of one warm build, timed inside one process with samlink's own public API.
STAGES = r"""
import json, sys, time
from pathlib import Path
t = [time.perf_counter()]
from samlink.build import assemble
from samlink.model import requirements
from samlink.build.installer import pip_configuration, resolve_installer
from samlink.build.store import Store
from samlink.model.target import target_for
from samlink.model.template import load_template
t.append(time.perf_counter())
template = load_template(Path(sys.argv[1]))
resource = template.get(sys.argv[2])
t.append(time.perf_counter())
pip_configuration()
t.append(time.perf_counter())
target = target_for(resource.runtime, resource.architecture)
reqs = requirements.parse(resource.code_dir / "requirements.txt")
linked = assemble.linked_projects(resource, template.path.parent, reqs, target)
spec = assemble.install_spec(reqs, linked, target, assemble.Options())
t.append(time.perf_counter())
installer = resolve_installer(None)
t.append(time.perf_counter())
store = Store()
store.key(spec, target, installer)
t.append(time.perf_counter())
entry = store.get_or_build(spec, target, installer)
t.append(time.perf_counter())
store.materialize(entry, Path(sys.argv[3]) / "materialize")
t.append(time.perf_counter())
assemble.build(resource, template.path.parent, Path(sys.argv[3]) / "build", assemble.Options())
t.append(time.perf_counter())
names = ["imports (in-process, after start-up)", "template parse", "pip configuration read",
         "requirements + links + install spec (incl. pip config)", "installer lookup",
         "store key", "store lookup (manifest parse)", "materialize (hard links)",
         "assemble.build end to end (all of the above but imports)"]
print(json.dumps(dict(zip(names, [b - a for a, b in zip(t, t[1:])]))))
"""
IMPORTS = "import samlink.cli, samlink.commands.build, samlink.build.assemble"
# The fast path's stages, timed in one process with samlink.build.plan's and .tree's functions.
FAST_STAGES = r"""
import os, sys, time
t = [time.perf_counter()]
import marshal
import samlink.entry
from samlink.build import plan as plans, tree
t.append(time.perf_counter())
template, resource, dest = sys.argv[1:]
with open(plans.plan_path(os.path.dirname(template), resource), "rb") as f:
    plan = marshal.loads(f.read())
t.append(time.perf_counter())
plans.check(plan, template, resource)
t.append(time.perf_counter())
tree.materialize(plan["tree"], dest, plan["top"], plan["halves"], plan["symlinks"], plan["sealed"])
t.append(time.perf_counter())
tree.apply(dest, plan["ops"])
tree.touch(plan["marker"])
t.append(time.perf_counter())
names = ["fast path: import samlink.entry", "fast path: plan read (marshal)",
         "fast path: stamp check (stat, listdir, env digest)",
         "fast path: materialize (mkdir + hard links)", "fast path: links to code, marker"]
print(repr(dict(zip(names, [b - a for a, b in zip(t, t[1:])]))))
"""
GROUPS = ("click", "ruamel", "rich", "packaging", "uv", "samlink")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs (3, seed 1)")
    parser.add_argument("--runs", type=int, help="runs per fast row (default 10)")
    parser.add_argument("--seed-runs", type=int, help="runs of the slow seed row (default 3)")
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/")
    parser.add_argument("--keep", action="store_true", help="keep the scratch dir")
    args = parser.parse_args()
    runs = args.runs or (3 if args.quick else 10)
    seed_runs = args.seed_runs or (1 if args.quick else 3)

    with workdir(args.keep) as work:
        env = tool_env(work)
        samlink_project = projects.make(work / "samlink", 1, "samlink", env)
        seed_project = projects.make(work / "seed", 1, "seed", env)
        [function_id] = projects.function_ids(1)
        code = function_id.lower()
        artifacts = work / "artifacts"

        def fresh_artifacts() -> None:
            # SAM wipes .aws-sam/build and makes an empty ARTIFACTS_DIR before it runs make;
            # not part of the make target's time.
            if artifacts.exists():
                subprocess.run(["rm", "-rf", str(artifacts)], check=True)
            artifacts.mkdir()
            settle()

        def make_target(project: Path) -> list[str | Path]:
            return ["make", "--makefile", project / code / "Makefile", f"build-{function_id}"]

        # SAM runs make in a temp copy of the code dir; made once, outside the timings.
        scratch = {p: work / f"scratch-{p.name}" for p in (samlink_project, seed_project)}
        for project, copy in scratch.items():
            shutil.copytree(project / code, copy)
        make_env = {**env, "ARTIFACTS_DIR": str(artifacts)}

        # Installed packages come byte-compiled: compile samlink's modules before any timing.
        run([BIN / "python", "-c", IMPORTS], work, env)
        print("first build: empty store", file=sys.stderr)
        fresh_artifacts()
        first = Row("samlink, empty store (first build ever)", note="uv's download cache warm")
        first.seconds.append(
            timed(make_target(samlink_project), scratch[samlink_project], make_env)
        )
        fresh_artifacts()
        run(make_target(seed_project), scratch[seed_project], make_env)  # warms pip's cache
        entry_tree = Path(_store_entries(env)[0]["path"])
        copy_dest = work / "cp-al"

        def cp_al() -> float:
            if copy_dest.exists():
                subprocess.run(["rm", "-rf", str(copy_dest)], check=True)
                settle()
            return timed(["cp", "-al", entry_tree, copy_dest], work, env)

        plan = samlink_project / ".samlink" / "builds" / f"{function_id}.plan"

        def full_build() -> float:
            plan.unlink(missing_ok=True)  # untimed: the full build then makes a new one
            return timed(make_target(samlink_project), scratch[samlink_project], make_env)

        # The fast row must be the fast path: a plan exists and is replayed (a full build
        # after the project's files are a second old leaves one).
        time.sleep(1.1)
        fresh_artifacts()
        full_build()
        fresh_artifacts()
        _check_fast_path(make_target(samlink_project), scratch[samlink_project], make_env)

        floor = Row("cp -al of the same tree (floor)")
        warm = Row("samlink build via make, warm store", note="fast path: the plan replayed")
        full = Row(
            "samlink build via make, warm store, full build",
            note="plan deleted first: CLI, template, store lookup",
        )
        seed = Row("seed Makefile: pip install -t", note="pip's download cache warm")
        rows = [
            (floor, cp_al, runs),
            (
                warm,
                lambda: timed(make_target(samlink_project), scratch[samlink_project], make_env),
                runs,
            ),
            (full, full_build, runs),
            (
                seed,
                lambda: timed(make_target(seed_project), scratch[seed_project], make_env),
                seed_runs,
            ),
        ]
        rounds(rows, before=fresh_artifacts)
        ratio = warm.median / floor.median
        best = min(warm.seconds) / min(floor.seconds)
        load_after = load()

        parts = _breakdown(work, env, samlink_project, function_id, runs)
        files = _store_entries(env)[0]["files"]
        size = _store_entries(env)[0]["size"] / 1e6
        revision = measured_samlink(work)

    target_met = "met" if ratio <= 1.5 else "NOT met"
    markdown = "\n".join(
        [
            "## Warm `samlink build` (nothing changed) vs `cp -al` vs the seed's Makefile",
            "",
            f"`{command_line()}`: one python3.12/x86_64 function with `{_oneline()}` "
            f"({files} files, {size:.0f} MB installed), the make target run as SAM runs it "
            "(in a temp copy of the code dir, empty `ARTIFACTS_DIR`). Store and project on "
            f"one filesystem. {machine()}, load {load_after:.1f} at the end; "
            f"{tool_version([BIN / 'uv', '--version'], env)}; {revision}.",
            "",
            table([floor, warm, full, seed, first], reference=floor),
            f"Target: warm build within 1.5x of `cp -al`: **{target_met}** ({ratio:.2f}x of the "
            f"medians; {best:.2f}x of the minimums).",
            "",
            "Where a warm build's time goes (medians; the stages are timed inside one process "
            "with samlink's API, the full build's imports with `python -X importtime`, self "
            "time grouped by top-level package):",
            "",
            _parts_table(parts),
        ]
    )
    publish("warm_build", markdown, write=not args.no_write)


def _check_fast_path(cmd: list[str | Path], cwd: Path, env: dict[str, str]) -> None:
    """Stop the benchmark unless the make target replays the plan (SAMLINK_DEBUG says so: on
    stdout under make, as `sam build` shows make's stdout; on stderr outside make)."""
    result = subprocess.run(
        [str(c) for c in cmd],
        cwd=cwd,
        env={**env, "SAMLINK_DEBUG": "1"},
        capture_output=True,
        text=True,
        check=False,
    )
    said = result.stdout + result.stderr
    if "samlink: fast path: replayed the plan" not in said:
        sys.exit(f"the warm build did not take the fast path:\n{said[-3000:]}")


def settle() -> None:
    """Flush the filesystem after deleting a tree, so the next timed run does not pay for it
    (with ext4's `discard`, freed blocks are trimmed at the next journal commit)."""
    os.sync()


def _oneline() -> str:
    return " ".join(projects.REQUIREMENTS.split())


def _store_entries(env: dict[str, str]) -> list[dict[str, Any]]:
    out = subprocess.run(
        [str(BIN / "samlink"), "cache", "list", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    entries: list[dict[str, Any]] = json.loads(out)["entries"]
    return entries


def _breakdown(
    work: Path, env: dict[str, str], project: Path, function_id: str, runs: int
) -> dict[str, float]:
    """Median seconds of each part of a warm build."""
    samples: dict[str, list[float]] = defaultdict(list)
    python = str(BIN / "python")
    noop = work / "noop.mk"
    noop.write_text("noop:\n\t@true\n")
    for _ in range(runs):
        samples["make + sh running a no-op target"].append(
            timed(["make", "-s", "-f", noop, "noop"], work, env)
        )
        samples["interpreter start (`python -c pass`)"].append(
            timed([python, "-c", "pass"], work, env)
        )
        samples["`samlink --version` (console script, click, cli)"].append(
            timed([BIN / "samlink", "--version"], work, env)
        )
        samples["`python -c 'import ...'` of a build's modules"].append(
            timed([python, "-c", IMPORTS], work, env)
        )
        imports = subprocess.run(
            [python, "-X", "importtime", "-c", IMPORTS],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stderr
        for group, seconds in _import_groups(imports).items():
            samples[f"imports: {group} (self time)"].append(seconds)
        out = work / "stages"
        if out.exists():
            subprocess.run(["rm", "-rf", str(out)], check=True)
        out.mkdir()
        settle()
        result = subprocess.run(
            [python, "-c", STAGES, str(project / "template.yaml"), function_id, str(out)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            sys.exit(f"stage timing failed:\n{result.stderr[-3000:]}")
        for name, seconds in json.loads(result.stdout.strip().splitlines()[-1]).items():
            samples[name].append(seconds)
        fast_dest = work / "fast-stages"
        if fast_dest.exists():
            subprocess.run(["rm", "-rf", str(fast_dest)], check=True)
        settle()
        template = str((project / "template.yaml").resolve())
        result = subprocess.run(
            [python, "-c", FAST_STAGES, template, function_id, str(fast_dest)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            sys.exit(f"fast path stage timing failed:\n{result.stderr[-3000:]}")
        for name, seconds in ast.literal_eval(result.stdout.strip().splitlines()[-1]).items():
            samples[name].append(seconds)
    return {name: statistics.median(values) for name, values in samples.items()}


def _import_groups(importtime: str) -> dict[str, float]:
    totals: dict[str, float] = defaultdict(float)
    for line in importtime.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        head, _cumulative, name = line.split("|")
        top = name.strip().split(".")[0]
        group = top if top in GROUPS else "stdlib and others"
        totals[group] += int(head.removeprefix("import time:").strip()) / 1e6
    return dict(totals)


def _parts_table(parts: dict[str, float]) -> str:
    lines = ["| part | median ms |", "|---|---|"]
    lines += [f"| {name} | {seconds * 1000:.1f} |" for name, seconds in parts.items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
