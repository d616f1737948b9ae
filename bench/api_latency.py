"""Warm request latency through `samlink start-api`, against the floor and `sam local start-api`.

    .venv/bin/python bench/api_latency.py [--requests 300] [--saves 5] [--no-write] [--keep]

floor: the handler called directly in one process (same event, same machine, same run).
samlink start-api: warm requests over one keep-alive HTTP connection (REST, payload 1.0), to a
      trivial handler and to the hello-world function that imports a linked library.
sam local start-api: the same with `--warm-containers EAGER`, when a container engine answers
      (skipped with the reason otherwise).
save to served: from a save of the linked library to the first response that shows it.
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from harness import BIN, REPO, run, tool_env, workdir
from report import publish

TRIVIAL = "def handler(event, context):\n    return {'statusCode': 200, 'body': 'ok'}\n"
TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.12
    Timeout: 10
Resources:
  HelloWorldFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: hello_world/
      Handler: app.lambda_handler
      Events:
        Api: {Type: Api, Properties: {Path: /hello, Method: get}}
  TrivialFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: trivial/
      Handler: app.handler
      Events:
        Api: {Type: Api, Properties: {Path: /trivial, Method: get}}
"""
UPSTREAM_INIT = Path("sam-sync-test-upstream/src/sam_sync_test_upstream/__init__.py")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_project(work: Path, env: dict[str, str]) -> Path:
    project = work / "project"
    shutil.copytree(
        REPO / "examples" / "hello-world",
        project,
        ignore=shutil.ignore_patterns(
            ".aws-sam", ".samlink", "wheelhouse", "Makefile", "__pycache__", "*.egg-info", "build"
        ),
    )
    run([sys.executable, "build_wheelhouse.py", "wheelhouse"], project, env)
    (project / "template.yaml").write_text(TEMPLATE)
    (project / "trivial").mkdir()
    (project / "trivial" / "app.py").write_text(TRIVIAL)
    run([BIN / "samlink", "init"], project, env)
    run([BIN / "samlink", "link", "./sam-sync-test-upstream"], project, env)
    run([BIN / "sam", "build"], project, env)
    return project


class Served:
    """A server process started in its own process group; ready when `ready` matches a line."""

    def __init__(self, cmd: list[str], cwd: Path, env: dict[str, str], ready: str) -> None:
        self.proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self._ready = threading.Event()
        pattern = re.compile(ready)

        def read() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                self.lines.append(line)
                if pattern.search(line):
                    self._ready.set()

        threading.Thread(target=read, daemon=True).start()

    def wait(self, timeout: float) -> None:
        if not self._ready.wait(timeout):
            self.stop()
            raise SystemExit("server did not start:\n" + "".join(self.lines[-40:]))

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def get(conn: http.client.HTTPConnection, path: str) -> tuple[int, bytes]:
    conn.request("GET", path)
    response = conn.getresponse()
    return response.status, response.read()


def latencies(port: int, path: str, count: int, warmup: int = 20) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for _ in range(warmup):
        status, body = get(conn, path)
        assert status == 200, (status, body)
    times = []
    for _ in range(count):
        start = time.perf_counter()
        status, _ = get(conn, path)
        times.append((time.perf_counter() - start) * 1000)
        assert status == 200
    conn.close()
    return times


def floor(project: Path, count: int) -> list[float]:
    """The trivial handler called in this process on the event start-api would send."""
    sys.path.insert(0, str(project / "trivial"))
    import app  # type: ignore[import-not-found]

    event = json.dumps({"resource": "/trivial", "path": "/trivial", "httpMethod": "GET"})
    times = []
    for _ in range(count):
        start = time.perf_counter()
        app.handler(json.loads(event), None)
        times.append((time.perf_counter() - start) * 1000)
    return times


def ms(value: float) -> str:
    return f"{value:.3f}" if value < 1 else f"{value:.2f}"


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def save_to_served(project: Path, port: int, saves: int) -> list[float]:
    init_py = project / UPSTREAM_INIT
    original = init_py.read_text()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    times = []
    try:
        for n in range(saves):
            marker = f"save{n}x"
            edited = original.replace('f"hello {target}', f'f"{marker} {{target}}')
            start = time.perf_counter()
            init_py.write_text(edited)
            while marker.encode() not in get(conn, "/hello")[1]:
                if time.perf_counter() - start > 60:
                    raise SystemExit("a library save was not served within 60 s")
                time.sleep(0.005)
            times.append((time.perf_counter() - start) * 1000)
            time.sleep(0.5)  # let the watcher settle between saves
    finally:
        init_py.write_text(original)
        conn.close()
    return times


def container_engine(env: dict[str, str]) -> str | None:
    """None when a container engine answers, else why the SAM row is skipped."""
    from samlink.runtime import engine_available

    if engine_available():
        return None
    return "no container engine answers here (sam local start-api needs one)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--saves", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help="print only; keep docs as they are")
    parser.add_argument("--keep", action="store_true", help="keep the scratch dir")
    args = parser.parse_args()

    load_before = os.getloadavg()
    rows: list[tuple[str, list[float]]] = []
    notes: list[str] = []
    with workdir(args.keep) as work:
        env = tool_env(work)
        project = make_project(work, env)
        rows.append(("floor: handler called in one process", floor(project, args.requests)))

        port = free_port()
        served = Served(
            [str(BIN / "samlink"), "start-api", "--port", str(port), "--no-build"],
            project,
            env,
            r"serving on",
        )
        try:
            served.wait(300)
            trivial = latencies(port, "/trivial", args.requests)
            rows.append(("samlink start-api: trivial handler", trivial))
            hello = latencies(port, "/hello", args.requests)
            rows.append(("samlink start-api: hello-world (linked library)", hello))
            saves = save_to_served(project, port, args.saves)
        finally:
            served.stop()

        reason = container_engine(env)
        if reason is None:
            port = free_port()
            sam = Served(
                [
                    str(BIN / "sam"),
                    "local",
                    "start-api",
                    "--port",
                    str(port),
                    "--warm-containers",
                    "EAGER",
                ],
                project,
                env,
                r"Running on http",
            )
            try:
                sam.wait(600)
                sam_times = latencies(port, "/trivial", args.requests)
                rows.append(("sam local start-api (warm containers): trivial handler", sam_times))
            finally:
                sam.stop()
        else:
            notes.append(f"`sam local start-api` row skipped: {reason}.")
    load_after = os.getloadavg()

    floor_p50 = percentile(rows[0][1], 50)
    lines = [
        "## `samlink start-api` request latency",
        "",
        f"`bench/api_latency.py`: {args.requests} warm GET requests a row over one keep-alive "
        f"connection (after 20 warm-up requests), REST API (payload 1.0), python3.12 functions. "
        f"Python {sys.version.split()[0]} host, {platform.machine()}, {os.cpu_count()} cores, "
        f"{datetime.date.today()}; load average {load_before[0]:.2f} before, "
        f"{load_after[0]:.2f} after (other work on the machine shows here).",
        "",
        "| what | p50 ms | p99 ms | min ms | p50 over the floor, ms |",
        "|---|---|---|---|---|",
    ]
    for name, times in rows:
        p50 = percentile(times, 50)
        lines.append(
            f"| {name} | {ms(p50)} | {ms(percentile(times, 99))} | {ms(min(times))} | "
            f"{ms(p50 - floor_p50)} |"
        )
    lines += [
        "",
        f"Save to served (a linked library's file saved, polled every 5 ms until a response "
        f"shows it), {len(saves)} saves: median {sorted(saves)[len(saves) // 2]:.0f} ms, "
        f"min {min(saves):.0f} ms, max {max(saves):.0f} ms.",
    ]
    lines += ["", *notes] if notes else []
    publish("api_latency", "\n".join(lines) + "\n", write=not args.no_write)


if __name__ == "__main__":
    main()
