"""Save-to-deployed latency of `samlink sync`, against a local moto server.

    .venv/bin/python bench/sync_latency.py [--runs 5] [--out docs/benchmarks-sync.md]

Two kinds of edit to the hello-world example, interleaved run by run:
- function: a save to the function's own code (SAM's own watcher sees it);
- linked library: a save to the linked checkout of sam-sync-test-upstream, which lives outside
  the CodeUri (samlink's watcher sees it and tells SAM through the CodeUri marker).
Latency is from the save to the moment SAM reports the sync finished, counted only when moto's
CodeSha256 for the function then equals SAM's zip of the local build dir holding the edit.
Needs `moto[server]` (the `test` extra) and the SAMLINK_SYNC hook in `samlink build`.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
EXAMPLE = REPO / "examples" / "hello-world"
FUNCTION = "HelloWorldFunction"

TEMPLATE = """\
AWSTemplateFormatVersion: '2010-09-09'
Resources:
  LambdaRole:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: '2012-10-17'
        Statement:
          - Effect: Allow
            Principal: {Service: lambda.amazonaws.com}
            Action: sts:AssumeRole
  HelloWorldFunction:
    Type: AWS::Lambda::Function
    Properties:
      Code: hello_world/
      Handler: app.lambda_handler
      Runtime: python3.12
      Role: !GetAtt LambdaRole.Arn
"""


class Output:
    """A process's output lines, each with the monotonic time it was read."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[tuple[float, str]] = []
        self._cond = threading.Condition()
        self._proc = proc
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            with self._cond:
                self.lines.append((time.monotonic(), line.rstrip("\n")))
                self._cond.notify_all()

    def next_match(self, pattern: str, after: float, timeout: float = 300) -> tuple[float, str]:
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for when, line in self.lines:
                    if when > after and regex.search(line):
                        return when, line
                if time.monotonic() > deadline or self._proc.poll() is not None:
                    tail = "\n".join(line for _when, line in self.lines[-40:])
                    raise SystemExit(f"no {pattern!r} in samlink sync's output:\n{tail}")
                self._cond.wait(1.0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def local_sha(build_dir: Path, token: str) -> str | None:
    """CodeSha256 of SAM's zip of the build dir, if the build holds the token."""
    from samcli.lib.package.utils import make_zip_with_lambda_permissions

    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = make_zip_with_lambda_permissions(str(Path(tmp) / "code"), str(build_dir))
        except OSError:  # SAM is rebuilding it right now
            return None
        data = Path(path).read_bytes()
    if token.encode() not in _unzipped(data):
        return None
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def _unzipped(data: bytes) -> bytes:
    import io
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return b"\n".join(zf.read(name) for name in zf.namelist())


def save_to_deployed(
    output: Output, saved: float, build: Path, token: str, deployed: Callable[[], str]
) -> float:
    """Seconds from the save to the SAM sync after which moto holds the local build."""
    after = saved
    while True:
        done, _line = output.next_match(f"Finished syncing Lambda Function {FUNCTION}", after)
        sha = local_sha(build, token)
        if sha is not None and sha == deployed():
            return done - saved
        after = done  # that sync read the files before the save: wait for the next one


def setup(root: Path, env: dict[str, str]) -> tuple[Path, Path]:
    project = root / "project"
    project.mkdir()
    shutil.copytree(EXAMPLE / "hello_world", project / "hello_world")
    (project / "template.yaml").write_text(TEMPLATE)
    upstream = root / "checkouts" / "sam-sync-test-upstream"
    shutil.copytree(
        EXAMPLE / "sam-sync-test-upstream",
        upstream,
        ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"),
    )
    for command in (
        [sys.executable, str(EXAMPLE / "build_wheelhouse.py"), str(project / "wheelhouse")],
        [str(BIN / "samlink"), "init"],
        [str(BIN / "samlink"), "link", str(upstream)],
    ):
        subprocess.run(command, cwd=project, env=env, check=True, capture_output=True)
    return project, upstream


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks-sync.md")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="samlink-bench-sync-"))
    port = free_port()
    endpoint = f"http://localhost:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        {
            "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
            "SAM_CLI_TELEMETRY": "0",
            "__SAM_CLI_APP_DIR": str(root / "sam-app-dir"),
            "SAMLINK_CACHE_DIR": str(root / "samlink-cache"),
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    )
    moto = subprocess.Popen(
        [str(BIN / "moto_server"), "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    sync: subprocess.Popen[str] | None = None
    try:
        wait_http(endpoint)
        import boto3

        os.environ.update({k: v for k, v in env.items() if k.startswith("AWS_")})
        s3, cfn, lam = (boto3.client(name) for name in ("s3", "cloudformation", "lambda"))
        project, upstream = setup(root, env)
        stack, bucket = f"bench-{uuid.uuid4().hex[:8]}", f"bench-{uuid.uuid4().hex[:8]}"
        s3.create_bucket(Bucket=bucket)
        sync = subprocess.Popen(
            [str(BIN / "samlink"), "sync", "--stack-name", stack, "--s3-bucket", bucket],
            cwd=project,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        assert sync.stdin is not None
        sync.stdin.write("y\n")
        sync.stdin.close()
        output = Output(sync)
        output.next_match(r"Infra sync completed\.", 0, timeout=600)
        found = cfn.describe_stack_resource(StackName=stack, LogicalResourceId=FUNCTION)
        physical = found["StackResourceDetail"]["PhysicalResourceId"]

        def deployed_sha() -> str:
            configuration = lam.get_function(FunctionName=physical)["Configuration"]
            return str(configuration["CodeSha256"])

        build = project / ".aws-sam" / "build" / FUNCTION
        files = {
            "function": project / "hello_world" / "app.py",
            "linked library": upstream / "src" / "sam_sync_test_upstream" / "__init__.py",
        }
        originals = {kind: path.read_text() for kind, path in files.items()}
        results: dict[str, list[float]] = {kind: [] for kind in files}
        reported: list[float] = []
        for run in range(args.runs + 1):  # run 0 warms up
            for kind, path in files.items():
                token = f"BENCH_{kind.replace(' ', '_').upper()}_{run}"
                saved = time.monotonic()
                path.write_text(originals[kind] + f"\n{token} = 1\n")
                seconds = save_to_deployed(output, saved, build, token, deployed_sha)
                if run:
                    results[kind].append(seconds)
                if kind == "linked library":
                    _when, line = output.next_match(rf"-> synced {FUNCTION} in", saved)
                    if run:
                        reported.append(float(line.rsplit(" in ", 1)[1].rstrip("s")))
                time.sleep(2)  # let SAM go idle: each save is measured alone
        for kind, path in files.items():
            path.write_text(originals[kind])
        report = render(results, reported, args.runs)
        print(report)
        args.out.write_text(report)
        print(f"written to {args.out}")
    finally:
        if sync is not None and sync.poll() is None:
            os.killpg(sync.pid, signal.SIGINT)
            try:
                sync.wait(timeout=120)
            except subprocess.TimeoutExpired:
                os.killpg(sync.pid, signal.SIGKILL)
        moto.terminate()
        moto.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)


def render(results: dict[str, list[float]], reported: list[float], runs: int) -> str:
    sam_version = subprocess.run(
        [str(BIN / "sam"), "--version"], capture_output=True, text=True
    ).stdout.strip()
    lines = [
        "# `samlink sync` latency: save to deployed (moto)",
        "",
        "Written by `bench/sync_latency.py`. From a save to SAM's `Finished syncing` line, counted",
        "once moto's CodeSha256 equals SAM's zip of the local build holding the edit. SAM waits",
        "1 s after a change before it builds; a sync is a makefile build (`samlink build`, store",
        "hit, hard links), a zip and an `UpdateFunctionCode` call to moto on localhost.",
        "",
        f"Machine: {platform.platform()}, {os.cpu_count()} CPUs,"
        f" Python {platform.python_version()}, {sam_version}."
        f" {runs} runs per row after one warm-up, interleaved.",
        "",
        "| edit | median | min | max |",
        "|---|---|---|---|",
    ]
    for kind, values in results.items():
        lines.append(
            f"| {kind} | {statistics.median(values):.2f} s | {min(values):.2f} s"
            f" | {max(values):.2f} s |"
        )
    if reported:
        lines += [
            "",
            "samlink's own line for the library edits (`... -> synced HelloWorldFunction in Ns`,",
            "from the first change it saw to SAM's line): median"
            f" {statistics.median(reported):.1f} s.",
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
