"""`samlink doctor`: each check from a machine or project that has the problem, absent (ok) from
one that does not. Real tools on a PATH built for each test; the output validates against the
schema in docs/."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import jsonschema
import pytest

from conftest import BIN, FIXTURES, ROOT, copy_example, copy_lib, run, sam_build
from samlink.audit.doctor import engine_shares, mask

SAMLINK = BIN / "samlink"
PROJECT = FIXTURES / "check" / "project"
SCHEMA = json.loads((ROOT / "docs" / "schemas" / "doctor.schema.json").read_text())


def doctor(project: Path, env: dict[str, str]) -> tuple[int, list[dict[str, str]]]:
    done = run([SAMLINK, "doctor", "--json"], project, env, check=False)
    assert done.returncode in (0, 1), done.stderr
    report = json.loads(done.stdout)
    jsonschema.validate(report, SCHEMA)
    assert report["ok"] == (done.returncode == 0)
    return done.returncode, report["checks"]


def results(checks: list[dict[str, str]], name: str) -> list[tuple[str, str | None]]:
    return [(c["status"], c["subject"]) for c in checks if c["check"] == name]


def only(checks: list[dict[str, str]], name: str) -> dict[str, str]:
    (found,) = [c for c in checks if c["check"] == name]
    return found


def tools(tmp: Path, env: dict[str, str], *names: str) -> str:
    """A PATH that holds exactly these tools (links to the real ones)."""
    folder = tmp / "bin"
    folder.mkdir(exist_ok=True)
    for name in names:
        found = shutil.which(name, path=env["PATH"])
        assert found, name
        (folder / name).symlink_to(found)
    return str(folder)


@pytest.fixture
def project(tmp_path: Path, tool_env: dict[str, str]) -> Path:
    dest = tmp_path / "project"
    shutil.copytree(PROJECT, dest)
    run([SAMLINK, "init"], dest, tool_env)
    return dest


def test_a_set_up_project_on_a_good_machine(project: Path, tool_env: dict[str, str]) -> None:
    status, checks = doctor(project, tool_env)
    assert status == 0
    for name in ("make", "sam-cli", "template", "init", "samconfig", "uv", "pip", "isolation"):
        assert results(checks, name)[0][0] == "ok", only(checks, name)
    assert "managed: Api, Arm, Deps" in only(checks, "template")["message"]
    assert results(checks, "python") == [("ok", "python3.11"), ("ok", "python3.12")]
    assert results(checks, "build") == [("ok", "Api"), ("ok", "Arm"), ("ok", "Deps")]
    for absent in ("use-container", "pythonpath", "link", "link-conflict"):
        assert results(checks, absent) == []
    # One line per check; warn and fail lines carry their fix.
    human = run([SAMLINK, "doctor"], project, tool_env)
    lines = human.stdout.splitlines()
    assert len(lines) == len(checks)
    assert all(line.split()[0] in ("ok", "warn", "fail") for line in lines)
    assert all("fix:" in line for line in lines if not line.startswith("ok"))


def test_make_and_sam_missing(project: Path, tool_env: dict[str, str], tmp_path: Path) -> None:
    env = {**tool_env, "PATH": tools(tmp_path, tool_env, "unshare")}
    status, checks = doctor(project, env)
    assert status == 1
    assert only(checks, "make")["status"] == "fail"
    assert only(checks, "sam-cli")["status"] == "fail"
    assert "aws-sam-cli" in only(checks, "sam-cli")["fix"]


def test_sam_without_mount_symlinks(
    project: Path, tool_env: dict[str, str], tmp_path: Path
) -> None:
    # A stub for an old SAM CLI (installing 1.133 here takes minutes): it only says its version.
    path = tools(tmp_path, tool_env, "make", "unshare")
    stub = Path(path) / "sam"
    stub.write_text("#!/bin/sh\necho 'SAM CLI, version 1.120.0'\n")
    stub.chmod(0o755)
    _, checks = doctor(project, {**tool_env, "PATH": path})
    sam = only(checks, "sam-cli")
    assert sam["status"] == "warn" and "1.120.0" in sam["message"]
    assert "--mount-symlinks" in sam["message"]


def test_no_container_engine_and_no_namespace(
    project: Path, tool_env: dict[str, str], tmp_path: Path
) -> None:
    # No engine on this machine; without `unshare` there is no namespace either.
    env = {**tool_env, "PATH": tools(tmp_path, tool_env, "make", "sam")}
    _, checks = doctor(project, env)
    assert only(checks, "isolation")["status"] == "warn"
    _, checks = doctor(project, tool_env)
    isolation = only(checks, "isolation")
    assert isolation["status"] == "ok" and "unshare" in isolation["message"]


def test_samconfig_mount_symlinks_and_use_container(
    project: Path, tool_env: dict[str, str]
) -> None:
    config = project / "samconfig.toml"
    config.write_text(
        "version = 0.1\n\n[default.build.parameters]\nuse_container = true\n"
        "\n[prod.sync.parameters]\nuse_container = true\n"
    )
    _, checks = doctor(project, tool_env)
    assert only(checks, "samconfig")["status"] == "warn"
    assert results(checks, "use-container") == [
        ("warn", "default.build.parameters"),
        ("warn", "prod.sync.parameters"),
    ]
    config.unlink()
    _, checks = doctor(project, tool_env)
    assert only(checks, "samconfig")["status"] == "warn"
    assert "no SAM config" in only(checks, "samconfig")["message"]


def test_pythonpath_in_a_function(project: Path, tool_env: dict[str, str]) -> None:
    template = project / "template.yaml"
    text = template.read_text().replace(
        "      Runtime: python3.11\n",
        "      Runtime: python3.11\n      Environment:\n        Variables:\n"
        "          PYTHONPATH: /var/task/vendor\n",
    )
    template.write_text(text)
    _, checks = doctor(project, tool_env)
    assert results(checks, "pythonpath") == [("warn", "Api")]


def test_no_python_for_a_runtime(project: Path, tool_env: dict[str, str], tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {
        **tool_env,
        "PATH": tools(tmp_path, tool_env, "make", "sam", "unshare"),
        "PYENV_ROOT": str(empty),
        "UV_PYTHON_INSTALL_DIR": str(empty),
    }
    _, checks = doctor(project, env)
    assert results(checks, "python") == [("warn", "python3.11"), ("warn", "python3.12")]
    fixes = {c["fix"] for c in checks if c["check"] == "python"}
    assert fixes == {"uv python install 3.11", "uv python install 3.12"}


def test_links_resolve_import_and_fit_the_pins(
    project: Path, tool_env: dict[str, str], tmp_path: Path
) -> None:
    checkout = copy_lib("st_src", tmp_path)  # acme-st-src, which requires six>=1.16
    requirements = project / "api" / "requirements.txt"
    requirements.write_text("six==1.17.0\nacme-st-src==1.0.0\n")
    run([SAMLINK, "link", checkout], project, tool_env)
    _, checks = doctor(project, tool_env)
    link = only(checks, "link")
    assert link["status"] == "ok" and link["subject"] == "acme-st-src"
    assert "imports acme_st_src; reaches Api" in link["message"]
    assert results(checks, "link-conflict") == []

    requirements.write_text("six==1.15.0\nacme-st-src==1.0.0\n")
    status, checks = doctor(project, tool_env)
    assert status == 1
    conflict = only(checks, "link-conflict")
    assert conflict["status"] == "fail"
    assert (
        "requires six>=1.16, but Api pins six==1.15.0 (api/requirements.txt:1)"
        in (conflict["message"])
    )

    requirements.write_text("six==1.17.0\nacme-st-src==1.0.0\n")
    shutil.rmtree(checkout / "src" / "acme_st_src")
    status, checks = doctor(project, tool_env)
    assert status == 1 and only(checks, "link")["status"] == "fail"

    shutil.rmtree(checkout)
    status, checks = doctor(project, tool_env)
    assert status == 1
    gone = only(checks, "link")
    assert gone["status"] == "fail" and "samlink unlink acme-st-src" in gone["fix"]


def test_stale_build(project: Path, tool_env: dict[str, str]) -> None:
    out = project / ".aws-sam" / "build" / "Arm"
    run([SAMLINK, "build", "Arm"], project, {**tool_env, "ARTIFACTS_DIR": str(out)})
    _, checks = doctor(project, tool_env)
    assert ("ok", "Arm") in results(checks, "build")
    assert "build is current" in next(c["message"] for c in checks if c["subject"] == "Arm")
    requirements = project / "arm" / "requirements.txt"
    requirements.write_text("six==1.16.0\n")
    stat = requirements.stat()
    os.utime(requirements, (stat.st_atime, stat.st_mtime + 5))
    _, checks = doctor(project, tool_env)
    assert ("warn", "Arm") in results(checks, "build")


@pytest.mark.sam
def test_a_template_edit_makes_the_build_stale(tmp_path: Path, tool_env: dict[str, str]) -> None:
    project = copy_example(tmp_path / "hello", tool_env)
    run([SAMLINK, "init"], project, tool_env)
    sam_build(project, tool_env)
    status = json.loads(run([SAMLINK, "status", "--json"], project, tool_env).stdout)
    (fn,) = [r for r in status["resources"] if r["id"] == "HelloWorldFunction"]
    assert fn["built"] and fn["stale"] == []
    template = project / "template.yaml"
    text = template.read_text()
    text = text.replace("Handler: app.lambda_handler", "Handler: app.other")
    text = text.replace("Runtime: python3.12", "Runtime: python3.11")
    text = text.replace("- x86_64", "- arm64")
    template.write_text(text)
    status = json.loads(run([SAMLINK, "status", "--json"], project, tool_env).stdout)
    (fn,) = [r for r in status["resources"] if r["id"] == "HelloWorldFunction"]
    assert "Runtime changed since the build (python3.12 -> python3.11)" in fn["stale"]
    assert "Architectures changed since the build (x86_64 -> arm64)" in fn["stale"]
    assert "Handler changed since the build (app.lambda_handler -> app.other)" in fn["stale"]
    assert "Handler changed" in run([SAMLINK, "status"], project, tool_env).stdout
    _, checks = doctor(project, tool_env)
    (build,) = [c for c in checks if c["check"] == "build" and c["subject"] == "HelloWorldFunction"]
    assert build["status"] == "warn" and "Runtime changed since the build" in build["message"]


def test_makefile_drift_and_a_broken_template(project: Path, tool_env: dict[str, str]) -> None:
    (project / "arm" / "Makefile").unlink()
    _, checks = doctor(project, tool_env)
    init = only(checks, "init")
    assert init["status"] == "warn" and init["message"].startswith("arm/Makefile:")
    (project / "template.yaml").write_text("Resources: [\n")
    status, checks = doctor(project, tool_env)
    assert status == 1 and only(checks, "template")["status"] == "fail"


def test_indexes_hide_credentials(project: Path, tool_env: dict[str, str]) -> None:
    env = {
        **tool_env,
        "PIP_INDEX_URL": "https://aws:s3cr3t-token@example.invalid/simple",
        "PIP_EXTRA_INDEX_URL": "file:///nonexistent/simple",
    }
    _, checks = doctor(project, env)
    (message,) = [c["message"] for c in checks if c["check"] == "indexes" and c["status"] == "ok"]
    assert "index https://***@example.invalid/simple" in message
    assert "s3cr3t" not in json.dumps(checks)
    assert "skipped (missing, as pip does): file:///nonexistent/simple" in message
    assert mask("https://user:pw@host/x") == "https://***@host/x"


def test_engine_shared_folders() -> None:
    # No container engine runs here: these are `docker info --format json` fields as Docker
    # Desktop, Colima, OrbStack and a native Linux engine report them.
    home = Path("/Users/dev")
    desktop = {"OperatingSystem": "Docker Desktop", "ClientInfo": {"Context": "desktop-linux"}}
    assert engine_shares(desktop, home, "darwin") == [
        Path(p) for p in ("/Users", "/Volumes", "/private", "/tmp", "/var/folders")
    ]
    assert engine_shares(desktop, Path("/home/dev"), "linux") == [Path("/home/dev")]
    colima = {"OperatingSystem": "Ubuntu 24.04 LTS", "Name": "colima"}
    assert engine_shares(colima, home, "darwin") == [home, Path("/tmp/colima")]
    assert engine_shares({"OperatingSystem": "OrbStack"}, home, "darwin") is None
    native = {"OperatingSystem": "Ubuntu 22.04.4 LTS", "Name": "ci-runner"}
    assert engine_shares(native, Path("/home/dev"), "linux") is None


def test_schema_names_every_check() -> None:
    import re

    import samlink.audit.doctor as module

    source = Path(module.__file__).read_text()
    used = set(re.findall(r'Diagnosis\(\s*"([a-z-]+)"', source))
    assert used == set(SCHEMA["$defs"]["check"]["properties"]["check"]["enum"])
