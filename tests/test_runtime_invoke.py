"""`invoke` end to end: real awslambdaric, interpreters and mount namespaces; hand-made builds.

Build dirs are laid out by hand as `samlink build` lays them out: real third-party files, top-level
links to live sources, a relative `.pth` for a namespace package, layers with `python/`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

import samlink
from samlink.errors import BuildError, UsageError
from samlink.runtime import InvokeSpec, invoke
from samlink.runtime.python import ensure_runtime_dir, probe

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux sandbox")

APP = """
import json, logging, os, sys, time

import acme.util
import greet
import thirdparty

def lambda_handler(event, context):
    print("handler got", json.dumps(event))
    import layermod, onlyl1, layerlinked
    return {
        "event": event,
        "greet": greet.VALUE,
        "greet_file": greet.__file__,
        "acme": acme.util.VALUE,
        "acme_file": acme.util.__file__,
        "thirdparty": thirdparty.VALUE,
        "layermod": layermod.VALUE,
        "layermod_file": layermod.__file__,
        "onlyl1": onlyl1.VALUE,
        "layerlinked_file": layerlinked.__file__,
        "cwd": os.getcwd(),
        "path_head": sys.path[:5],
        "version": list(sys.version_info[:2]),
        "function_name": context.function_name,
        "memory_limit": context.memory_limit_in_mb,
        "request_id": context.aws_request_id,
        "remaining_ms_positive": context.get_remaining_time_in_millis() > 0,
    }

def env(event, context):
    return {name: os.environ.get(name) for name in event["names"]}

def boom(event, context):
    raise ValueError("boom: " + event.get("why", ""))

def sleepy(event, context):
    time.sleep(60)

def leak(event, context):
    try:
        import leaked
    except ImportError as exc:
        return {"leaked": False, "error": str(exc)}
    return {"leaked": True, "file": leaked.__file__}

def exits(event, context):
    os._exit(3)

def chatty(event, context):
    print("to stdout")
    print("to stderr", file=sys.stderr)
    logging.getLogger().warning("a warning")
    return "done"

def write_task(event, context):
    try:
        open(os.path.join(os.environ["LAMBDA_TASK_ROOT"], "greet", "new.txt"), "w").write("x")
    except OSError as exc:
        return {"written": False, "errno": exc.errno}
    return {"written": True}

def version(event, context):
    return list(sys.version_info[:2])

def tmp(event, context):
    return sorted(os.listdir("/tmp"))
"""


@dataclass(frozen=True)
class Project:
    root: Path
    sources: Path
    build: Path
    layers: tuple[Path, ...]
    leak: Path

    def spec(self, handler: str = "app.lambda_handler", **changes: object) -> InvokeSpec:
        spec = InvokeSpec(
            function_name="HelloFunction",
            code_dir=self.build,
            layer_dirs=self.layers,
            handler=handler,
            runtime="python3.12",
            architecture=_host_arch(),
            environment={"GREETING": "hi there", "EMPTY": ""},
            timeout=10,
            memory_size=256,
            region="eu-west-1",
        )
        return replace(spec, **changes)  # type: ignore[arg-type]


def _host_arch() -> str:
    import platform

    return "arm64" if platform.machine().lower() in ("aarch64", "arm64") else "x86_64"


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def make_project(root: Path) -> Project:
    src = root / "src"
    _write(src / "func" / "app.py", APP)
    _write(src / "greet" / "src" / "greet" / "__init__.py", 'VALUE = "v1"\n')
    # A namespace package (acme.util): no acme/__init__.py.
    _write(src / "nslib" / "src" / "acme" / "util" / "__init__.py", 'VALUE = "ns"\n')
    _write(src / "layerpkg" / "layerlinked" / "__init__.py", 'VALUE = "linked into a layer"\n')
    # The folder an editable install's .pth would name: the linked project's source root.
    leak = src / "greet" / "src"
    _write(leak / "leaked.py", "VALUE = 1\n")

    build = root / "project" / ".aws-sam" / "build" / "HelloFunction"
    build.mkdir(parents=True)
    (build / "app.py").symlink_to(src / "func" / "app.py")
    (build / "greet").symlink_to(src / "greet" / "src" / "greet")
    (build / "_samlink_nslib").symlink_to(src / "nslib" / "src")
    _write(build / "_samlink_nslib.pth", "_samlink_nslib\n")
    _write(build / "thirdparty.py", 'VALUE = "third"\n')

    layer1 = root / "project" / ".aws-sam" / "build" / "LibLayer"
    _write(layer1 / "python" / "layermod.py", 'VALUE = "L1"\n')
    _write(layer1 / "python" / "onlyl1.py", 'VALUE = "only in L1"\n')
    (layer1 / "python" / "layerlinked").symlink_to(src / "layerpkg" / "layerlinked")
    layer2 = root / "project" / ".aws-sam" / "build" / "OverrideLayer"
    _write(layer2 / "python" / "layermod.py", 'VALUE = "L2"\n')
    return Project(root, src, build, (layer1, layer2), leak)


@pytest.fixture(scope="session")
def runtime_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("samlink-cache")


@pytest.fixture(autouse=True)
def _private_cache(runtime_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAMLINK_CACHE_DIR", str(runtime_cache))
    monkeypatch.delenv("SAMLINK_SANDBOX", raising=False)


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return make_project(tmp_path)


@pytest.fixture(params=["/tmp", "/var/tmp", "/dev/shm"])
def anywhere(request: pytest.FixtureRequest) -> Iterator[Project]:
    """A project under /tmp (hidden by the sandbox's fresh /tmp), under /var (hidden by the tmpfs
    over /var, so the build is held open before), or elsewhere (hidden folder by folder)."""
    base = Path(request.param)
    if not (base.is_dir() and os.access(base, os.W_OK)):
        pytest.skip(f"{base} is not writable here")
    root = Path(tempfile.mkdtemp(prefix="samlink-test-", dir=base))
    try:
        yield make_project(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run(spec: InvokeSpec, event: object = None, isolation: str = "namespace") -> tuple[int, object]:
    result = invoke(spec, json.dumps(event or {}).encode(), isolation=isolation)
    return result.exit_code, json.loads(result.payload)


def snapshot(folder: Path) -> dict[str, tuple[bool, str]]:
    """Every entry of a tree (links not followed): link target or size and mtime."""
    found = {}
    for path in sorted(folder.rglob("*")):
        if path.is_symlink():
            found[str(path.relative_to(folder))] = (True, os.readlink(path))
        else:
            stat = path.lstat()
            found[str(path.relative_to(folder))] = (False, f"{stat.st_size}:{stat.st_mtime_ns}")
    return found


def test_handler_result_on_stdout_logs_on_stderr(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    code, payload = run(project.spec(), {"hello": "world"})
    assert code == 0
    assert isinstance(payload, dict)
    assert payload["event"] == {"hello": "world"}
    assert payload["greet"] == "v1"
    # The function sees only Lambda's paths: links resolved at their names under /var/task.
    assert payload["greet_file"] == "/var/task/greet/__init__.py"
    assert payload["thirdparty"] == "third"
    assert payload["cwd"] == "/var/task"
    assert payload["path_head"] == [
        "/var/task",
        "/opt/python/lib/python3.12/site-packages",
        "/opt/python",
        "/var/runtime",
        payload["path_head"][4],
    ]
    assert payload["version"] == [3, 12]
    assert payload["function_name"] == "HelloFunction"
    assert payload["memory_limit"] == "256"
    assert payload["remaining_ms_positive"] is True
    err = capsys.readouterr().err
    request_id = payload["request_id"]
    assert f"START RequestId: {request_id} Version: $LATEST" in err
    assert 'handler got {"hello": "world"}' in err
    assert f"END RequestId: {request_id}" in err
    report = re.search(rf"REPORT RequestId: {request_id}\t(.*)", err)
    assert report is not None
    assert re.fullmatch(
        r"Duration: \d+\.\d\d ms\tBilled Duration: \d+ ms\tMemory Size: 256 MB\t"
        r"Max Memory Used: \d+ MB\tInit Duration: \d+\.\d\d ms\t",
        report.group(1),
    ), report.group(1)


def test_layout_is_the_same_wherever_the_project_lives(anywhere: Project) -> None:
    code, payload = run(anywhere.spec())
    assert code == 0
    assert isinstance(payload, dict)
    assert (payload["greet_file"], payload["acme"], payload["layermod"], payload["onlyl1"]) == (
        "/var/task/greet/__init__.py", "ns", "L2", "only in L1",
    )  # fmt: skip


def test_edit_linked_source_is_live_and_build_dir_untouched(project: Project) -> None:
    before = snapshot(project.build)
    sources_before = snapshot(project.sources)
    assert run(project.spec())[1]["greet"] == "v1"  # type: ignore[index]
    (project.sources / "greet" / "src" / "greet" / "__init__.py").write_text('VALUE = "v2"\n')
    assert run(project.spec())[1]["greet"] == "v2"  # type: ignore[index]
    assert snapshot(project.build) == before
    # Nothing written into the live sources either (no __pycache__).
    after = snapshot(project.sources)
    assert set(after) == set(sources_before)


def test_exception_gives_lambda_error_shape(project: Project) -> None:
    code, payload = run(project.spec("app.boom"), {"why": "bad input"})
    assert code == 1
    assert isinstance(payload, dict)
    assert payload["errorType"] == "ValueError"
    assert payload["errorMessage"] == "boom: bad input"
    assert isinstance(payload["stackTrace"], list)
    assert any("raise ValueError" in line for line in payload["stackTrace"])
    assert re.fullmatch(r"[0-9a-f-]{36}", payload["requestId"])


def test_timeout_is_reported_like_lambda(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    code, payload = run(project.spec("app.sleepy", timeout=1))
    assert code == 1
    assert isinstance(payload, dict)
    assert set(payload) == {"errorMessage"}
    match = re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ ([0-9a-f-]{36}) Task timed out after 1\.00 seconds",
        payload["errorMessage"],
    )
    assert match, payload
    err = capsys.readouterr().err
    assert payload["errorMessage"] in err
    assert f"END RequestId: {match.group(1)}" in err
    assert "Status: timeout" in err


def test_import_error_is_an_init_error(project: Project) -> None:
    code, payload = run(project.spec("missing_module.handler"))
    assert code == 1
    assert isinstance(payload, dict)
    assert payload["errorType"] == "Runtime.ImportModuleError"
    assert payload["errorMessage"].startswith("Unable to import module 'missing_module'")


def test_runtime_exit_is_reported(project: Project) -> None:
    code, payload = run(project.spec("app.exits"))
    assert code == 1
    assert isinstance(payload, dict)
    assert payload["errorType"] == "Runtime.ExitError"
    assert payload["errorMessage"].endswith("Error: Runtime exited with error: exit status 3")


def test_function_output_goes_to_stderr(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    result = invoke(project.spec("app.chatty"), b"{}", isolation="namespace")
    assert (result.exit_code, json.loads(result.payload)) == (0, "done")
    out, err = capsys.readouterr()
    assert out == ""
    assert "to stdout" in err
    assert "to stderr" in err
    assert "a warning" in err


def test_environment_reaches_the_handler_and_nothing_else_leaks(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SAMLINK_TEST_HOST_ONLY", "must not leak")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    names = [
        "GREETING", "EMPTY", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_FUNCTION_TIMEOUT", "AWS_REGION",
        "AWS_DEFAULT_REGION", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR", "_HANDLER",
        "AWS_SAM_LOCAL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_EXECUTION_ENV",
        "SAMLINK_TEST_HOST_ONLY", "HOME", "VIRTUAL_ENV", "LD_LIBRARY_PATH",
    ]  # fmt: skip
    code, payload = run(project.spec("app.env"), {"names": names})
    assert code == 0
    assert payload == {
        "GREETING": "hi there",
        "EMPTY": "",
        "AWS_LAMBDA_FUNCTION_NAME": "HelloFunction",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_TIMEOUT": "10",
        "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "LAMBDA_TASK_ROOT": "/var/task",
        "LAMBDA_RUNTIME_DIR": "/var/runtime",
        "_HANDLER": "app.env",
        "AWS_SAM_LOCAL": "true",
        "AWS_ACCESS_KEY_ID": "defaultkey",
        "AWS_SECRET_ACCESS_KEY": "defaultsecret",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
        "SAMLINK_TEST_HOST_ONLY": None,
        "HOME": None,
        "VIRTUAL_ENV": None,
        "LD_LIBRARY_PATH": "/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:"
        "/var/task/lib:/opt/lib",
    }


def test_credentials_from_the_shell_are_passed(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "token")
    names = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"]
    assert run(project.spec("app.env"), {"names": names})[1] == {
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "AWS_SESSION_TOKEN": "token",
    }


def test_layers_merge_at_opt_later_wins_links_resolved(project: Project) -> None:
    code, payload = run(project.spec())
    assert code == 0
    assert isinstance(payload, dict)
    assert payload["layermod"] == "L2"
    assert payload["layermod_file"] == "/opt/python/layermod.py"
    assert payload["onlyl1"] == "only in L1"
    assert payload["layerlinked_file"] == "/opt/python/layerlinked/__init__.py"


def test_namespace_package_link_imports_under_var_task(project: Project) -> None:
    payload = run(project.spec())[1]
    assert isinstance(payload, dict)
    assert payload["acme"] == "ns"
    assert payload["acme_file"] == "/var/task/_samlink_nslib/acme/util/__init__.py"


def test_absolute_pth_works_on_host_but_fails_in_sandbox(anywhere: Project) -> None:
    # What an editable install leaves behind: a .pth naming a host path. Lambda has no such path.
    project = anywhere
    _write(project.build / "__editable__.leak.pth", f"{project.leak}\n")
    code, payload = run(project.spec("app.leak"), isolation="host")
    assert (code, payload) == (0, {"leaked": True, "file": str(project.leak / "leaked.py")})
    code, payload = run(project.spec("app.leak"), isolation="namespace")
    assert code == 0
    assert isinstance(payload, dict)
    assert payload["leaked"] is False
    assert "No module named 'leaked'" in payload["error"]


def test_task_root_is_read_only_and_tmp_is_fresh(project: Project) -> None:
    code, payload = run(project.spec("app.write_task"))
    assert (code, payload) == (0, {"written": False, "errno": 30})  # EROFS
    assert not (project.sources / "greet" / "src" / "greet" / "new.txt").exists()
    assert run(project.spec("app.tmp"))[1] == []


def test_host_fallback_gives_the_same_answers(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    same = ("event", "greet", "acme", "thirdparty", "layermod", "onlyl1", "version")
    answers = {}
    for mode in ("namespace", "host"):
        code, payload = run(project.spec(), {"n": 1}, isolation=mode)
        assert code == 0
        assert isinstance(payload, dict)
        answers[mode] = {key: payload[key] for key in same}
        assert payload["path_head"][0] == (
            "/var/task" if mode == "namespace" else os.path.realpath(project.build)
        )
    assert answers["namespace"] == answers["host"]
    errors = {}
    for mode in ("namespace", "host"):
        code, payload = run(project.spec("app.boom"), {"why": "x"}, isolation=mode)
        assert code == 1
        assert isinstance(payload, dict)
        errors[mode] = (payload["errorType"], payload["errorMessage"])
    assert errors["namespace"] == errors["host"] == ("ValueError", "boom: x")
    capsys.readouterr()


def test_sandbox_env_switch_forces_host(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAMLINK_SANDBOX", "host")
    payload = run(project.spec(), isolation="auto")[1]
    assert isinstance(payload, dict)
    assert payload["cwd"] == os.path.realpath(project.build)
    monkeypatch.setenv("SAMLINK_SANDBOX", "chroot")
    with pytest.raises(UsageError, match="unknown sandbox mode"):
        run(project.spec(), isolation="auto")


def test_other_python_versions_use_their_own_interpreter(project: Project) -> None:
    from samlink.runtime.python import cache_root, find_interpreter

    if find_interpreter((3, 9)) is None:
        pytest.skip("no Python 3.9 on this machine")
    code, payload = run(project.spec("app.version", runtime="python3.9"))
    assert (code, payload) == (0, [3, 9])
    recorded = json.loads((cache_root() / "runtime" / "3.9" / "samlink-runtime.json").read_text())
    # awslambdaric 4.1+ has no cp39 wheels: uv picked an older release that has one.
    major, minor = (int(part) for part in recorded["packages"]["awslambdaric"].split(".")[:2])
    assert (major, minor) < (4, 1)


def test_cross_architecture_refused_only_with_compiled_code(project: Project) -> None:
    other = "x86_64" if _host_arch() == "arm64" else "arm64"
    assert run(project.spec(architecture=other))[0] == 0  # pure Python runs anywhere
    _write(project.build / "native" / "_speedups.cpython-312-x86_64-linux-gnu.so", "")
    with pytest.raises(UsageError, match=f"this function is {other}") as info:
        run(project.spec(architecture=other))
    assert "_speedups" in str(info.value)


def test_cross_architecture_without_compiled_code_says_so_once(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 15: an arm64 build on an x86_64 host (or the other way) runs, but not silently."""
    host = _host_arch()
    other = "x86_64" if host == "arm64" else "arm64"
    assert run(project.spec(architecture=other))[0] == 0
    said = [line for line in capsys.readouterr().err.splitlines() if "this machine is" in line]
    assert said == [
        f"samlink: this function is {other}, this machine is {host}: it runs here on {host} "
        "(its build holds no compiled code); only --docker runs it as Lambda would"
    ]
    assert run(project.spec(architecture=host))[0] == 0
    assert "this machine is" not in capsys.readouterr().err


def test_not_built_is_a_usage_error(project: Project) -> None:
    with pytest.raises(UsageError, match="is not built"):
        run(project.spec(code_dir=project.root / "nope"))
    with pytest.raises(UsageError, match="runs Python functions"):
        run(project.spec(runtime="nodejs20.x"))


@pytest.fixture
def world_readable_tmp() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="samlink-userns-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_unprivileged_user_gets_the_same_sandbox(
    world_readable_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As a plain user, the sandbox comes from a user namespace (`unshare -Urm`'s way)."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root to switch to an unprivileged user with setpriv")
    version = sys.version_info[:2]
    system_python = Path(f"/usr/bin/python{version[0]}.{version[1]}")
    found = probe(system_python) if system_python.exists() else None
    if found is None:
        pytest.skip(f"no world-readable {system_python} matching this venv's Python")
    check = subprocess.run(
        [
            "setpriv",
            "--reuid",
            "65534",
            "--regid",
            "65534",
            "--clear-groups",
            "unshare",
            "-Urm",
            "true",
        ],
        capture_output=True,
    )
    if check.returncode != 0:
        pytest.skip("user namespaces are not allowed here")
    root = world_readable_tmp
    project = make_project(root)
    cache = root / "cache"
    monkeypatch.setenv("SAMLINK_CACHE_DIR", str(cache))
    ensure_runtime_dir(found)
    subprocess.run(["chmod", "-R", "a+rX", str(root)], check=True)
    tag = f"python{version[0]}.{version[1]}"
    code = f"""
import json, sys
from pathlib import Path
from samlink.runtime.invoke import InvokeSpec, invoke
spec = InvokeSpec("Fn", Path({str(project.build)!r}), (), "app.env", {tag!r}, {_host_arch()!r},
                  {{}}, 10, 128)
result = invoke(spec, json.dumps({{"names": ["LAMBDA_TASK_ROOT"]}}).encode(),
                isolation="namespace")
print(result.exit_code, result.payload.decode())
"""
    src = Path(samlink.__file__).resolve().parent.parent
    purelib = sysconfig.get_paths()["purelib"]
    env = {
        "PATH": f"{system_python.parent}:/usr/bin:/bin",
        "PYTHONPATH": f"{src}:{purelib}",
        "HOME": str(root),
        "SAMLINK_CACHE_DIR": str(cache),
    }
    result = subprocess.run(
        ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups",
         str(system_python), "-c", code],
        capture_output=True, text=True, env=env, cwd=root, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == '0 {"LAMBDA_TASK_ROOT": "/var/task"}', result.stderr


def test_no_namespace_falls_back_to_host_paths_and_says_so(
    project: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A stand-in for a Python built without ctypes (the sandbox's syscalls need it): a ctypes
    # module on the function's PYTHONPATH that refuses to import.
    fake = _write(tmp_path / "no-ctypes" / "ctypes.py", "raise ImportError('no _ctypes here')\n")
    spec = project.spec("app.env", environment={"PYTHONPATH": str(fake.parent)})
    code, payload = run(spec, {"names": ["LAMBDA_TASK_ROOT", "LD_LIBRARY_PATH"]}, isolation="auto")
    build = os.path.realpath(project.build)
    assert code == 0
    assert isinstance(payload, dict)
    assert payload["LAMBDA_TASK_ROOT"] == build
    assert f"{build}/lib" in payload["LD_LIBRARY_PATH"].split(":")
    err = capsys.readouterr().err
    assert "no mount namespace here (this Python has no ctypes" in err
    assert (
        f"running the function at host paths with Lambda's import rules: task root {build}" in err
    )
    with pytest.raises(BuildError, match="no mount namespace can be made here"):
        run(spec, {"names": []}, isolation="namespace")


def test_a_failed_mount_is_a_build_error(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    from samlink.runtime import sandbox

    # A source that vanishes between planning and mounting cannot be produced on purpose: add
    # one to the real plan.
    real_ops = sandbox.layout_ops

    def with_missing_source(layout: sandbox.Layout) -> list[dict[str, object]]:
        ops = real_ops(layout)
        missing = {"op": "bind", "src": str(project.root / "vanished"), "dst": "/var/task/x",
                   "dir": True, "early": False}  # fmt: skip
        return [*ops[:4], missing, *ops[4:]]

    monkeypatch.setattr(sandbox, "layout_ops", with_missing_source)
    with pytest.raises(BuildError, match="could not assemble /var/task and /opt"):
        run(project.spec())
