"""Published layers (`Layers:` given by ARN) fetched as SAM fetches them, against a real moto.

moto's server (`moto_server`, the `test` extra) holds the published layer versions and answers
GetLayerVersion, but always with `Content.Location: "s3://"`, which nothing can download. So
boto3 reaches moto through `LocationProxy`, a tiny real HTTP proxy that forwards every request
to moto unchanged and, in GetLayerVersion answers only, points Content.Location at `Zips`: a
local HTTP server (http.server in a thread) holding the very zips moto stored (so moto's
CodeSha256 matches) and counting downloads. That rewrite is the one test double; the rest is
real: `sam build`, `samlink invoke` and `start-lambda`, SAM's own LayerDownloader on the same
cache, processes and SIGKILL.
"""

from __future__ import annotations

import http.client
import http.server
import io
import json
import os
import re
import signal
import stat
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

from conftest import BIN, free_port, moto_server, run, sam_build
from samlink.errors import UsageError
from samlink.runtime import remote_layers

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the sandbox is Linux-only"
)

SAMLINK = BIN / "samlink"
LAYER_INIT = "python/mylayer/__init__.py"


def zip_of(files: dict[str, str], links: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return buffer.getvalue()


# -- the local AWS: moto, the zips, the proxy between ------------------------------------------


@dataclass
class Zips:
    """The layer zips over HTTP, as S3 would serve Content.Location; counts each download.
    A zip in `cut` is cut off half way; one in `stalls` sends half, then the rest once its
    event is set."""

    port: int = 0
    files: dict[str, bytes] = field(default_factory=dict)
    downloads: dict[str, int] = field(default_factory=dict)
    cut: set[str] = field(default_factory=set)
    stalls: dict[str, threading.Event] = field(default_factory=dict)

    def url(self, arn: str) -> str:
        return f"http://127.0.0.1:{self.port}/{urllib.parse.quote(arn, safe='')}?X-Amz-Expires=600"


def zip_handler(zips: Zips) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            arn = urllib.parse.unquote(self.path.split("?")[0].lstrip("/"))
            data = zips.files.get(arn)
            if data is None:
                self.send_error(404)
                return
            zips.downloads[arn] = zips.downloads.get(arn, 0) + 1
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            half = len(data) // 2
            gate = zips.stalls.get(arn)
            try:
                if arn in zips.cut or gate is not None:
                    self.wfile.write(data[:half])
                    self.wfile.flush()
                    if gate is None or not gate.wait(120):
                        return
                    data = data[half:]
                self.wfile.write(data)
            except OSError:
                pass  # the downloader was killed

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def proxy_handler(moto: int, zips: Zips) -> type[http.server.BaseHTTPRequestHandler]:
    layer_version = re.compile(r"^/2018-10-31/layers/[^/]+/versions/\d+$")

    class Handler(http.server.BaseHTTPRequestHandler):
        def forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            upstream = http.client.HTTPConnection("localhost", moto, timeout=60)
            headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
            upstream.request(self.command, self.path, body=body, headers=headers)
            answer = upstream.getresponse()
            data = answer.read()
            upstream.close()
            if self.command == "GET" and answer.status == 200 and layer_version.match(self.path):
                document = json.loads(data)
                document["Content"]["Location"] = zips.url(document["LayerVersionArn"])
                data = json.dumps(document).encode()
            self.send_response(answer.status)
            for key, value in answer.getheaders():
                if key.lower() not in ("content-length", "connection", "transfer-encoding"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = forward

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@dataclass
class Cloud:
    env: dict[str, str]
    zips: Zips
    client: Any

    def publish(self, name: str, data: bytes) -> str:
        answer = self.client.publish_layer_version(
            LayerName=name, Content={"ZipFile": data}, CompatibleRuntimes=["python3.12"]
        )
        arn = str(answer["LayerVersionArn"])
        self.zips.files[arn] = data
        return arn

    def downloads(self, arn: str) -> int:
        return self.zips.downloads.get(arn, 0)


def serve(handler: type[http.server.BaseHTTPRequestHandler]) -> http.server.ThreadingHTTPServer:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def lambda_client(port: int) -> Any:
    return boto3.client(
        "lambda",
        endpoint_url=f"http://localhost:{port}",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture(scope="module")
def aws(tool_env: dict[str, str]) -> Iterator[Cloud]:
    zips = Zips()
    with moto_server() as port:
        files = serve(zip_handler(zips))
        zips.port = files.server_address[1]
        proxy = serve(proxy_handler(port, zips))
        try:
            env = {k: v for k, v in tool_env.items() if not k.startswith("AWS_")}
            env.update(
                {
                    "AWS_ENDPOINT_URL": f"http://localhost:{proxy.server_address[1]}",
                    "AWS_ACCESS_KEY_ID": "testing",
                    "AWS_SECRET_ACCESS_KEY": "testing",
                    "AWS_DEFAULT_REGION": "us-east-1",
                    "AWS_REGION": "us-east-1",
                }
            )
            yield Cloud(env, zips, lambda_client(port))
        finally:
            for gate in zips.stalls.values():
                gate.set()
            proxy.shutdown()
            files.shutdown()


# -- a real sam build of functions whose layers are published ones ----------------------------

APP = """\
def handler(event, context):
    import mylayer

    return {"value": mylayer.VALUE, "file": mylayer.__file__}
"""


@dataclass
class Project:
    path: Path
    arns: dict[str, str]


@pytest.fixture(scope="module")
def project(
    tmp_path_factory: pytest.TempPathFactory, tool_env: dict[str, str], aws: Cloud
) -> Project:
    arns = {
        "Good": aws.publish("mylayer", zip_of({LAYER_INIT: "VALUE = 'from the layer'\n"})),
        "Warm": aws.publish("warmlayer", zip_of({LAYER_INIT: "VALUE = 'warmed by sam'\n"})),
        "Evil": aws.publish(
            "evillayer", zip_of({LAYER_INIT: "VALUE = 1\n", "../evil": "escaped\n"})
        ),
    }
    arns["Missing"] = arns["Good"].rsplit(":", 1)[0] + ":99"
    path = tmp_path_factory.mktemp("remote-layers") / "proj"
    (path / "fn").mkdir(parents=True)
    (path / "fn" / "app.py").write_text(APP)
    functions = "".join(
        f"""
  {name}Function:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn/
      Handler: app.handler
      Runtime: python3.12
      Layers:
        - {arn}
"""
        for name, arn in arns.items()
    )
    (path / "template.yaml").write_text(
        "AWSTemplateFormatVersion: '2010-09-09'\n"
        "Transform: AWS::Serverless-2016-10-31\n"
        "Resources:" + functions
    )
    sam_build(path, tool_env)
    return Project(path, arns)


def cache_env(aws: Cloud, cache: Path) -> dict[str, str]:
    return {**aws.env, "SAM_LAYER_CACHE_BASEDIR": str(cache)}


def invoke(project: Project, env: dict[str, str], name: str) -> subprocess.CompletedProcess[str]:
    return run([SAMLINK, "invoke", f"{name}Function"], project.path, env, check=False)


def sam_name(arn: str) -> str:
    """The cache folder's name, as SAM's own code computes it."""
    from samcli.lib.providers.provider import LayerVersion

    return str(LayerVersion(arn, None).name)


def sam_finds_cached(cache: Path, arn: str, project: Path) -> str:
    """Where SAM's own LayerDownloader finds the layer, given a Lambda client it cannot reach:
    an answer means SAM took the folder as downloaded, as `sam local invoke` would."""
    from botocore.config import Config
    from samcli.lib.providers.provider import LayerVersion
    from samcli.local.layers.layer_downloader import LayerDownloader

    unreachable = boto3.client(
        "lambda",
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(retries={"max_attempts": 0}, connect_timeout=1),
    )
    downloader = LayerDownloader(str(cache), str(project), [], lambda_client=unreachable)
    return str(downloader.download(LayerVersion(arn, None)).codeuri)


@pytest.mark.sam
def test_invoke_downloads_once_into_sams_cache(
    project: Project, aws: Cloud, tmp_path: Path
) -> None:
    arn = project.arns["Good"]
    cache = tmp_path / "layers-pkg"
    env = cache_env(aws, cache)
    before = aws.downloads(arn)

    first = invoke(project, env, "Good")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout) == {
        "value": "from the layer",
        "file": "/opt/python/mylayer/__init__.py",  # unpacked under /opt, as Lambda does
    }
    assert f"downloading layer {arn}" in first.stderr
    folder = cache / sam_name(arn)
    assert (folder / LAYER_INIT).read_text() == "VALUE = 'from the layer'\n"
    assert aws.downloads(arn) == before + 1
    # Nothing else: no temp zip, no temp folder.
    assert sorted(os.listdir(cache)) == [".locks", folder.name]

    second = invoke(project, env, "Good")
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["value"] == "from the layer"
    assert "downloading" not in second.stderr
    assert aws.downloads(arn) == before + 1

    # samlink warmed SAM's cache: SAM's own downloader takes the folder without asking Lambda.
    assert sam_finds_cached(cache, arn, project.path) == str(folder.resolve())


@pytest.mark.sam
def test_a_layer_sam_downloaded_is_not_downloaded_again(
    project: Project, aws: Cloud, tmp_path: Path
) -> None:
    from samcli.lib.providers.provider import LayerVersion
    from samcli.local.layers.layer_downloader import LayerDownloader

    arn = project.arns["Warm"]
    cache = tmp_path / "layers-pkg"
    through_proxy = boto3.client(
        "lambda",
        endpoint_url=aws.env["AWS_ENDPOINT_URL"],
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    before = aws.downloads(arn)
    LayerDownloader(str(cache), str(project.path), [], lambda_client=through_proxy).download(
        LayerVersion(arn, None)
    )
    assert aws.downloads(arn) == before + 1  # SAM's real download, from the same Location

    result = invoke(project, cache_env(aws, cache), "Warm")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["value"] == "warmed by sam"
    assert "downloading" not in result.stderr
    assert aws.downloads(arn) == before + 1


@pytest.mark.sam
def test_a_half_layer_sam_left_is_replaced(project: Project, aws: Cloud, tmp_path: Path) -> None:
    """SAM unzips in place and records a failed download in .locks: that folder is not used."""
    arn = project.arns["Good"]
    cache = tmp_path / "layers-pkg"
    folder = cache / sam_name(arn)
    (folder / "python" / "mylayer").mkdir(parents=True)
    (folder / LAYER_INIT).write_text("VALUE = 'half'\n")
    status = cache / ".locks" / f"{folder.name}.downloading.status"
    status.parent.mkdir()
    status.write_text("failed\n1700000000.0")
    before = aws.downloads(arn)

    result = invoke(project, cache_env(aws, cache), "Good")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["value"] == "from the layer"
    assert aws.downloads(arn) == before + 1
    assert status.read_text().startswith("completed\n")
    assert sam_finds_cached(cache, arn, project.path) == str(folder.resolve())
    assert sorted(os.listdir(cache)) == [".locks", folder.name]


@pytest.mark.sam
def test_a_zip_entry_escaping_the_folder_is_refused(
    project: Project, aws: Cloud, tmp_path: Path
) -> None:
    cache = tmp_path / "deep" / "layers-pkg"
    result = invoke(project, cache_env(aws, cache), "Evil")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr
    assert "'../evil'" in lines[-1] and "hint:" in lines[-1], result.stderr
    assert not (cache.parent / "evil").exists() and not (cache / "evil").exists()
    assert os.listdir(cache) == [".locks"]  # no layer folder, no temp zip or folder
    assert result.stdout == ""


@pytest.mark.sam
def test_an_unknown_arn_is_one_line(project: Project, aws: Cloud, tmp_path: Path) -> None:
    result = invoke(project, cache_env(aws, tmp_path / "layers-pkg"), "Missing")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"samlink: error: layer {project.arns['Missing']} was not found in us-east-1 "
        "(hint: check the layer name, version and account in the template)"
    )


@pytest.mark.sam
def test_no_credentials_is_one_line(project: Project, aws: Cloud, tmp_path: Path) -> None:
    env = {k: v for k, v in cache_env(aws, tmp_path / "layers-pkg").items()}
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        env.pop(key, None)
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(tmp_path / "no-credentials")
    env["AWS_CONFIG_FILE"] = str(tmp_path / "no-config")
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    result = invoke(project, env, "Good")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert "no AWS credentials" in last and "AWS_PROFILE" in last, result.stderr


@pytest.mark.sam
def test_start_lambda_fetches_the_layer(project: Project, aws: Cloud, tmp_path: Path) -> None:
    """The warm engine builds its environments through the same code."""
    from test_start_lambda import Server

    cache = tmp_path / "layers-pkg"
    port = free_port()
    server = Server(project.path, cache_env(aws, cache), ["--port", str(port)], port)
    try:
        server.wait_ready(["GoodFunction"])
        answer = server.client().invoke(FunctionName="GoodFunction", Payload=b"{}")
        assert "FunctionError" not in answer, answer
        assert json.loads(answer["Payload"].read())["value"] == "from the layer"
        assert (cache / sam_name(project.arns["Good"]) / LAYER_INIT).is_file()
    finally:
        log = server.stop_and_read()
    assert f"downloading layer {project.arns['Good']}" in log


# -- fetch itself: failures, interruptions, two at once ----------------------------------------


@pytest.fixture
def aws_env(aws: Cloud, monkeypatch: pytest.MonkeyPatch) -> Cloud:
    for key in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(key)
    for key, value in aws.env.items():
        if key.startswith("AWS_"):
            monkeypatch.setenv(key, value)
    return aws


def test_a_cut_download_leaves_nothing(aws_env: Cloud, tmp_path: Path) -> None:
    arn = aws_env.publish("cutlayer", zip_of({LAYER_INIT: "VALUE = 'x' * 4000\n" * 50}))
    aws_env.zips.cut.add(arn)
    cache = tmp_path / "layers-pkg"
    with pytest.raises(UsageError, match="download failed") as caught:
        remote_layers.fetch(arn, cache, say=lambda line: None)
    assert caught.value.exit_code == 2 and caught.value.hint
    assert os.listdir(cache) == [".locks"]
    assert os.listdir(cache / ".locks") == []  # no record of a download that left nothing
    assert not remote_layers.is_cached(cache / sam_name(arn))


def test_an_unreachable_lambda_is_one_line(
    aws_env: Cloud, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    arn = "arn:aws:lambda:us-east-1:123456789012:layer:nowhere:1"
    with pytest.raises(UsageError, match="cannot ask Lambda for it") as caught:
        remote_layers.fetch(arn, tmp_path / "layers-pkg", say=lambda line: None)
    assert "\n" not in str(caught.value)


def test_credentials_aws_refuses_are_one_line(
    aws_env: Cloud, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """moto with its IAM checks on (after one free action, the publish) refuses the keys."""
    with moto_server(INITIAL_NO_AUTH_ACTION_COUNT="1") as port:
        layer = zip_of({LAYER_INIT: "VALUE = 1\n"})
        answer = lambda_client(port).publish_layer_version(
            LayerName="guarded", Content={"ZipFile": layer}
        )
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://localhost:{port}")
        with pytest.raises(UsageError, match="AWS refused the credentials") as caught:
            remote_layers.fetch(answer["LayerVersionArn"], tmp_path / "cache", say=print)
    message = str(caught.value)
    assert "\n" not in message and "<" not in message and "AWS_PROFILE" in message
    assert "InvalidClientTokenId" in message
    assert os.listdir(tmp_path / "cache") == [".locks"]


def test_without_boto3_a_download_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """boto3 is not one of samlink's own dependencies: where it cannot be imported (None in
    sys.modules makes `import boto3` fail), a download stops with a hint, nothing left."""
    monkeypatch.setitem(sys.modules, "boto3", None)
    arn = "arn:aws:lambda:us-east-1:123456789012:layer:noboto:1"
    with pytest.raises(UsageError, match="needs boto3") as caught:
        remote_layers.fetch(arn, tmp_path / "cache", say=lambda line: None)
    assert "pip install boto3" in caught.value.hint
    assert os.listdir(tmp_path / "cache") == [".locks"]
    assert os.listdir(tmp_path / "cache" / ".locks") == []


def test_a_cache_it_cannot_write_is_one_line(tmp_path: Path) -> None:
    """A folder where SAM's download record of the layer should be (as root, modes stop
    nothing: a folder in the way is what the file system refuses here)."""
    arn = "arn:aws:lambda:us-east-1:123456789012:layer:blocked:1"
    cache = tmp_path / "cache"
    (cache / ".locks" / f"{sam_name(arn)}.downloading.status").mkdir(parents=True)
    with pytest.raises(UsageError, match="cannot use SAM's layer cache for") as caught:
        remote_layers.fetch(arn, cache, say=lambda line: None)
    assert caught.value.exit_code == 2 and "a folder stands where a file should be" in str(
        caught.value
    )
    assert sorted(os.listdir(cache)) == [".locks"]


FETCH = "import sys; from samlink.runtime import remote_layers as r; print(r.fetch(sys.argv[1]))"


def test_a_killed_download_is_swept_by_the_next(aws_env: Cloud, tmp_path: Path) -> None:
    arn = aws_env.publish("stalllayer", zip_of({LAYER_INIT: "VALUE = 'whole'\n" * 2000}))
    gate = aws_env.zips.stalls[arn] = threading.Event()
    cache = tmp_path / "layers-pkg"
    env = {**os.environ, "SAM_LAYER_CACHE_BASEDIR": str(cache)}
    child = subprocess.Popen([sys.executable, "-c", FETCH, arn], env=env)
    try:
        deadline = time.monotonic() + 60
        while not (cache.is_dir() and any(n.endswith(".tmp") for n in os.listdir(cache))):
            assert child.poll() is None and time.monotonic() < deadline, "no download started"
            time.sleep(0.1)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        gate.set()
    folder = cache / sam_name(arn)
    assert not folder.exists()  # a killed download never shows as the layer
    assert not remote_layers.is_cached(folder)

    del aws_env.zips.stalls[arn]
    found = remote_layers.fetch(arn, cache, say=lambda line: None)
    assert found == folder and (folder / LAYER_INIT).is_file()
    # The dead fetch's temp zip is gone, and its SAM lock did not hold this one up.
    assert sorted(os.listdir(cache)) == [".locks", folder.name]
    assert os.listdir(cache / ".locks") == [f"{folder.name}.downloading.status"]


def test_samlink_waits_for_sams_download_in_progress(aws_env: Cloud, tmp_path: Path) -> None:
    """SAM unzips into the folder as it downloads: samlink waits for SAM's lock, then uses it."""
    from samcli.lib.providers.provider import LayerVersion
    from samcli.local.layers.layer_downloader import LayerDownloader

    arn = aws_env.publish("samfirst", zip_of({LAYER_INIT: "VALUE = 'sam'\n" * 2000}))
    gate = aws_env.zips.stalls[arn] = threading.Event()
    cache = tmp_path / "layers-pkg"
    through_proxy = boto3.client(
        "lambda",
        endpoint_url=aws_env.env["AWS_ENDPOINT_URL"],
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    sam = LayerDownloader(str(cache), str(tmp_path), [], lambda_client=through_proxy)
    failures: list[BaseException] = []

    def sam_download() -> None:
        try:
            sam.download(LayerVersion(arn, None))
        except BaseException as exc:
            failures.append(exc)

    thread = threading.Thread(target=sam_download)
    thread.start()
    child: subprocess.Popen[str] | None = None
    try:
        deadline = time.monotonic() + 60
        while not aws_env.downloads(arn):  # SAM holds its lock and is half way
            assert time.monotonic() < deadline and thread.is_alive(), failures
            time.sleep(0.1)
        env = {**os.environ, "SAM_LAYER_CACHE_BASEDIR": str(cache)}
        child = subprocess.Popen(
            [sys.executable, "-c", FETCH, arn],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert child.stderr is not None
        first = child.stderr.readline()
        assert f"waiting for another download of layer {arn} (pid {os.getpid()})" in first
    finally:
        gate.set()
        thread.join(timeout=120)
    out, err = child.communicate(timeout=120)
    assert not failures and child.returncode == 0, err
    folder = cache / sam_name(arn)
    assert out.strip() == str(folder) and "downloading" not in err
    assert aws_env.downloads(arn) == 1
    assert (folder / LAYER_INIT).read_text() == "VALUE = 'sam'\n" * 2000


def blocked_on_flock(pids: set[int]) -> bool:
    """Whether one of `pids` waits for an flock (a `->` line of /proc/locks)."""
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if len(fields) > 5 and fields[1:3] == ["->", "FLOCK"] and int(fields[5]) in pids:
            return True
    return False


def test_two_fetches_at_once_download_once(aws_env: Cloud, tmp_path: Path) -> None:
    arn = aws_env.publish("twicelayer", zip_of({LAYER_INIT: "VALUE = 2\n"}))
    gate = aws_env.zips.stalls[arn] = threading.Event()
    cache = tmp_path / "layers-pkg"
    env = {**os.environ, "SAM_LAYER_CACHE_BASEDIR": str(cache)}
    children = [
        subprocess.Popen(
            [sys.executable, "-c", FETCH, arn], env=env, stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    try:
        # The first one downloads (half sent, then held); the second one waits for the lock.
        deadline = time.monotonic() + 60
        while not (aws_env.downloads(arn) and blocked_on_flock({c.pid for c in children})):
            assert time.monotonic() < deadline, "the two fetches did not overlap"
            assert all(c.poll() is None for c in children)
            time.sleep(0.1)
    finally:
        gate.set()
    outputs = [child.communicate(timeout=120)[0] for child in children]
    folder = cache / sam_name(arn)
    assert [c.returncode for c in children] == [0, 0]
    assert [o.strip() for o in outputs] == [str(folder), str(folder)]
    assert aws_env.downloads(arn) == 1
    assert (folder / LAYER_INIT).read_text() == "VALUE = 2\n"
    assert sorted(os.listdir(cache)) == [".locks", folder.name]


# -- unpacking -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("files", "links", "named"),
    [
        ({"/etc/evil": "x"}, {}, "/etc/evil"),
        ({"python/../../evil": "x"}, {}, "python/../../evil"),
        ({}, {"python/out": "/etc"}, "python/out"),
        ({}, {"python/out": "../../.."}, "python/out"),
        # Each link alone stays inside; together `a` leads out ("b" is ".").
        ({}, {"b": ".", "a": "b/../z"}, "'a'"),
        # A link made through another link would be made outside.
        ({}, {"d": "..", "d/x": "y"}, "d/x"),
        ({"d/f": "x"}, {"d": "e"}, "'d'"),
    ],
)
def test_unpack_refuses_what_leads_outside(
    tmp_path: Path, files: dict[str, str], links: dict[str, str], named: str
) -> None:
    archive = tmp_path / "layer.zip"
    archive.write_bytes(zip_of(files, links))
    into = tmp_path / "cache" / "staging"
    into.mkdir(parents=True)
    with pytest.raises(UsageError) as caught:
        remote_layers.unpack(archive, into, what="layer L")
    assert named in str(caught.value) and caught.value.exit_code == 2
    assert sorted(os.listdir(tmp_path / "cache")) == ["staging"]
    assert not (tmp_path / "evil").exists() and not (tmp_path / "cache" / "x").exists()


def test_unpack_of_a_damaged_zip_is_one_line(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(LAYER_INIT, "VALUE = 'intact'\n")
    data = buffer.getvalue().replace(b"intact", b"broken")  # the CRC no longer matches
    (tmp_path / "layer.zip").write_bytes(data)
    into = tmp_path / "out"
    into.mkdir()
    with pytest.raises(UsageError, match="its zip is damaged") as caught:
        remote_layers.unpack(tmp_path / "layer.zip", into, what="layer L")
    assert "\n" not in str(caught.value) and caught.value.exit_code == 2


def test_unpack_keeps_modes_and_links_inside(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        tool = zipfile.ZipInfo("bin/tool")
        tool.external_attr = (stat.S_IFREG | 0o755) << 16
        archive.writestr(tool, "#!/bin/sh\n")
        archive.writestr("lib/libx.so.1", "elf")
        link = zipfile.ZipInfo("lib/libx.so")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "libx.so.1")
    (tmp_path / "layer.zip").write_bytes(buffer.getvalue())
    into = tmp_path / "out"
    into.mkdir()
    remote_layers.unpack(tmp_path / "layer.zip", into, what="layer L")
    assert os.stat(into / "bin" / "tool").st_mode & 0o777 == 0o755
    assert os.readlink(into / "lib" / "libx.so") == "libx.so.1"
    assert (into / "lib" / "libx.so").read_text() == "elf"


def test_cache_dir_is_sams() -> None:
    home = Path.home()
    assert remote_layers.cache_dir({}) == home / ".aws-sam" / "layers-pkg"
    assert remote_layers.cache_dir({"__SAM_CLI_APP_DIR": "/x"}) == Path("/x/layers-pkg")
    assert remote_layers.cache_dir({"SAM_LAYER_CACHE_BASEDIR": "/c"}) == Path("/c")
    arn = "arn:aws:lambda:eu-west-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python312:7"
    assert remote_layers.parse_arn(arn).folder_name == sam_name(arn)
    assert remote_layers.parse_arn(arn).region == "eu-west-1"
    with pytest.raises(UsageError, match="neither in this template nor a layer version ARN"):
        remote_layers.parse_arn("arn:aws:lambda:eu-west-1:1:layer:name")
