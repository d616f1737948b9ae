"""Invoke latency of a trivial handler: samlink's sandbox (and host mode) vs a plain import.

    .venv/bin/python bench/invoke_latency.py [--runs 10] [--runtime python3.12]
        [--container-runs 5] [--private-engine]

cold: a fresh `samlink.runtime.invoke` process per run (samlink import, interpreter lookup, one
      invoke), as a user typing `samlink invoke` pays it (the runtime client is already cached).
warm: repeated `invoke` calls in one process (what a watch loop or a test suite pays).
baseline: `pythonX.Y -c "import app; app.handler({}, None)"` in a fresh process.
container (when an engine answers, or with --private-engine: the test suite's private dockerd
      and stand-in python3.11 image, tests/container/engine.py): plain `sam local invoke`,
      `samlink invoke --docker` and the sandbox (`samlink invoke --no-docker`), each a new
      process on the same built python3.11 project, interleaved; skip_pull_image is on, so no
      row pays for a registry.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import functools
import io
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import BIN, REPO, Row, machine, rounds, run, tool_env, workdir
from harness import timed as timed_s
from report import publish, table

HANDLER = "def handler(event, context):\n    return {'ok': True}\n"

COLD = """
import sys
from pathlib import Path
from samlink.runtime.invoke import InvokeSpec, host_architecture, invoke
spec = InvokeSpec("Bench", Path(sys.argv[1]), (), "app.handler", sys.argv[2],
                  host_architecture(), {}, 30, 128)
result = invoke(spec, b"{}", isolation=sys.argv[3])
sys.exit(result.exit_code)
"""


def timed(cmd: list[str], cwd: Path | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, cwd=cwd)
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--runtime", default="python3.12")
    parser.add_argument("--no-write", action="store_true", help="print only; keep docs as they are")
    parser.add_argument("--container-runs", type=int, default=5)
    parser.add_argument(
        "--private-engine", action="store_true", help="start the test suite's private engine"
    )
    args = parser.parse_args()
    container = container_section(args.container_runs, args.private_engine)

    from samlink.runtime.invoke import InvokeSpec, host_architecture, invoke
    from samlink.runtime.python import choose_interpreter, ensure_runtime_dir, runtime_version

    interpreter, warning = choose_interpreter(runtime_version(args.runtime))
    if warning:
        print(warning, file=sys.stderr)
    ensure_runtime_dir(interpreter)  # install once, outside the measurements

    with tempfile.TemporaryDirectory() as tmp:
        build = Path(tmp) / "build"
        build.mkdir()
        (build / "app.py").write_text(HANDLER)
        spec = InvokeSpec("Bench", build, (), "app.handler", args.runtime, host_architecture(),
                          {}, 30, 128)  # fmt: skip
        rows: list[tuple[str, list[float]]] = []
        baseline = [
            timed([str(interpreter.executable), "-c", "import app; app.handler({}, None)"], build)
            for _ in range(args.runs)
        ]
        rows.append((f"plain python{interpreter.tag} -c import", baseline))
        # Imports were made above; from here on only the invoke itself is timed.
        for mode in ("namespace", "host"):
            cold = [
                timed([sys.executable, "-c", COLD, str(build), args.runtime, mode])
                for _ in range(args.runs)
            ]
            rows.append((f"{mode}: cold (new process)", cold))
            warm = []
            for _ in range(args.runs):
                start = time.perf_counter()
                with contextlib.redirect_stderr(io.StringIO()):
                    result = invoke(spec, b"{}", isolation=mode)
                warm.append((time.perf_counter() - start) * 1000)
                assert result.exit_code == 0, result.payload
            rows.append((f"{mode}: warm (same process)", warm))

    base = statistics.median(baseline)
    lines = [
        "## `samlink invoke` latency vs a plain import of the handler",
        "",
        f"`bench/invoke_latency.py`: a trivial handler on {args.runtime}, {args.runs} runs a row, "
        f"medians. Python {sys.version.split()[0]} host, {platform.machine()}, "
        f"{os.cpu_count()} cores, {datetime.date.today()}. cold = a new process per invoke "
        "(samlink import, interpreter lookup, one invoke); warm = repeated invokes in one process.",
        "",
        "| what | median ms | min ms | x plain import |",
        "|---|---|---|---|",
    ]
    for name, times in rows:
        median = statistics.median(times)
        lines.append(f"| {name} | {median:.1f} | {min(times):.1f} | {median / base:.1f} |")
    if container:
        lines += ["", container.rstrip("\n")]
    publish("invoke_latency", "\n".join(lines) + "\n", write=not args.no_write)


CONTAINER_TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Bench:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: fn/, Handler: app.handler, Runtime: python3.11, Timeout: 30}
"""
CONTAINER_CONFIG = """\
version = 0.1
[default.local_invoke.parameters]
mount_symlinks = true
skip_pull_image = true
"""


def container_section(runs: int, private: bool) -> str:
    """The container rows, or "" when no engine answers (and none was asked for)."""
    from samlink.runtime.docker import engine_available

    with contextlib.ExitStack() as stack:
        env_extra: dict[str, str] = {}
        if private:
            sys.path.insert(0, str(REPO / "tests"))
            from container.engine import Engine, build_base_image

            engine = Engine.start()
            stack.callback(engine.stop)
            build_base_image(engine)
            env_extra = {"DOCKER_HOST": engine.host}
        elif not engine_available():
            print("no container engine answers: no container rows", file=sys.stderr)
            return ""
        work = stack.enter_context(workdir(keep=False))
        env = {**tool_env(work), **env_extra}
        project = work / "project"
        (project / "fn").mkdir(parents=True)
        (project / "fn" / "app.py").write_text(HANDLER)
        (project / "template.yaml").write_text(CONTAINER_TEMPLATE)
        (project / "samconfig.toml").write_text(CONTAINER_CONFIG)
        run([BIN / "sam", "build"], project, env)
        samlink = [BIN / "samlink", "invoke", "Bench", "--no-build"]
        commands = {
            "sam local invoke": [BIN / "sam", "local", "invoke", "Bench"],
            "samlink invoke --docker": [*samlink, "--docker"],
            "samlink invoke (sandbox)": [*samlink, "--no-docker"],
        }
        for cmd in commands.values():
            run(cmd, project, env)  # warm-up: SAM's rapid image, byte code, the runtime client
        rows = [Row(name) for name in commands]
        rounds(
            [
                (row, functools.partial(timed_s, cmd, project, env), runs)
                for row, cmd in zip(rows, commands.values(), strict=True)
            ]
        )
    where = "the private engine (dockerd, stand-in image)" if private else "the engine answering"
    return "\n".join(
        [
            "### Container path: one invoke, a new process each",
            "",
            f"Same built python3.11 project, {runs} runs a row, interleaved, on {where}; "
            f"skip_pull_image on. {machine()}.",
            "",
            table(rows, reference=rows[0], unit="ms"),
        ]
    )


if __name__ == "__main__":
    main()
