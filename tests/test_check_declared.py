"""`samlink check` proves a release build holds what its function declares (issue 13).

requirements.txt functions: every pin that applies to the target, at its version. Functions
that declare their libraries in pyproject.toml with a uv lock: every locked distribution for the
target, each local source's code and version, no dev-group distribution, and a declaration that
cannot be read (no lock) or a stale lock is a failure, never a pass. Real `uv lock`, real `uv pip
install`, real `sam build`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from conftest import BIN, ROOT, run, sam_build
from declared_projects import UV, locked_version, uv_workspace

SAMLINK = BIN / "samlink"
SCHEMA = json.loads((ROOT / "docs" / "schemas" / "check.schema.json").read_text())


def check(where: Path, env: dict[str, str], *args: str) -> tuple[int, dict[str, object]]:
    """`samlink check --json` run in `where`, validated against the documented schema."""
    done = run([SAMLINK, "check", "--json", *args], where, env, check=False)
    assert done.returncode in (0, 1), done.stderr
    report = json.loads(done.stdout)
    jsonschema.validate(report, SCHEMA)
    return done.returncode, report


def codes(report: dict[str, object]) -> dict[str, list[dict[str, object]]]:
    found: dict[str, list[dict[str, object]]] = {}
    for finding in report["findings"]:  # type: ignore[attr-defined]
        found.setdefault(finding["code"], []).append(finding)
    return found


def uv_install(dest: Path, *args: str | Path) -> None:
    """What a release holds, installed by uv itself for python3.12 x86_64."""
    subprocess.run(
        [
            str(UV),
            "pip",
            "install",
            "--target",
            str(dest),
            "--python",
            sys.executable,
            "--python-version",
            "3.12",
            "--python-platform",
            "x86_64-manylinux_2_34",
            "--no-deps",
            "--no-sources",
            "--no-progress",
            *[str(a) for a in args],
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory, tool_env: dict[str, str]) -> Path:
    return uv_workspace(tmp_path_factory.mktemp("declared"), tool_env)


def test_a_requirements_release_build_must_hold_a_pin_added_after_it(
    tmp_path: Path, tool_env: dict[str, str]
) -> None:
    """The pin the build lacks is named with its file and line."""
    code = tmp_path / "fn"
    code.mkdir()
    (code / "app.py").write_text("def lambda_handler(event, context):\n    return 1\n")
    (code / "requirements.txt").write_text("six==1.17.0\n")
    (tmp_path / "template.yaml").write_text(
        "Transform: AWS::Serverless-2016-10-31\nResources:\n"
        "  Fn:\n    Type: AWS::Serverless::Function\n"
        "    Properties: {CodeUri: fn/, Handler: app.lambda_handler, Runtime: python3.12}\n"
    )
    run([SAMLINK, "init"], tmp_path, tool_env)
    sam_build(tmp_path, {**tool_env, "SAMLINK_RELEASE": "1"})
    status_code, report = check(tmp_path, tool_env)
    assert (status_code, report["findings"]) == (0, [])

    (code / "requirements.txt").write_text(
        "six==1.17.0\n# added after the build\nidna==3.10 ; python_version >= '3.10'\n"
        "old-only==1.0 ; python_version < '3.10'\n"  # not for python3.12: not required
    )
    status_code, report = check(tmp_path, tool_env)
    assert status_code == 1
    (missing,) = codes(report)["pin-missing"]
    assert (missing["resource"], missing["file"], missing["line"]) == (
        "Fn",
        "fn/requirements.txt",
        3,
    )
    assert str(missing["message"]).startswith("idna==3.10")
    human = run([SAMLINK, "check"], tmp_path, tool_env, check=False)
    assert human.returncode == 1 and "idna==3.10" in human.stdout


def test_the_lock_rule_on_a_build_uv_installed(
    workspace: Path, tmp_path: Path, tool_env: dict[str, str]
) -> None:
    """The rule itself on a build dir made by uv from the lock (no samlink build involved):
    every locked package, each member's code at its version, no dev-group distribution."""
    from samlink.audit import pins
    from samlink.model.template import load_template

    template = load_template(workspace / "template.yaml")
    lock = workspace / "uv.lock"
    root = tmp_path / "build"
    site = root / "HelloFunction"
    six = locked_version(lock, "six")
    idna = locked_version(lock, "idna")
    uv_install(site, f"six=={six}", f"idna=={idna}")
    sources = [workspace / "packages" / m for m in ("corelib", "stlib")]
    for source in [*sources, workspace.parent / "extern" / "tools"]:
        copy = tmp_path / "copies" / source.name  # setuptools writes where it builds
        shutil.copytree(source, copy)
        uv_install(site, copy)
    assert pins.problems(template, root) == []

    # A member's package gone: named, at the member's line in the lock.
    shutil.rmtree(site / "corelib")
    (problem,) = pins.problems(template, root)
    assert (problem.code, problem.resource, problem.path) == (
        "source-missing",
        "HelloFunction",
        lock,
    )
    # The lock may serve several functions: the message names this one.
    assert problem.message.startswith(
        "HelloFunction: local source corelib 2.3.0 (packages/corelib)"
    )
    assert "corelib is not in the build" in problem.message
    assert problem.line is not None
    assert lock.read_text().splitlines()[problem.line - 1] == 'name = "corelib"'
    shutil.copytree(workspace / "packages" / "corelib" / "src" / "corelib", site / "corelib")
    assert pins.problems(template, root) == []

    # One module of it gone.
    (site / "corelib" / "extra.py").unlink()
    (problem,) = pins.problems(template, root)
    assert problem.code == "source-missing" and "corelib/extra.py" in problem.message
    shutil.copy(workspace / "packages/corelib/src/corelib/extra.py", site / "corelib")

    # Its version in the build is not the one its pyproject says.
    (info,) = site.glob("corelib-*.dist-info")
    metadata = info / "METADATA"
    original = metadata.read_text()
    metadata.write_text(original.replace("Version: 2.3.0", "Version: 2.2.0", 1))
    (problem,) = pins.problems(template, root)
    assert problem.code == "source-mismatch" and "says 2.3.0" in problem.message
    metadata.write_text(original)

    # A locked third-party distribution gone, then at another version.
    (six_info,) = site.glob("six-*.dist-info")
    aside = tmp_path / "aside"
    shutil.move(str(six_info), str(aside))
    (problem,) = pins.problems(template, root)
    assert problem.code == "pin-missing" and problem.path == lock
    assert problem.message.startswith(
        f"HelloFunction: six=={six} is locked in uv.lock but not in the build"
    )
    assert problem.line is not None
    assert lock.read_text().splitlines()[problem.line - 1] == 'name = "six"'
    shutil.move(str(aside), str(six_info))

    # A distribution the lock holds only for the dev group.
    uv_install(site, f"attrs=={locked_version(lock, 'attrs')}")
    (problem,) = pins.problems(template, root)
    assert problem.code == "dev-dist" and problem.message.startswith("HelloFunction: attrs ")
    assert "only for dev groups" in problem.message


@pytest.mark.sam
def test_a_uv_release_build_proves_the_lock(workspace: Path, tool_env: dict[str, str]) -> None:
    """Real `sam build` with SAMLINK_RELEASE=1 of a workspace member function."""
    run([SAMLINK, "init"], workspace, tool_env)
    sam_build(workspace, {**tool_env, "SAMLINK_RELEASE": "1"})
    built = workspace / ".aws-sam" / "build" / "HelloFunction"
    assert (built / "corelib" / "__init__.py").is_file()
    assert not (built / "corelib").is_symlink()
    status_code, report = check(workspace, tool_env)
    assert (status_code, report["findings"]) == (0, [])

    # The member's package folder deleted from the build: check fails naming it.
    shutil.rmtree(built / "corelib")
    status_code, report = check(workspace, tool_env)
    assert status_code == 1
    (missing,) = codes(report)["source-missing"]
    assert missing["resource"] == "HelloFunction" and missing["file"] == "uv.lock"
    assert "local source corelib 2.3.0" in str(missing["message"])
    shutil.copytree(workspace / "packages" / "corelib" / "src" / "corelib", built / "corelib")
    assert check(workspace, tool_env)[0] == 0

    # A dev-group distribution copied in: check fails naming it.
    uv_install(built, f"attrs=={locked_version(workspace / 'uv.lock', 'attrs')}")
    status_code, report = check(workspace, tool_env)
    assert status_code == 1
    (dev,) = codes(report)["dev-dist"]
    assert str(dev["message"]).startswith("HelloFunction: attrs ")

    # A dev build (a plain `sam build`, CI's too) links the declared members: check says so,
    # and does not take the links for missing code.
    sam_build(workspace, tool_env)
    status_code, report = check(workspace, tool_env)
    found = codes(report)
    assert status_code == 1 and "source-missing" not in found
    linked = {str(f["message"]).split(" ")[0] for f in found["linked-dist"]}
    assert linked == {"corelib", "stlib", "tools"}


def test_the_lock_rule_for_a_poetry_function(tmp_path: Path, tool_env: dict[str, str]) -> None:
    """The same rule against a poetry.lock written by a real `poetry lock`."""
    from samlink.audit import pins
    from samlink.model.template import load_template

    code = tmp_path / "pfn"
    code.mkdir()
    (code / "app.py").write_text("import six\n")
    (code / "pyproject.toml").write_text(
        '[project]\nname = "pfn"\nversion = "0.1.0"\nrequires-python = ">=3.10"\n'
        'dependencies = ["six==1.17.0"]\n[tool.poetry]\npackage-mode = false\n'
        '[tool.poetry.group.dev.dependencies]\nattrs = "*"\n'
    )
    (tmp_path / "template.yaml").write_text(
        "Transform: AWS::Serverless-2016-10-31\nResources:\n"
        "  Fn:\n    Type: AWS::Serverless::Function\n"
        "    Properties: {CodeUri: pfn/, Handler: app.lambda_handler, Runtime: python3.12}\n"
    )
    env = {k: v for k, v in tool_env.items() if k != "VIRTUAL_ENV"}
    env.update(
        {
            "POETRY_CACHE_DIR": str(tmp_path / "poetry-cache"),
            "POETRY_CONFIG_DIR": str(tmp_path / "poetry-config"),
            "POETRY_VIRTUALENVS_PATH": str(tmp_path / "poetry-venvs"),
            "POETRY_NO_INTERACTION": "1",
        }
    )
    run(["poetry", "lock"], code, env)
    lock = code / "poetry.lock"
    template = load_template(tmp_path / "template.yaml")
    root = tmp_path / "build"
    uv_install(root / "Fn", "six==1.17.0")
    assert pins.problems(template, root) == []

    (info,) = (root / "Fn").glob("six-*.dist-info")
    shutil.rmtree(info)
    (problem,) = pins.problems(template, root)
    assert (problem.code, problem.path) == ("pin-missing", lock)
    assert problem.message.startswith("Fn: six==1.17.0 is locked in poetry.lock but not in the")
    assert problem.line is not None
    assert lock.read_text().splitlines()[problem.line - 1] == 'name = "six"'
    uv_install(root / "Fn", "six==1.17.0")

    uv_install(root / "Fn", f"attrs=={locked_version(lock, 'attrs')}")
    (problem,) = pins.problems(template, root)
    assert problem.code == "dev-dist" and "poetry.lock holds it only for dev" in problem.message


def test_a_declaration_check_cannot_read_never_passes(
    tmp_path: Path, tool_env: dict[str, str]
) -> None:
    """A stale lock and a missing lock are failures, with the build dir and without it."""
    ws = uv_workspace(tmp_path, tool_env)
    build = tmp_path / "build" / "HelloFunction"
    build.mkdir(parents=True)
    hello = ws / "functions" / "hello" / "pyproject.toml"
    hello.write_text(hello.read_text().replace('"six==1.17.0"', '"six==1.17.0", "idna"'))

    status_code, report = check(ws, tool_env, "--sources-only")
    assert status_code == 1
    (stale,) = codes(report)["lock-stale"]
    assert stale["file"] == "uv.lock" and "run `uv lock`" in str(stale["fix"])
    assert str(stale["message"]).startswith(
        "HelloFunction: uv.lock no longer matches the pyproject.toml files"
    )
    assert "run `" not in str(stale["message"])  # once, in the fix

    status_code, report = check(ws, tool_env, "--build-dir", str(tmp_path / "build"))
    assert status_code == 1 and len(codes(report)["lock-stale"]) == 1

    (ws / "uv.lock").unlink()
    status_code, report = check(ws, tool_env, "--sources-only")
    assert status_code == 1
    (unread,) = codes(report)["declared-unreadable"]
    assert unread["file"] == "functions/hello/pyproject.toml"
    assert "has no lock" in str(unread["message"])
    assert "check cannot prove what a deploy would ship for HelloFunction" in str(unread["message"])
