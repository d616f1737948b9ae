"""`samlink sync`: one real `sam sync --watch` against a real moto server, plus sync builds.

Nothing is mocked. AWS is moto's server (`moto[server]`, the `test` extra): it stores the code
SAM uploads and reports its CodeSha256, which is compared with SAM's own zip of the local build
dir (moto cannot hand the code back, nor run it without Docker).
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import shutil
import sys
import tempfile
import time
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import BIN, EXAMPLE, LIBS, moto_server, run
from samlink.build import ship
from samlink.errors import BuildError
from samlink.live import sync
from samlink.model.template import load_template
from test_watch import Live, processes_with, wait_until

SAMLINK = BIN / "samlink"

# -- sync builds: real, filtered files ---------------------------------------------------------


def make_dev_build(tmp_path: Path) -> tuple[Path, Path, Path, Path]:
    """A dev build dir as `samlink build` leaves it: top-level links to a package and the code."""
    checkout = tmp_path / "checkout"
    package = checkout / "src" / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("VALUE = 1\n")
    (package / "sub" / "data.txt").write_text("data\n")
    (package / "__pycache__").mkdir()
    (package / "__pycache__" / "x.cpython-312.pyc").write_bytes(b"\0")
    (package / "tests").mkdir()
    (package / "tests" / "test_pkg.py").write_text("")
    (package / "__init__.py~").write_text("backup")
    (package / ".__init__.py.swp").write_text("swap")
    (package / ".git").mkdir()
    (package / ".git" / "HEAD").write_text("ref\n")
    code = tmp_path / "fn"
    (code / "util").mkdir(parents=True)
    (code / "app.py").write_text("import pkg\n")
    (code / "util" / "__init__.py").write_text("")
    (code / "util" / "__pycache__").mkdir()
    (code / "util" / "__pycache__" / "y.pyc").write_bytes(b"\0")
    build = tmp_path / "build"
    build.mkdir()
    (build / "pkg").symlink_to(package)
    (build / "app.py").symlink_to(code / "app.py")
    (build / "util").symlink_to(code / "util")
    (build / "dep").mkdir()
    (build / "dep" / "__init__.py").write_text("")
    return build, package, code, checkout


def files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_realize_hard_links_linked_files_and_takes_code_from_sams_copy(tmp_path: Path) -> None:
    build, package, code, _checkout = make_dev_build(tmp_path)
    scratch = tmp_path / "scratch"  # SAM's temp copy of the code dir, make's cwd
    shutil.copytree(code, scratch)
    count = ship.realize(build, code, scratch)
    assert files(build) == [
        "app.py",
        "dep/__init__.py",
        "pkg/__init__.py",
        "pkg/sub/data.txt",
        "util/__init__.py",
    ]
    assert count == 4
    assert not any(p.is_symlink() for p in build.rglob("*"))
    # Linked sources: hard links (SAM does not watch them; samlink's watcher ignores links).
    assert (build / "pkg" / "__init__.py").stat().st_ino == (package / "__init__.py").stat().st_ino
    # Code: from SAM's copy, so nothing touches the files SAM watches.
    assert (build / "app.py").stat().st_ino == (scratch / "app.py").stat().st_ino
    assert (build / "app.py").stat().st_ino != (code / "app.py").stat().st_ino


def test_realize_copies_code_when_make_runs_in_the_code_dir(tmp_path: Path) -> None:
    build, package, code, _checkout = make_dev_build(tmp_path)
    ship.realize(build, code, code)  # sam sync --build-in-source: no temp copy
    assert (build / "app.py").read_text() == "import pkg\n"
    assert (build / "app.py").stat().st_ino != (code / "app.py").stat().st_ino
    assert (build / "pkg" / "__init__.py").stat().st_ino == (package / "__init__.py").stat().st_ino
    assert not (build / "util" / "__pycache__").exists()


def test_realize_reports_a_dangling_link(tmp_path: Path) -> None:
    build, package, code, _checkout = make_dev_build(tmp_path)
    shutil.rmtree(package)
    with pytest.raises(BuildError, match="gone"):
        ship.realize(build, code)


# -- the SAM side: command line, output, excludes ----------------------------------------------

SAM_LINES = [
    ("\x1b[36mSyncing Lambda Function HelloWorldFunction...\x1b[0m", "sync-start"),
    (
        "\x1b[32m29/Nov/2026:09:38:45: Finished syncing Lambda Function HelloWorldFunction.\x1b[0m",
        "sync-done",
    ),
    ("Syncing Layer SharedLayer...", "sync-start"),
    ("\x1b[36mStarting infra sync.\x1b[0m", "infra-start"),
    ("\x1b[32mInfra sync completed.\x1b[0m", "infra-done"),
    ("Skipped infra sync as the local template is in sync with the cloud template.", "infra-done"),
    ("Failed to sync infra. Code sync is paused until template/stack is fixed.", "infra-failed"),
    ("Code sync encountered an error.", "error"),
]


@pytest.mark.parametrize(("line", "kind"), SAM_LINES)
def test_parse_sam_line(line: str, kind: str) -> None:
    event = sync.parse_sam_line(line)
    assert event is not None and event.kind == kind


def test_parse_sam_line_ignores_the_rest() -> None:
    assert sync.parse_sam_line("Building codeuri: /x runtime: python3.12") is None
    assert sync.parse_sam_line("[sam] Syncing Lambda Function X... later") is None


def test_sam_command_passes_options_through() -> None:
    command = sync.sam_command(
        "sam",
        Path("/p/template.yaml"),
        ["--s3-bucket", "b", "--region", "eu-west-1"],
        stack_name="dev",
        dependency_layer=False,
        excludes=["Fn=x"],
    )
    assert command == [
        "sam",
        "sync",
        "--watch",
        "--template-file",
        "/p/template.yaml",
        "--stack-name",
        "dev",
        "--no-dependency-layer",
        "--watch-exclude",
        "Fn=x",
        "--s3-bucket",
        "b",
        "--region",
        "eu-west-1",
    ]
    layer = sync.sam_command(
        "sam", Path("t"), [], stack_name=None, dependency_layer=True, excludes=[]
    )
    assert "--dependency-layer" in layer and "--stack-name" not in layer


@pytest.mark.parametrize(
    "arg", ["--no-watch", "--use-container", "--template-file", "--template-file=t.yaml"]
)
def test_options_that_defeat_sync_are_refused(
    arg: str, tmp_path: Path, tool_env: dict[str, str]
) -> None:
    result = run([SAMLINK, "sync", arg], tmp_path, tool_env, check=False)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.startswith("samlink: error: ")


SHARED = """\
AWSTemplateFormatVersion: '2010-09-09'
Resources:
  One:
    Type: AWS::Lambda::Function
    Properties: {Code: fn/, Handler: app.h, Runtime: python3.12, Role: r}
  Two:
    Type: AWS::Lambda::Function
    Properties: {Code: fn/, Handler: app.h, Runtime: python3.12, Role: r}
  Root:
    Type: AWS::Lambda::Function
    Properties: {Code: ., Handler: app.h, Runtime: python3.12, Role: r}
"""


def test_watch_excludes_keep_markers_and_state_to_their_resource(tmp_path: Path) -> None:
    (tmp_path / "fn").mkdir()
    (tmp_path / "template.yaml").write_text(SHARED)
    excludes = sync.watch_excludes(load_template(tmp_path / "template.yaml"))
    assert sorted(excludes) == [
        r"One=/\.samlink\-sync/Two$",
        r"Root=/\.samlink/",
        r"Two=/\.samlink\-sync/One$",
    ]
    # SAM wraps each value as ^.*VALUE.*$ and matches the full path.
    one = re.compile(r"^.*" + excludes[0].split("=", 1)[1] + ".*$")
    assert one.match(str(tmp_path / "fn" / ".samlink-sync" / "Two"))
    assert not one.match(str(tmp_path / "fn" / ".samlink-sync" / "One"))
    root = re.compile(r"^.*" + r"/\.samlink/" + ".*$")
    assert root.match(str(tmp_path / ".samlink" / "builds" / "Root.json"))
    assert not root.match(str(tmp_path / ".samlink-sync" / "Root"))


# -- a real sam sync --watch against moto ------------------------------------------------------

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
  OtherFunction:
    Type: AWS::Lambda::Function
    Properties:
      Code: other/
      Handler: app.lambda_handler
      Runtime: python3.12
      Role: !GetAtt LambdaRole.Arn
"""

UPSTREAM_INIT = Path("src") / "sam_sync_test_upstream" / "__init__.py"
CLUTTER = re.compile(r"(^|/)(\.git|\.venv|tests?|__pycache__|\.samlink-sync)(/|$)|~$|\.swp$|\.pyc$")


@pytest.fixture(scope="module")
def aws(tool_env: dict[str, str]) -> Iterator[dict[str, str]]:
    """A moto server on localhost and the environment that points SAM and boto3 at it."""
    with moto_server() as port:
        env = {k: v for k, v in tool_env.items() if not k.startswith("AWS_")}
        env.update(
            {
                # not 127.0.0.1: moto reads it as a bucket
                "AWS_ENDPOINT_URL": f"http://localhost:{port}",
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_REGION": "us-east-1",
            }
        )
        yield env


class Stack:
    """The deployed side, read through boto3 (pointed at moto by AWS_ENDPOINT_URL)."""

    def __init__(self, env: dict[str, str], name: str) -> None:
        import boto3

        session = boto3.session.Session(
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            region_name=env["AWS_DEFAULT_REGION"],
        )
        endpoint = env["AWS_ENDPOINT_URL"]
        self.name = name
        self.cfn = session.client("cloudformation", endpoint_url=endpoint)
        self.lam = session.client("lambda", endpoint_url=endpoint)
        self.s3 = session.client("s3", endpoint_url=endpoint)

    def code_sha(self, logical_id: str) -> str:
        physical = self.cfn.describe_stack_resource(
            StackName=self.name, LogicalResourceId=logical_id
        )
        name = physical["StackResourceDetail"]["PhysicalResourceId"]
        return str(self.lam.get_function(FunctionName=name)["Configuration"]["CodeSha256"])


def sam_zip(build_dir: Path) -> tuple[str, dict[str, bytes]]:
    """SAM's own zip of a build dir (what `sam sync` uploads): its CodeSha256 and its files."""
    from samcli.lib.package.utils import make_zip_with_lambda_permissions

    with tempfile.TemporaryDirectory() as tmp:
        path = make_zip_with_lambda_permissions(str(Path(tmp) / "code"), str(build_dir))
        data = Path(path).read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        contents = {name: zf.read(name) for name in zf.namelist()}
    return base64.b64encode(hashlib.sha256(data).digest()).decode(), contents


def in_sync(stack: Stack, build: Path, logical_id: str, *needles: str) -> bool:
    """Whether the deployed code is SAM's zip of the local build dir, holding every needle."""
    try:
        sha, contents = sam_zip(build / logical_id)
    except (OSError, ValueError, zipfile.BadZipFile):  # SAM is rebuilding the dir right now
        return False
    text = b"\n".join(contents.values()).decode("utf-8", "replace")
    return all(n in text for n in needles) and stack.code_sha(logical_id) == sha


def overlapping_syncs(lines: list[str]) -> list[str]:
    """Resources SAM started syncing again before the previous sync of them finished."""
    running: set[str] = set()
    overlaps = []
    for line in lines:
        event = sync.parse_sam_line(line.removeprefix(sync.SAM_PREFIX))
        if event is None:
            continue
        if event.kind == "sync-start":
            if event.resource in running:
                overlaps.append(event.resource)
            running.add(event.resource)
        elif event.kind == "sync-done":
            running.discard(event.resource)
    return overlaps


class LiveSync:
    def __init__(self, live: Live, project: Path, upstream: Path, stack: Stack) -> None:
        self.live = live
        self.project = project
        self.upstream = upstream
        self.stack = stack
        self.build = project / ".aws-sam" / "build"


@pytest.fixture(scope="module")
def live_sync(tmp_path_factory: pytest.TempPathFactory, aws: dict[str, str]) -> Iterator[LiveSync]:
    root = tmp_path_factory.mktemp("sync")
    project = root / "project"
    project.mkdir()
    shutil.copytree(EXAMPLE / "hello_world", project / "hello_world", ignore=_ignore)
    (project / "other").mkdir()
    (project / "other" / "app.py").write_text("def lambda_handler(event, context):\n    return 1\n")
    (project / "template.yaml").write_text(TEMPLATE)
    run([sys.executable, EXAMPLE / "build_wheelhouse.py", project / "wheelhouse"], project, aws)
    # The library's checkout lives outside every CodeUri, as a developer's clone does, with the
    # clutter a clone has.
    upstream = root / "checkouts" / "sam-sync-test-upstream"
    shutil.copytree(EXAMPLE / "sam-sync-test-upstream", upstream, ignore=_ignore)
    for folder in (".git", ".venv", "src/sam_sync_test_upstream/__pycache__"):
        (upstream / folder).mkdir(parents=True, exist_ok=True)
    (upstream / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (upstream / ".venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (upstream / "src/sam_sync_test_upstream/__pycache__/x.cpython-312.pyc").write_bytes(b"\0")
    (upstream / "src/sam_sync_test_upstream/__init__.py~").write_text("editor backup\n")
    # A second library linked from INSIDE a CodeUri: SAM's own watcher sees its edits.
    inside = project / "other" / "single_mod"
    shutil.copytree(LIBS / "single_mod", inside, ignore=_ignore)
    run([SAMLINK, "init"], project, aws)
    run([SAMLINK, "link", upstream], project, aws)
    run([SAMLINK, "link", inside, "--function", "OtherFunction"], project, aws)

    stack = Stack(aws, f"samlink-{uuid.uuid4().hex[:8]}")
    bucket = f"samlink-sync-{uuid.uuid4().hex[:8]}"
    stack.s3.create_bucket(Bucket=bucket)
    command = [SAMLINK, "sync", "--stack-name", stack.name, "--s3-bucket", bucket]
    live = Live(command, project, aws, stdin="y\n")  # answers sync's "development stack?"
    try:
        live.wait_for(r"Infra sync completed\.", timeout=600)
        yield LiveSync(live, project, upstream, stack)
    finally:
        live.kill()
        (root / "samlink-sync.log").write_text(live.output)  # for a look after a failure


def _ignore(folder: str, names: list[str]) -> set[str]:
    return {
        n for n in names if n in ("__pycache__", "build", ".aws-sam") or n.endswith(".egg-info")
    }


@pytest.mark.sam
def test_first_sync_deploys_the_build_with_real_files(live_sync: LiveSync) -> None:
    build = live_sync.build / "HelloWorldFunction"
    source = (live_sync.upstream / UPSTREAM_INIT).read_text()
    sha, contents = sam_zip(build)
    assert live_sync.stack.code_sha("HelloWorldFunction") == sha
    assert contents["sam_sync_test_upstream/__init__.py"].decode() == source
    assert "app.py" in contents
    assert not [p for p in build.rglob("*") if p.is_symlink()]
    assert [name for name in contents if CLUTTER.search(name)] == []
    assert (
        "samlink: watching sam-sync-test-upstream for HelloWorldFunction" in live_sync.live.output
    )


@pytest.mark.sam
def test_linked_edit_outside_the_code_dir_reaches_aws(live_sync: LiveSync) -> None:
    live = live_sync.live
    mark = live.mark()
    init_py = live_sync.upstream / UPSTREAM_INIT
    init_py.write_text(init_py.read_text().replace('f"hello {target}', 'f"howdy {target}'))
    live.wait_for(
        r"samlink: sam-sync-test-upstream: src/sam_sync_test_upstream/__init__\.py modified"
        r" -> synced HelloWorldFunction in \d+\.\ds",
        start=mark,
    )
    wait_until(
        lambda: in_sync(live_sync.stack, live_sync.build, "HelloWorldFunction", "howdy"),
        120,
        "the deployed code to hold the edit",
    )
    assert live.count("Syncing Lambda Function OtherFunction", start=mark) == 0
    _sha, contents = sam_zip(live_sync.build / "HelloWorldFunction")
    assert [name for name in contents if CLUTTER.search(name)] == []


@pytest.mark.sam
def test_code_edit_is_synced_once(live_sync: LiveSync) -> None:
    live = live_sync.live
    mark = live.mark()
    app = live_sync.project / "hello_world" / "app.py"
    app.write_text(app.read_text().replace('"statusCode": 200', '"statusCode": 201'))
    live.wait_for("Finished syncing Lambda Function HelloWorldFunction", start=mark)
    wait_until(
        lambda: in_sync(
            live_sync.stack, live_sync.build, "HelloWorldFunction", '"statusCode": 201'
        ),
        120,
        "the deployed code to hold the edit",
    )
    time.sleep(5)  # a second sync, if there were one, would start within SAM's 1 s delay
    assert live.count("Syncing Lambda Function HelloWorldFunction", start=mark) == 1
    assert live.count("-> synced HelloWorldFunction", start=mark) == 0  # SAM's alone


@pytest.mark.sam
def test_link_inside_the_code_dir_is_left_to_sam(live_sync: LiveSync) -> None:
    live = live_sync.live
    mark = live.mark()
    module = live_sync.project / "other" / "single_mod" / "acme_single.py"
    module.write_text(module.read_text() + "\nINSIDE_EDIT = 1\n")
    live.wait_for("Finished syncing Lambda Function OtherFunction", start=mark)
    wait_until(
        lambda: in_sync(live_sync.stack, live_sync.build, "OtherFunction", "INSIDE_EDIT"),
        120,
        "the deployed code to hold the edit",
    )
    time.sleep(5)
    assert live.count("Syncing Lambda Function OtherFunction", start=mark) == 1
    assert live.count("Syncing Lambda Function HelloWorldFunction", start=mark) == 0


@pytest.mark.sam
def test_quick_saves_end_in_the_final_state_without_a_race(live_sync: LiveSync) -> None:
    """Saves to a linked file and the code while syncs run: one SAM process, so no overlap."""
    live = live_sync.live
    mark = live.mark()
    init_py = live_sync.upstream / UPSTREAM_INIT
    app = live_sync.project / "hello_world" / "app.py"
    lib_text, app_text = init_py.read_text(), app.read_text()
    for n in range(8):
        init_py.write_text(lib_text + f"\nLIB_SAVE = {n}\n")
        time.sleep(0.2)
        app.write_text(app_text + f"\nAPP_SAVE = {n}\n")
        time.sleep(0.3 if n % 2 else 1.2)  # some saves land while a sync is running
    wait_until(
        lambda: in_sync(
            live_sync.stack, live_sync.build, "HelloWorldFunction", "LIB_SAVE = 7", "APP_SAVE = 7"
        ),
        180,
        "the deployed code to reach the final local state",
    )
    time.sleep(5)
    assert in_sync(
        live_sync.stack, live_sync.build, "HelloWorldFunction", "LIB_SAVE = 7", "APP_SAVE = 7"
    )
    lines = live.lines[mark:]
    assert overlapping_syncs(lines) == []
    failures = [line for line in lines if re.search(r"error|fail|traceback", line, re.I)]
    assert failures == []
    # Exactly one SAM process all along.
    sams = [pid for pid in processes_with(live.token) if _is_sam(pid)]
    assert len(sams) == 1


@pytest.mark.sam
def test_a_link_out_of_a_linked_package_is_never_uploaded(
    live_sync: LiveSync, tmp_path: Path
) -> None:
    """A link to a home dir's `.ssh` (a stand-in, never the real one) appears in the linked
    checkout while the sync runs: the sync build stops naming it, AWS keeps what it had, and
    once the link is gone the next edit syncs as before."""
    live, stack, build = live_sync.live, live_sync.stack, live_sync.build
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text("-----BEGIN PRIVATE KEY-----\n")
    init_py = live_sync.upstream / UPSTREAM_INIT
    keys = init_py.parent / "keys"
    deployed = stack.code_sha("HelloWorldFunction")
    mark = live.mark()
    keys.symlink_to(home / ".ssh")
    try:
        init_py.write_text(init_py.read_text() + "\nLEAK_TRY = 1\n")
        live.wait_for("Code sync encountered an error", start=mark)
        said = " ".join(live.output.split())  # SAM's log may wrap the line
        assert f"{keys} links to {home / '.ssh'}, outside {init_py.parent}" in said
        time.sleep(5)
        assert stack.code_sha("HelloWorldFunction") == deployed
    finally:
        keys.unlink()
    init_py.write_text(init_py.read_text().replace("LEAK_TRY = 1", "LEAK_TRY = 2"))
    wait_until(
        lambda: in_sync(stack, build, "HelloWorldFunction", "LEAK_TRY = 2"),
        180,
        "the deployed code to hold the edit",
    )
    _sha, contents = sam_zip(build / "HelloWorldFunction")
    assert not [name for name in contents if "id_rsa" in name or "/keys/" in name]


def _is_sam(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return any(part.endswith(b"/sam") for part in cmdline[:2]) and b"sync" in cmdline


@pytest.mark.sam
def test_ctrl_c_stops_everything_cleanly(live_sync: LiveSync) -> None:
    live = live_sync.live
    mark = live.mark()
    init_py = live_sync.upstream / UPSTREAM_INIT
    init_py.write_text(init_py.read_text() + "\nLAST = 1\n")
    live.wait_for("Syncing Lambda Function HelloWorldFunction", start=mark)
    live.interrupt()  # SIGINT to the whole process group, as a terminal's Ctrl-C
    assert live.proc.wait(timeout=120) == 130
    wait_until(lambda: not processes_with(live.token), 30, "every child process to exit")
    assert "samlink: stopped" in live.output
    assert not (live_sync.project / "hello_world" / sync.MARKER_DIR).exists()
    assert not (live_sync.project / "other" / sync.MARKER_DIR).exists()
    # SAM finished the sync in flight: the build dir is whole.
    build = live_sync.build / "HelloWorldFunction"
    assert "LAST = 1" in (build / "sam_sync_test_upstream" / "__init__.py").read_text()
    assert (build / "app.py").is_file()
