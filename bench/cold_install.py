"""A cold install with uv against pip: same requirements, same Lambda target, samlink's commands.

    .venv/bin/python bench/cold_install.py [--quick] [--runs N] [--no-write] [--keep]

Each run installs numpy + pandas for python3.12/x86_64 into an empty dir through
`samlink.build.installer.install` (the exact uv / pip command lines a store miss runs), in a fresh
process. "empty caches": the installer's download/wheel cache is a new empty dir for every run,
so packages come from the index (PyPI here). "warm cache": the installer's cache already holds
them (a developer machine after the first install). Rows are interleaved run by run.
Also a whole cold `samlink build` (empty store and uv cache): install, hashing every file into
the manifest, publishing, hard-linking.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import projects
from harness import BIN, Row, machine, rounds, timed, tool_env, tool_version, workdir
from report import publish, table

INSTALL = r"""
import sys
from pathlib import Path
from samlink.build.installer import (
    IndexOptions,
    InstallSpec,
    install,
    merge_index,
    pip_configuration,
    resolve_installer,
)
from samlink.model.target import target_for
name, dest, runtime, architecture, *requirements = sys.argv[1:]
# The index settings a samlink build would use here: pip's configuration, merged.
spec = InstallSpec(tuple(requirements), index=merge_index(IndexOptions(), pip_configuration()))
install(spec, target_for(runtime, architecture), Path(dest), resolve_installer(name))
"""


# A second set: many packages (17 after resolution), where resolving and fetching metadata
# weigh more than unpacking two big wheels.
MANY = "boto3==1.35.99 requests==2.32.3 pydantic==2.10.6 aws-lambda-powertools==3.4.0 PyJWT==2.10.1"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 run per row")
    parser.add_argument("--runs", type=int, help="runs per row (default 3)")
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/")
    parser.add_argument("--keep", action="store_true", help="keep the scratch dir")
    args = parser.parse_args()
    runs = args.runs or (1 if args.quick else 3)
    target = [projects.RUNTIME, projects.ARCHITECTURE]
    sets = [
        ("numpy + pandas (2 large wheels, ~103 MB)", projects.REQUIREMENTS.split()),
        ("boto3, requests, pydantic, powertools, PyJWT (17 packages)", MANY.split()),
    ]

    with workdir(args.keep) as work:
        env = tool_env(work)
        counter = iter(range(1_000_000))

        def clean(path: Path) -> None:
            if path.exists():
                subprocess.run(["chmod", "-R", "u+w", str(path)], check=True)
                shutil.rmtree(path)

        def install(name: str, requirements: list[str], cache: Path | None) -> float:
            dest = work / "dest"
            clean(dest)
            fresh = cache or work / f"cache-{name}-{next(counter)}"
            run_env = {**env, "UV_CACHE_DIR": str(fresh), "PIP_CACHE_DIR": str(fresh)}
            command: list[str | Path] = [BIN / "python", "-c", INSTALL, name, dest, *target]
            command += requirements
            seconds = timed(command, work, run_env)
            if cache is None:
                clean(fresh)
            return seconds

        def job(name: str, requirements: list[str], cache: Path | None) -> Callable[[], float]:
            return lambda: install(name, requirements, cache)

        project = projects.make(work / "project", 1, "samlink", env)
        [function_id] = projects.function_ids(1)
        artifacts = work / "artifacts"

        def cold_build() -> float:
            clean(artifacts)
            subprocess.run(
                [BIN / "samlink", "cache", "clear"], env=env, check=True, capture_output=True
            )
            fresh = work / f"cache-build-{next(counter)}"
            build_env = {**env, "ARTIFACTS_DIR": str(artifacts), "UV_CACHE_DIR": str(fresh)}
            template = project / "template.yaml"
            seconds = timed(
                [BIN / "samlink", "build", function_id, "--template", template], work, build_env
            )
            clean(fresh)
            return seconds

        results: list[tuple[str, list[str], list[Row]]] = []
        for label, requirements in sets:
            print(f"== {label}", file=sys.stderr)
            warm_uv, warm_pip = work / f"warm-uv-{len(results)}", work / f"warm-pip-{len(results)}"
            install("uv", requirements, warm_uv)
            install("pip", requirements, warm_pip)

            rows = [
                (Row("uv, empty cache"), job("uv", requirements, None), runs),
                (Row("pip, empty cache"), job("pip", requirements, None), runs),
                (Row("uv, warm cache"), job("uv", requirements, warm_uv), runs),
                (Row("pip, warm cache"), job("pip", requirements, warm_pip), runs),
            ]
            if not results:
                whole = Row("whole `samlink build`, empty store + uv cache", note="uv + sha256")
                rows.append((whole, cold_build, runs))
            rounds(rows)
            results.append((label, requirements, [row for row, _measure, _runs in rows]))
        versions = (
            f"{tool_version([BIN / 'uv', '--version'], env)}; "
            f"{tool_version([BIN / 'python', '-m', 'pip', '--version'], env).split(' from ')[0]}"
        )

    lines = [
        "## Cold install: uv against pip",
        "",
        "`bench/cold_install.py`: each requirement set for python3.12/x86_64 into an empty dir "
        "with samlink's own uv / pip command lines (`--only-binary`, Lambda platform tags, pip's "
        'index settings), each run in a fresh process; packages from PyPI. "empty cache": a '
        "new, empty installer cache every run. The whole-build row adds hashing every file "
        f"into the store manifest, publishing and hard-linking. {machine()}; {versions}.",
        "",
    ]
    verdicts = []
    for label, requirements, measured in results:
        uv_cold, pip_cold, uv_warm, pip_warm = measured[:4]
        cold_ratio = pip_cold.median / uv_cold.median
        warm_ratio = pip_warm.median / uv_warm.median
        verdicts.append(cold_ratio >= 3)
        lines += [
            f"### {label}",
            "",
            f"`{' '.join(requirements)}`",
            "",
            table(measured, reference=uv_cold),
            f"pip / uv: {cold_ratio:.1f}x with empty caches, {warm_ratio:.1f}x with warm caches.",
            "",
        ]
    met = "met" if all(verdicts) else "met for some sets only" if any(verdicts) else "NOT met"
    lines += [f"Target: cold uv >= 3x faster than pip: **{met}**.", ""]
    publish("cold_install", "\n".join(lines), write=not args.no_write)


if __name__ == "__main__":
    main()
