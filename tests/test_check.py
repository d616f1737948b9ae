"""`samlink check`: each finding from a project that has the problem, absent from one that does not;
release vs dev `sam build` of the example; native code audited with real wheels; vendoring."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest

from conftest import BIN, FIXTURES, ROOT, copy_example, copy_lib, run, sam_build

SAMLINK = BIN / "samlink"
PROJECT = FIXTURES / "check" / "project"
SCHEMA = json.loads((ROOT / "docs" / "schemas" / "check.schema.json").read_text())


def check(project: Path, env: dict[str, str], *args: str) -> tuple[int, dict[str, object]]:
    """Run `samlink check --json`, validate it against the documented schema."""
    done = run([SAMLINK, "check", "--json", *args], project, env, check=False)
    assert done.returncode in (0, 1), done.stderr
    report = json.loads(done.stdout)
    jsonschema.validate(report, SCHEMA)
    assert report["ok"] == (done.returncode == 0)
    return done.returncode, report


def codes(report: dict[str, object]) -> set[str]:
    findings = report["findings"]
    assert isinstance(findings, list)
    return {f["code"] for f in findings}


def findings(report: dict[str, object], code: str) -> list[dict[str, object]]:
    found = report["findings"]
    assert isinstance(found, list)
    return [f for f in found if f["code"] == code]


def uv_install(dest: Path, *args: str) -> None:
    """A real uv install into a fake build dir (what a broken build would have put there)."""
    import uv

    subprocess.run(
        [
            uv.find_uv_bin(),
            "pip",
            "install",
            "--quiet",
            "--no-config",
            "--target",
            str(dest),
            "--python",
            sys.executable,
            *args,
        ],
        check=True,
        timeout=600,
    )


@pytest.fixture
def project(tmp_path: Path, tool_env: dict[str, str]) -> Path:
    """The fixture project after `samlink init`, with a clean, real-files build dir."""
    dest = tmp_path / "project"
    shutil.copytree(PROJECT, dest)
    run([SAMLINK, "init"], dest, tool_env)
    build = dest / ".aws-sam" / "build"
    for rid in ("Api", "Arm"):
        (build / rid).mkdir(parents=True)
        shutil.copy2(dest / rid.lower() / "app.py", build / rid / "app.py")
        installed_six(build / rid)
    (build / "Deps" / "python").mkdir(parents=True)
    (build / "Deps" / "python" / "helper.py").write_text("X = 1\n")
    installed_six(build / "Deps" / "python")
    return dest


def installed_six(site: Path) -> None:
    """What the fixture's `six==1.17.0` pins puts in a build (check proves every pin is there)."""
    (site / "six.py").write_text("__version__ = '1.17.0'\n")
    info = site / "six-1.17.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: six\nVersion: 1.17.0\n")
    (info / "INSTALLER").write_text("uv\n")
    (info / "RECORD").write_text("six.py,,\nsix-1.17.0.dist-info/METADATA,,\n")


def sparse(path: Path, size: int) -> None:
    """A file of `size` bytes that takes no disk (Lambda counts the unzipped bytes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        handle.truncate(size)


def big_package(project: Path, megabytes: int) -> None:
    site = project / ".aws-sam" / "build" / "Deps" / "python"
    sparse(site / "bigpkg" / "blob.bin", megabytes * 1_048_576)
    info = site / "bigpkg-1.0.dist-info"
    info.mkdir()
    (info / "RECORD").write_text("bigpkg/blob.bin,,\nbigpkg-1.0.dist-info/RECORD,,\n")


def editable_install(project: Path, tmp: Path) -> None:
    # Real editable installs (setuptools flat layout: a finder module; hatchling: a path .pth),
    # as the seed's `-e` lines leave them in a build dir.
    checkouts = tmp / "checkouts"
    checkouts.mkdir(exist_ok=True)
    flat, hatch = copy_lib("st_flat", checkouts), copy_lib("hatch_lib", checkouts)
    uv_install(project / ".aws-sam" / "build" / "Api", "-e", str(flat), "-e", str(hatch))


def samlink_dist_info(project: Path, text: str) -> None:
    info = project / ".aws-sam" / "build" / "Api" / "acme_lib-1.0.0.dist-info"
    info.mkdir()
    (info / "INSTALLER").write_text("samlink\n")
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: acme-lib\n{text}\n")


def drop_build_method(project: Path) -> None:
    template = project / "template.yaml"
    lines = template.read_text().splitlines(keepends=True)
    # The first BuildMethod (Api's), with its Metadata line.
    at = next(i for i, line in enumerate(lines) if "BuildMethod: makefile" in line)
    del lines[at - 1 : at + 1]
    template.write_text("".join(lines))


def checkout(project: Path) -> None:
    if not (project / "st_src").exists():
        copy_lib("st_src", project)


def editable_line(project: Path, tmp: Path) -> None:
    checkout(project)
    (project / "api" / "requirements.txt").write_text("six==1.17.0\n-e ../st_src\n")


def local_line_in_include(project: Path, tmp: Path) -> None:
    checkout(project)
    (project / "arm" / "requirements.txt").write_text("-r more.txt\n")
    (project / "arm" / "more.txt").write_text("six==1.17.0\n\n../st_src\n")


def invalid_line(project: Path, tmp: Path) -> None:
    (project / "api" / "requirements.txt").write_text("six=1.17\n")


def foreign_makefile(project: Path, tmp: Path) -> None:
    (project / "arm" / "Makefile").write_text("all:\n\ttrue\n")


def link_in_build(project: Path, tmp: Path) -> None:
    built = project / ".aws-sam" / "build" / "Arm" / "app.py"
    built.unlink()
    built.symlink_to(project / "arm" / "app.py")


PROBLEMS: dict[str, Callable[[Path, Path], None]] = {
    "editable-requirement": editable_line,
    "local-requirement": local_line_in_include,
    "requirements-invalid": invalid_line,
    "template-drift": lambda p, tmp: drop_build_method(p),
    "makefile-drift": foreign_makefile,
    "samconfig-drift": lambda p, tmp: (p / "samconfig.toml").unlink(),
    "gitignore-drift": lambda p, tmp: (p / ".gitignore").unlink(),
    "link": link_in_build,
    "pth-path": editable_install,
    "editable-finder": editable_install,
    "direct-url-editable": editable_install,
    "host-path": lambda p, tmp: samlink_dist_info(p, f"Summary: built from {p}/libs/acme"),
    "size-near-limit": lambda p, tmp: big_package(p, 215),
    "size-limit": lambda p, tmp: big_package(p, 260),
}
WARNINGS = {"samconfig-drift", "gitignore-drift", "size-near-limit"}


@pytest.mark.parametrize("code", sorted(PROBLEMS))
def test_each_finding_only_where_the_problem_is(
    code: str, project: Path, tool_env: dict[str, str], tmp_path: Path
) -> None:
    status, clean = check(project, tool_env)
    assert (status, clean["findings"]) == (0, [])
    PROBLEMS[code](project, tmp_path)
    status, report = check(project, tool_env)
    assert code in codes(report)
    assert status == (0 if code in WARNINGS else 1)
    for finding in report["findings"]:  # type: ignore[attr-defined]
        assert finding["message"] and finding["fix"]


def test_findings_name_file_and_line(
    project: Path, tool_env: dict[str, str], tmp_path: Path
) -> None:
    PROBLEMS["editable-requirement"](project, tmp_path)
    PROBLEMS["local-requirement"](project, tmp_path)
    PROBLEMS["template-drift"](project, tmp_path)
    editable_install(project, tmp_path)
    samlink_dist_info(project, f"Home-page: file://{project}/libs/acme")
    _, report = check(project, tool_env)
    where = {(f["code"], f["file"], f["line"]) for f in report["findings"]}  # type: ignore[attr-defined]
    assert ("editable-requirement", "api/requirements.txt", 2) in where
    assert ("local-requirement", "arm/more.txt", 3) in where
    assert ("template-drift", "template.yaml", 11) in where  # Api's line
    build = ".aws-sam/build/Api"
    assert ("pth-path", f"{build}/_editable_impl_acme_hatch.pth", 1) in where
    assert ("editable-finder", f"{build}/__editable__.acme_st_flat-1.0.0.pth", 1) in where
    finder = findings(report, "editable-finder")
    assert any(
        str(f["file"]).endswith("_finder.py") and "acme_st_flat" in str(f["message"])
        for f in finder
    )
    assert (
        "direct-url-editable",
        f"{build}/acme_st_flat-1.0.0.dist-info/direct_url.json",
        None,
    ) in where
    assert ("host-path", f"{build}/acme_lib-1.0.0.dist-info/METADATA", 3) in where

    # The same, for people: `file:line: severity: message` and the fix below it.
    human = run([SAMLINK, "check"], project, tool_env, check=False)
    assert human.returncode == 1
    assert "api/requirements.txt:2: error: editable local project ../st_src" in human.stdout
    assert "fix: pin a released version (`acme-st-src==X.Y`)" in human.stdout

    # --sources-only (pre-commit): the build dir's findings are not reported.
    _, sources = check(project, tool_env, "--sources-only")
    assert sources["build_dir"] is None
    assert codes(sources) == {"editable-requirement", "local-requirement", "template-drift"}

    # --allow-local: vendored local projects are on purpose, a warning.
    _, allowed = check(project, tool_env, "--sources-only", "--allow-local")
    severities = {f["code"]: f["severity"] for f in allowed["findings"]}  # type: ignore[attr-defined]
    assert severities["editable-requirement"] == severities["local-requirement"] == "warning"


def test_host_paths_only_in_files_samlink_wrote(project: Path, tool_env: dict[str, str]) -> None:
    samlink_dist_info(project, "Summary: runs in /var/task and /opt/python")
    other = project / ".aws-sam" / "build" / "Api" / "other-1.0.dist-info"
    other.mkdir()
    (other / "INSTALLER").write_text("uv\n")
    (other / "METADATA").write_text(f"Name: other\nSummary: {project}\n")
    status, report = check(project, tool_env)
    assert (status, report["findings"]) == (0, [])


def test_size_table_near_the_limit(project: Path, tool_env: dict[str, str]) -> None:
    big_package(project, 215)
    sparse(project / ".aws-sam" / "build" / "Api" / "data" / "model.bin", 3 * 1_048_576)
    _, report = check(project, tool_env)
    sizes = {s["resource"]: s for s in report["sizes"]}  # type: ignore[attr-defined]
    api = sizes["Api"]
    assert [part["resource"] for part in api["parts"]] == ["Api", "Deps"]
    top = api["packages"][0]
    assert top["name"] == "bigpkg (layer Deps)"  # its files and its dist-info, by RECORD
    record = project / ".aws-sam" / "build" / "Deps" / "python" / "bigpkg-1.0.dist-info" / "RECORD"
    assert top["bytes"] == 215 * 1_048_576 + record.stat().st_size
    assert {"name": "data", "bytes": 3 * 1_048_576} in api["packages"]
    assert sizes["Arm"]["packages"] == []  # far from the limit: no table
    human = run([SAMLINK, "check"], project, tool_env, check=False)
    assert "Api: 218.0 MB of 250 MB unzipped, by package:" in human.stdout
    assert "215.0 MB  bigpkg (layer Deps)" in human.stdout


def test_native_code_for_the_wrong_architecture(project: Path, tool_env: dict[str, str]) -> None:
    arm = project / ".aws-sam" / "build" / "Arm"
    good = arm / "good"
    uv_install(
        good,
        "--no-deps",
        "--python-platform",
        "aarch64-manylinux_2_17",
        "--python-version",
        "3.12",
        "markupsafe==2.1.5",
    )
    status, report = check(project, tool_env)
    assert (status, report["findings"]) == (0, [])
    shutil.rmtree(good)
    uv_install(
        arm,
        "--no-deps",
        "--python-platform",
        "x86_64-manylinux_2_17",
        "--python-version",
        "3.12",
        "markupsafe==2.1.5",
    )
    status, report = check(project, tool_env)
    assert status == 1
    (native,) = findings(report, "native-code")
    assert native["resource"] == "Arm"
    assert str(native["file"]).startswith(".aws-sam/build/Arm/markupsafe/_speedups.cpython-312")
    assert "built for x86_64, function is arm64" in str(native["message"])


def test_native_code_needing_a_newer_glibc(project: Path, tool_env: dict[str, str]) -> None:
    api = project / ".aws-sam" / "build" / "Api"
    # cryptography 45.0.0 ships cp311-abi3 wheels for manylinux2014 and manylinux_2_34.
    uv_install(
        api,
        "--no-deps",
        "--python-platform",
        "x86_64-manylinux_2_17",
        "--python-version",
        "3.11",
        "cryptography==45.0.0",
    )
    status, report = check(project, tool_env)
    assert (status, report["findings"]) == (0, [])
    shutil.rmtree(api)
    api.mkdir()
    uv_install(
        api,
        "--no-deps",
        "--python-platform",
        "x86_64-manylinux_2_34",
        "--python-version",
        "3.11",
        "cryptography==45.0.0",
    )
    assert "manylinux_2_34" in next(api.glob("cryptography-*.dist-info/WHEEL")).read_text()
    status, report = check(project, tool_env)
    assert status == 1
    (native,) = findings(report, "native-code")
    assert "needs GLIBC_2.34, newer than python3.11's limit of 2.26" in str(native["message"])


def test_release_build_with_allow_local_vendors_real_files(
    tmp_path: Path, tool_env: dict[str, str]
) -> None:
    project = tmp_path / "vendor"
    (project / "fn").mkdir(parents=True)
    (project / "template.yaml").write_text(
        "Transform: AWS::Serverless-2016-10-31\nResources:\n  Fn:\n"
        "    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: fn/\n"
        "      Handler: app.handler\n      Runtime: python3.11\n"
    )
    (project / "fn" / "app.py").write_text(
        "import acme_st_src\n\ndef handler(e, c):\n    return acme_st_src.data()\n"
    )
    checkout = copy_lib("st_src", tmp_path)  # setuptools: writes egg-info where it builds
    (project / "fn" / "requirements.txt").write_text(
        f"-e {os.path.relpath(checkout, project / 'fn')}\n"
    )
    before = sorted(str(p.relative_to(checkout)) for p in checkout.rglob("*"))
    run([SAMLINK, "init"], project, tool_env)
    out = project / ".aws-sam" / "build" / "Fn"
    env = {**tool_env, "ARTIFACTS_DIR": str(out)}
    refused = run([SAMLINK, "build", "Fn", "--release"], project, env, check=False)
    assert refused.returncode == 2 and "requirements.txt:1: local project" in refused.stderr
    run([SAMLINK, "build", "Fn", "--release", "--allow-local"], project, env)

    assert sorted(str(p.relative_to(checkout)) for p in checkout.rglob("*")) == before
    assert [p for p in out.rglob("*") if p.is_symlink()] == []
    assert (out / "acme_st_src" / "data.txt").read_text() == "data v1\n"
    assert (out / "six.py").is_file()  # its dependency, from the store
    info = out / "acme_st_src-1.0.0.dist-info"
    assert (info / "INSTALLER").read_text() == "samlink\n"
    assert "acme_st_src/__init__.py,sha256=" in (info / "RECORD").read_text()
    status, report = check(project, tool_env, "--allow-local")
    assert status == 0 and codes(report) == {"editable-requirement"}
    status, report = check(project, tool_env)
    assert status == 1 and codes(report) == {"editable-requirement"}


@pytest.mark.sam
def test_release_build_of_the_example_passes_and_dev_build_fails(
    tmp_path: Path, tool_env: dict[str, str]
) -> None:
    project = copy_example(tmp_path / "hello", tool_env)
    run([SAMLINK, "init"], project, tool_env)
    run([SAMLINK, "link", "./sam-sync-test-upstream"], project, tool_env)

    sam_build(project, tool_env)
    status, report = check(project, tool_env)
    assert status == 1
    links = {f["file"] for f in findings(report, "link")}
    assert links == {
        ".aws-sam/build/HelloWorldFunction/app.py",
        ".aws-sam/build/HelloWorldFunction/sam_sync_test_upstream",
    }
    # ...and the linked checkout's dist-info (1.1.0.dev0, not the pinned 1.0.0).
    assert codes(report) == {"link", "linked-dist"}
    human = run([SAMLINK, "check"], project, tool_env, check=False)
    assert human.returncode == 1
    assert "fix: build for release: `SAMLINK_RELEASE=1 sam build`" in human.stdout

    sam_build(project, {**tool_env, "SAMLINK_RELEASE": "1"})
    status, report = check(project, tool_env)
    assert (status, report["findings"]) == (0, [])
    assert report["build_dir"] == str(project / ".aws-sam" / "build")
    human = run([SAMLINK, "check"], project, tool_env)
    assert "samlink check: ok" in human.stderr


def test_pre_commit_hook_runs_check_on_sources() -> None:
    from ruamel.yaml import YAML

    hooks = YAML(typ="safe").load((ROOT / ".pre-commit-hooks.yaml").read_text())
    (hook,) = hooks
    assert hook["id"] == "samlink-check"
    assert hook["entry"] == "samlink check --sources-only"
    assert hook["language"] == "python" and hook["pass_filenames"] is False


def test_docs_carry_the_schemas_and_every_code() -> None:
    import re

    from samlink.audit import check as module
    from samlink.audit import leaks, pins

    text = (ROOT / "docs" / "check.md").read_text()
    blocks = [json.loads(b) for b in re.findall(r"```json\n(.*?)\n```", text, re.S)]
    for name in ("check", "doctor"):
        schema = json.loads((ROOT / "docs" / "schemas" / f"{name}.schema.json").read_text())
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema in blocks, f"docs/check.md does not show {name}.schema.json as it is"
    source = Path(module.__file__).read_text()
    used = set(re.findall(r'Finding\(\s*"([a-z-]+)"', source))
    used |= {"editable-requirement", "local-requirement"}
    used |= set(pins.CODES)  # made by samlink.audit.pins, what a build must hold
    used |= set(leaks.CODES)  # made by samlink.audit.leaks, the rule of what may ship
    assert used == set(SCHEMA["$defs"]["finding"]["properties"]["code"]["enum"])
    assert all(f"`{code}`" in text for code in used)
