"""A `build_dir` in the SAM config: `sam build` honours it, so every samlink command that reads a
build finds it there too (explicit --build-dir still wins).

Real `sam build` of the example with `[default.build.parameters] build_dir = "out/build"` in the
samconfig.toml `samlink init` wrote; then status, invoke --no-build and check from the project,
a rebuild by `samlink invoke` that must land in that same build dir, and --build-dir over it.
The precedence rules (build over global, the config next to the template, a relative build_dir
under the current directory) are SAM's own (samcli.lib.config.samconfig.SamConfig.get_all,
samcli.commands._utils.options.get_or_default_template_file_name,
BuildContext._setup_build_dir), checked on `find_build_dir` directly.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from conftest import BIN, copy_example, run, sam_build
from samlink.build.location import find_build_dir
from samlink.errors import UsageError

SAMLINK = BIN / "samlink"
UPSTREAM = "sam-sync-test-upstream"
LIVE = f"hello world from {UPSTREAM} 1.1.0.dev0"


def add_build_dir(project: Path, section: str, value: str) -> None:
    config = project / "samconfig.toml"
    old = config.read_text() if config.exists() else "version = 0.1\n"
    config.write_text(f'{old}\n[default.{section}.parameters]\nbuild_dir = "{value}"\n')


def status(where: Path, env: dict[str, str], *args: str) -> dict[str, object]:
    found: dict[str, object] = json.loads(
        run([SAMLINK, "status", "--json", *args], where, env).stdout
    )
    return found


def built(report: dict[str, object], resource: str = "HelloWorldFunction") -> bool:
    (item,) = [r for r in report["resources"] if r["id"] == resource]  # type: ignore[attr-defined]
    return bool(item["built"])


@pytest.mark.sam
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="invoke's sandbox is Linux's")
def test_commands_find_the_build_dir_the_sam_config_names(
    tmp_path: Path, tool_env: dict[str, str]
) -> None:
    project = copy_example(tmp_path / "project", tool_env)
    run([SAMLINK, "init"], project, tool_env)
    run([SAMLINK, "link", f"./{UPSTREAM}"], project, tool_env)
    add_build_dir(project, "build", "out/build")
    sam_build(project, tool_env)
    build = project / "out" / "build"
    assert (build / "HelloWorldFunction").is_dir()  # SAM honoured the config
    assert not (project / ".aws-sam" / "build").exists()

    found = status(project, tool_env)
    assert found["build_dir"] == str(build) and built(found)

    done = run(
        [SAMLINK, "invoke", "HelloWorldFunction", "--no-build", "--no-docker"], project, tool_env
    )
    assert json.loads(json.loads(done.stdout)["body"])["message"] == LIVE

    checked = run([SAMLINK, "check", "--json"], project, tool_env, check=False)
    assert checked.returncode == 1, checked.stderr  # it read the build: links would ship
    report = json.loads(checked.stdout)
    assert report["build_dir"] == str(build)
    assert {f["code"] for f in report["findings"]} >= {"link", "linked-dist"}

    # A rebuild samlink runs itself (the template changed: a whole `sam build`) lands there too.
    template = project / "template.yaml"
    later = build.joinpath("template.yaml").stat().st_mtime + 10
    os.utime(template, (later, later))
    done = run([SAMLINK, "invoke", "HelloWorldFunction", "--no-docker"], project, tool_env)
    assert "template changed: running sam build" in done.stderr
    assert json.loads(json.loads(done.stdout)["body"])["message"] == LIVE
    assert build.joinpath("template.yaml").stat().st_mtime >= later - 10
    assert not (project / ".aws-sam" / "build").exists()

    # --build-dir wins over the config: a copy of the build elsewhere, then a typo.
    other = project / "elsewhere"
    shutil.copytree(build, other, symlinks=True)
    found = status(project, tool_env, "--build-dir", "elsewhere")
    assert found["build_dir"] == str(other) and built(found)
    checked = run(
        [SAMLINK, "check", "--json", "--build-dir", "elsewhere"], project, tool_env, check=False
    )
    assert json.loads(checked.stdout)["build_dir"] == str(other)
    shutil.rmtree(build)
    done = run(
        [
            SAMLINK,
            "invoke",
            "HelloWorldFunction",
            "--no-build",
            "--no-docker",
            "--build-dir",
            "elsewhere",
        ],
        project,
        tool_env,
    )
    assert json.loads(json.loads(done.stdout)["body"])["message"] == LIVE
    said = run([SAMLINK, "status", "--build-dir", "nope"], project, tool_env, check=False)
    assert said.returncode == 2 and "build dir nope does not exist" in said.stderr

    # The config's dir gone: "no build" names it, as it names SAM's default.
    said = run([SAMLINK, "check"], project, tool_env, check=False)
    assert said.returncode == 2 and "no build dir at out/build" in said.stderr
    assert "Traceback" not in said.stderr


def test_sam_config_precedence(tmp_path: Path) -> None:
    """SAM's rules for where `sam build` puts its build, on find_build_dir itself."""
    here = tmp_path / "repo"
    project = here / "sam"
    project.mkdir(parents=True)
    template = project / "template.yaml"
    template.write_text("Resources: {}\n")
    relative = Path("sam") / "template.yaml"
    # No config: SAM's default, under the current directory.
    assert find_build_dir(cwd=here, template=relative) == here / ".aws-sam" / "build"
    # The global section alone applies to `sam build` ...
    add_build_dir(project, "global", "from-global")
    assert find_build_dir(cwd=here, template=relative) == here / "from-global"
    # ... the build section wins over it; relative to the current directory, not the config's.
    add_build_dir(project, "build", "from-build")
    assert find_build_dir(cwd=here, template=relative) == here / "from-build"
    assert find_build_dir(cwd=project, template=template) == project / "from-build"
    # Another command's section is not `sam build`'s.
    (project / "samconfig.toml").write_text(
        'version = 0.1\n[default.local_invoke.parameters]\nbuild_dir = "nope"\n'
    )
    assert find_build_dir(cwd=here, template=relative) == here / ".aws-sam" / "build"
    # SAM reads the config next to the template: one in the current directory is not read.
    add_build_dir(here, "build", "beside-cwd")
    assert find_build_dir(cwd=here, template=relative) == here / ".aws-sam" / "build"
    # An absolute build_dir; a samconfig.yaml when there is no toml.
    (project / "samconfig.toml").unlink()
    (project / "samconfig.yaml").write_text(
        f"version: 0.1\ndefault:\n  build:\n    parameters:\n      build_dir: {tmp_path / 'abs'}\n"
    )
    assert find_build_dir(cwd=here, template=relative) == tmp_path / "abs"
    # --build-dir wins over all of it.
    (here / "given").mkdir()
    assert find_build_dir(Path("given"), cwd=here, template=relative) == here / "given"
    # A config SAM cannot read is one line, as SAM refuses it too.
    (project / "samconfig.yaml").write_text("default: [\n")
    with pytest.raises(UsageError, match=r"samconfig\.yaml: cannot read it"):
        find_build_dir(cwd=here, template=relative)


def test_readers_without_a_build_dir_use_the_configs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The runtime's defaults (no --build-dir passed down) follow the SAM config too."""
    from samlink.runtime.docker import built_template

    project = tmp_path / "project"
    project.mkdir()
    template = project / "template.yaml"
    template.write_text("Resources: {}\n")
    add_build_dir(project, "build", "out/build")
    monkeypatch.chdir(project)
    assert built_template(template) == template  # nothing built yet: the source template
    built = project / "out" / "build" / "template.yaml"
    built.parent.mkdir(parents=True)
    built.write_text("Resources: {}\n")
    assert built_template(template) == built
