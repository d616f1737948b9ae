"""The one rule for what may ship (samlink.build.ship), held by release builds, sync builds and
`samlink check` alike: real `sam build` runs on `samlink init`'d projects, real symlinks to a
stand-in home directory (never the real ~/.ssh) and to /etc/passwd, real uv installs, SAM's own
zip helper for what `samlink sync` would upload."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sys
import zipfile
from pathlib import Path

import jsonschema
import pytest

from conftest import BIN, ROOT, copy_lib, run
from samlink.build import makefile, ship

pytestmark = pytest.mark.sam

SAMLINK = BIN / "samlink"
SCHEMA = json.loads((ROOT / "docs" / "schemas" / "check.schema.json").read_text())
TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn/
      Handler: app.handler
      Runtime: python3.11
"""


def console_wheel(folder: Path) -> Path:
    """A wheel with a console script (what most CLIs on PyPI have), written by hand: no index."""
    files = {
        "toolpkg/__init__.py": "def main():\n    print('tool')\n",
        "toolpkg-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: toolpkg\nVersion: 1.0\n",
        "toolpkg-1.0.dist-info/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
        "toolpkg-1.0.dist-info/entry_points.txt": "[console_scripts]\ntoolpkg = toolpkg:main\n",
    }
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / "toolpkg-1.0-py3-none-any.whl"
    rows = []
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
            digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest())
            rows.append(f"{name},sha256={digest.rstrip(b'=').decode()},{len(text)}")
        rows.append("toolpkg-1.0.dist-info/RECORD,,")
        archive.writestr("toolpkg-1.0.dist-info/RECORD", "\n".join(rows) + "\n")
    return wheel


@pytest.fixture
def host(tmp_path: Path) -> Path:
    """A stand-in for the developer's home: a private key that must never leave the machine."""
    home = tmp_path / "host-home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text("-----BEGIN PRIVATE KEY-----\n")
    return home


@pytest.fixture
def project(tmp_path: Path, tool_env: dict[str, str]) -> Path:
    """The template in `sam/`, run from the project root: `sam/fn/pkg/shared -> ../../../shared`
    resolves outside the template's folder but inside the project, as monorepos do."""
    project = tmp_path / "project"
    code = project / "sam" / "fn"
    (code / "pkg").mkdir(parents=True)
    (project / "sam" / "template.yaml").write_text(TEMPLATE)
    (code / "app.py").write_text(
        "from pkg.shared import common\n\ndef handler(event, context):\n    return common.VALUE\n"
    )
    (code / "pkg" / "__init__.py").write_text("")
    (project / "shared").mkdir()
    (project / "shared" / "common.py").write_text("VALUE = 'shared'\n")
    (code / "pkg" / "shared").symlink_to(Path("..", "..", "..", "shared"))
    console_wheel(project / "wheels")
    (code / "requirements.txt").write_text("--no-index\n--find-links ../../wheels\ntoolpkg==1.0\n")
    run([SAMLINK, "init", "-t", "sam/template.yaml"], project, tool_env)
    return project


def env_in(project: Path, tool_env: dict[str, str], **extra: str) -> dict[str, str]:
    # As a shell started in the project sets it: make and samlink see where `sam build` runs.
    return {**tool_env, "PWD": str(project), **extra}


def sam(project: Path, env: dict[str, str], *args: str) -> tuple[int, str]:
    done = run([BIN / "sam", "build", "-t", "sam/template.yaml", *args], project, env, check=False)
    return done.returncode, done.stdout + done.stderr


def error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if "samlink: error:" in line]


def shipped(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize("in_source", [False, True], ids=["temp-copy", "build-in-source"])
def test_release_follows_links_inside_the_project_and_stops_on_one_that_leaves(
    project: Path, host: Path, tool_env: dict[str, str], in_source: bool
) -> None:
    env = env_in(project, tool_env, SAMLINK_RELEASE="1")
    args = ["--build-in-source"] if in_source else []
    code, output = sam(project, env, *args)
    assert code == 0, output
    built = project / ".aws-sam" / "build" / "Fn"
    # The link inside the project is followed as SAM follows it: real files.
    assert (built / "pkg" / "shared" / "common.py").read_text() == "VALUE = 'shared'\n"
    assert not any(p.is_symlink() for p in built.rglob("*"))
    # The installer's console script (shebang: this venv's python) does not ship; SAM ships none.
    assert (built / "toolpkg" / "__init__.py").is_file()
    assert not (built / "bin").exists()

    # A link deep in the code to the home dir (the replayed plan judges it too), then one at the
    # top of the code dir: each stops the build with one line naming it, and nothing of it ships.
    for link in (project / "sam" / "fn" / "pkg" / "keys", project / "sam" / "fn" / "ssh_link"):
        link.symlink_to(host / ".ssh")
        code, output = sam(project, env, *args)
        assert code != 0
        assert len(error_lines(output)) == 1, output
        assert f"{link} links to {host / '.ssh'}, outside {project}" in error_lines(output)[0]
        assert not [p for p in (project / ".aws-sam").rglob("id_rsa")]
        link.unlink()


def linked_library(tmp_path: Path, host: Path) -> Path:
    """A checkout outside the project whose package links to the home dir, /etc/passwd and its
    own checkout root, next to one link that stays inside the package."""
    checkout = tmp_path / "evil-checkout"
    package = checkout / "evillib"
    (package / "data").mkdir(parents=True)
    (checkout / "setup.py").write_text(
        'from setuptools import setup\nsetup(name="evillib", version="1.0", packages=["evillib"])\n'
    )
    (package / "__init__.py").write_text("VALUE = 'evil'\n")
    (package / "data" / "table.txt").write_text("rows\n")
    (package / "alias").symlink_to("data")  # inside the package: followed
    (package / "ssh").symlink_to(host / ".ssh")
    (package / "passwd").symlink_to("/etc/passwd")
    (package / "root").symlink_to("..")
    return checkout


def test_sync_build_never_follows_a_link_out_of_a_linked_package(
    project: Path, host: Path, tool_env: dict[str, str], tmp_path: Path
) -> None:
    from samcli.lib.package.utils import make_zip  # what `sam sync` zips and uploads with

    checkout = linked_library(tmp_path, host)
    env = env_in(project, tool_env)
    run([SAMLINK, "link", checkout, "--function", "Fn", "-t", "sam/template.yaml"], project, env)
    sync = {**env, "SAMLINK_SYNC": "1"}
    package = checkout / "evillib"
    for name, target in (("passwd", "/etc/passwd"), ("root", ".."), ("ssh", str(host / ".ssh"))):
        code, output = sam(project, sync)
        assert code != 0
        assert len(error_lines(output)) == 1, output
        assert f"{package / name} links to {target}, outside {package}" in output
        (package / name).unlink()

    code, output = sam(project, sync)
    assert code == 0, output
    built = project / ".aws-sam" / "build" / "Fn"
    names = zipfile.ZipFile(make_zip(str(tmp_path / "upload"), str(built))).namelist()
    assert "evillib/__init__.py" in names and "evillib/alias/table.txt" in names
    assert "pkg/shared/common.py" in names  # the code's link inside the project
    assert not [n for n in names if "id_rsa" in n or "passwd" in n or n.startswith("bin/")]


def test_check_reports_every_link_the_rule_refuses_and_host_shebangs(
    project: Path, host: Path, tool_env: dict[str, str], tmp_path: Path
) -> None:
    import uv

    env = env_in(project, tool_env)
    code_dir = project / "sam" / "fn"
    checkout = linked_library(tmp_path, host)
    run([SAMLINK, "link", checkout, "--function", "Fn", "-t", "sam/template.yaml"], project, env)
    (code_dir / "ssh_link").symlink_to(host / ".ssh")
    (code_dir / "pkg" / "gone").symlink_to("nowhere")
    (code_dir / "pkg" / "up").symlink_to(Path("..", ".."))
    # A build dir as an older samlink, or a plain `uv pip install --target`, leaves it.
    build = project / ".aws-sam" / "build" / "Fn"
    build.mkdir(parents=True)
    run(
        [
            uv.find_uv_bin(),
            "pip",
            "install",
            "--quiet",
            "--no-config",
            "--no-index",
            "--find-links",
            project / "wheels",
            "--target",
            build,
            "--python",
            sys.executable,
            "toolpkg==1.0",
        ],
        project,
        env,
    )
    assert (build / "bin" / "toolpkg").read_text().startswith(f"#!{sys.prefix}")

    status, report = check(project, env, "--build-dir", str(project / ".aws-sam" / "build"))
    assert status == 1
    findings = report["findings"]
    assert isinstance(findings, list)
    found = {(f["code"], f["file"]) for f in findings if f["code"] in CODES}
    package = checkout / "evillib"
    # Not `fn/pkg/shared`: that link stays inside the project.
    assert found == {
        ("link-outside-project", "fn/ssh_link"),  # relative to the template's folder
        ("link-dangling", "fn/pkg/gone"),
        ("link-loop", "fn/pkg/up"),
        ("link-outside-project", str(package / "passwd")),
        ("link-outside-project", str(package / "root")),
        ("link-outside-project", str(package / "ssh")),
        ("host-shebang", str(build / "bin" / "toolpkg")),
    }, findings


CODES = ("link-outside-project", "link-dangling", "link-loop", "host-shebang")


def check(project: Path, env: dict[str, str], *args: str) -> tuple[int, dict[str, object]]:
    done = run(
        [SAMLINK, "check", "--json", "-t", "sam/template.yaml", *args], project, env, check=False
    )
    assert done.returncode in (0, 1), done.stderr
    report = json.loads(done.stdout)
    jsonschema.validate(report, SCHEMA)
    return done.returncode, report


# --- the rule itself, on real trees --------------------------------------------------------------


def test_the_rule_follows_inside_links_and_refuses_the_rest(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "fn" / "pkg").mkdir(parents=True)
    (project / "lib").mkdir()
    (project / "lib" / "util.py").write_text("")
    (project / "fn" / "pkg" / "mod.py").write_text("")
    (project / ".secrets").mkdir()
    (project / "fn" / "pkg" / "lib").symlink_to(Path("..", "..", "lib"))
    items = ship.files_to_ship(project / "fn", project)
    assert [i.rel for i in items if not i.folder] == ["pkg/lib/util.py", "pkg/mod.py"]

    for name, target, reason in (
        ("out", "/etc", "outside"),
        ("gone", "missing", "dangling"),
        ("self", ".", "loop"),
        ("up", "..", "loop"),
        ("keys", str(Path("..", "..", ".secrets")), "hidden"),  # inside, but a hidden folder
    ):
        link = project / "fn" / "pkg" / name
        link.symlink_to(target)
        (refused,) = ship.refusals(project / "fn", project)
        assert (refused.link, refused.reason) == (link, reason)
        with pytest.raises(ship.BuildError, match=f"{link} links to "):
            ship.files_to_ship(project / "fn", project)
        link.unlink()
    # Two links that take turns: a zip through them would never end either.
    (project / "fn" / "a").mkdir()
    (project / "fn" / "b").mkdir()
    (project / "fn" / "a" / "to_b").symlink_to(Path("..", "b"))
    (project / "fn" / "b" / "to_a").symlink_to(Path("..", "a"))
    assert {r.reason for r in ship.refusals(project / "fn", project)} == {"loop"}
    # A link that loops on itself.
    (project / "fn" / "knot").symlink_to("knot")
    assert "loop" in {r.reason for r in ship.refusals(project / "fn" / "knot", project)}


def test_project_root_is_where_sam_runs_or_the_git_work_tree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "home" / "repo"
    template_dir = repo / "services" / "api"
    template_dir.mkdir(parents=True)
    template = template_dir / "template.yaml"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert ship.project_root(template) == template_dir
    # `sam build -t services/api/template.yaml` from the repo: the directory SAM runs in.
    assert ship.project_root(template, str(repo)) == repo
    # A directory that does not hold the template is not the project.
    assert ship.project_root(template, str(tmp_path / "elsewhere")) == template_dir
    # Never the home directory or a folder above it, whatever runs there.
    assert ship.project_root(template, str(tmp_path / "home")) == template_dir
    assert ship.project_root(template, str(tmp_path)) == template_dir
    (repo / ".git").mkdir()
    assert ship.project_root(template) == repo
    (repo / ".git").rmdir()
    (tmp_path / "home" / ".git").mkdir()  # dotfiles kept in git
    assert ship.project_root(template) == template_dir
    assert ship.project_root(template, str(repo)) == repo


def test_the_fallback_without_samlink_ships_no_console_scripts(tmp_path: Path) -> None:
    """A teammate or CI image without samlink: the make target's plain pip install."""
    code = tmp_path / "fn"
    code.mkdir()
    console_wheel(tmp_path / "wheels")
    (code / "app.py").write_text("import toolpkg\n")
    (code / "requirements.txt").write_text("--no-index\n--find-links ../wheels\ntoolpkg==1.0\n")
    spec = makefile.TargetSpec("Fn", "function", "3.11", "x86_64", "../template.yaml")
    (code / "Makefile").write_text(makefile.render("", [spec]))
    artifacts = tmp_path / "artifacts"
    env = {
        **os.environ,
        "ARTIFACTS_DIR": str(artifacts),
        "SAMLINK": "samlink-not-installed",
        "SAMLINK_PYTHON": sys.executable,
    }
    done = run(["make", "--makefile", code / "Makefile", "build-Fn"], code, env)
    assert "samlink not found" in done.stdout
    assert (artifacts / "toolpkg" / "__init__.py").is_file()
    assert not (artifacts / "bin").exists()


def test_a_store_entry_made_before_links_no_console_scripts_into_builds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from samlink.build import installer
    from samlink.build.store import Store
    from samlink.model.target import target_for

    console_wheel(tmp_path / "wheels")
    index = installer.IndexOptions(find_links=(str(tmp_path / "wheels"),), no_index=True)
    spec = installer.InstallSpec(("toolpkg==1.0",), index=index)
    store = Store(tmp_path / "store")
    # An entry as an older samlink made it (real uv install): only our own step that drops the
    # installer's bin/ is skipped, to make one.
    monkeypatch.setattr(installer, "drop_installer_scripts", lambda dest: None)
    entry = store.get_or_build(
        spec, target_for("python3.11", "x86_64"), installer.resolve_installer()
    )
    monkeypatch.undo()
    assert (entry.path / "bin" / "toolpkg").read_text().startswith("#!")
    build = tmp_path / "build"
    store.materialize(entry, build)
    assert (build / "toolpkg" / "__init__.py").is_file()
    assert not (build / "bin").exists()


def test_a_flat_namespace_package_copied_into_a_build_follows_the_rule(
    project: Path, tool_env: dict[str, str], tmp_path: Path
) -> None:
    """A flat-layout namespace package is copied as real files even in a dev build (a link to
    its folder would expose the checkout root), so its links face the rule there too."""
    checkout = copy_lib("ns_flat", tmp_path / "checkouts")
    package = checkout / "acme" / "nsflat"
    (package / "passwd").symlink_to("/etc/passwd")
    env = env_in(project, tool_env)
    run([SAMLINK, "link", checkout, "--function", "Fn", "-t", "sam/template.yaml"], project, env)
    code, output = sam(project, env)
    assert code != 0
    assert len(error_lines(output)) == 1, output
    assert f"{package / 'passwd'} links to /etc/passwd, outside {checkout / 'acme'}" in output
    (package / "passwd").unlink()
    code, output = sam(project, env)
    assert code == 0, output
    built = project / ".aws-sam" / "build" / "Fn" / "acme" / "nsflat" / "__init__.py"
    assert built.is_file() and not built.is_symlink()


def test_a_vendored_local_project_follows_the_rule(
    project: Path, tool_env: dict[str, str], tmp_path: Path
) -> None:
    """A release with --allow-local builds a wheel of the checkout: the wheel backend would
    follow the package's links (hatchling takes every file of a package), so the rule first."""
    checkout = tmp_path / "vendored"
    package = checkout / "vendlib"
    package.mkdir(parents=True)
    (checkout / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'
        '[project]\nname = "vendlib"\nversion = "1.0"\n'
        '[tool.hatch.build.targets.wheel]\npackages = ["vendlib"]\n'
    )
    (package / "__init__.py").write_text("VALUE = 1\n")
    (package / "passwd").symlink_to("/etc/passwd")
    requirements = project / "sam" / "fn" / "requirements.txt"
    requirements.write_text(requirements.read_text() + "../../../vendored\n")
    env = env_in(project, tool_env, SAMLINK_RELEASE="1", SAMLINK_ALLOW_LOCAL="1")
    code, output = sam(project, env)
    assert code != 0
    assert len(error_lines(output)) == 1, output
    assert f"{package / 'passwd'} links to /etc/passwd, outside {package}" in output
    assert not (project / ".aws-sam" / "build" / "Fn" / "vendlib" / "passwd").exists()
    status, report = check(project, env, "--allow-local", "--sources-only")
    findings = report["findings"]
    assert isinstance(findings, list)
    assert ("link-outside-project", str(package / "passwd")) in {
        (f["code"], f["file"]) for f in findings
    }
    assert status == 1
    (package / "passwd").unlink()
    code, output = sam(project, env)
    assert code == 0, output
    assert (project / ".aws-sam" / "build" / "Fn" / "vendlib" / "__init__.py").is_file()


def test_a_plan_made_with_a_root_widened_by_sams_directory_replays_only_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The warm replay keeps the root of the full build: only while `sam build` runs where it
    ran then, when that directory widened the root (elsewhere, the full build finds it anew)."""
    from samlink import __version__
    from samlink.build import plan

    template = tmp_path / "project" / "sam" / "template.yaml"
    monkeypatch.setenv("SAMLINK_SAM_CWD", str(tmp_path / "project"))
    made = {
        "format": plan.PLAN_FORMAT,
        "samlink": __version__,
        "prefix": sys.prefix,
        "template": str(template),
        "id": "Fn",
        "env": plan.env_digest(os.environ, []),
        "env_extra": [],
        "stamp": [],
        "expires": None,
        "cwd_root": os.path.realpath(tmp_path / "project"),
    }
    plan.check(made, str(template), "Fn")
    monkeypatch.setenv("SAMLINK_SAM_CWD", str(tmp_path / "project" / "sam"))
    with pytest.raises(plan.Miss, match="another directory"):
        plan.check(made, str(template), "Fn")
    plan.check({**made, "cwd_root": None}, str(template), "Fn")
