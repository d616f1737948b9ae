"""Build dirs found as SAM finds them, and a release guard that never says ok without looking.

Real `sam build` of the example with its template in a subfolder (`sam/template.yaml`), run from
the parent folder as a team with an `infra/` or `sam/` folder does: SAM writes `.aws-sam/build`
under the directory it runs in. Then check, invoke, status and doctor from that folder, a typo
in --build-dir, no build at all, a sync build (a linked checkout's dist-info), and release builds
that lack a pinned distribution or hold another version of it.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import jsonschema
import pytest

from conftest import BIN, ROOT, copy_example, run, sam_build

SAMLINK = BIN / "samlink"
SCHEMA = json.loads((ROOT / "docs" / "schemas" / "check.schema.json").read_text())
UPSTREAM = "sam-sync-test-upstream"
LIVE = f"hello world from {UPSTREAM} 1.1.0.dev0"


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


def refused(where: Path, env: dict[str, str], *args: str) -> str:
    """A command that must stop with exit 2 and one line; its stderr."""
    done = run([SAMLINK, *args], where, env, check=False)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    return done.stderr


def status(where: Path, env: dict[str, str], *args: str) -> dict[str, object]:
    found: dict[str, object] = json.loads(
        run([SAMLINK, "status", "--json", *args], where, env).stdout
    )
    return found


def build_checks(where: Path, env: dict[str, str], *args: str) -> list[dict[str, object]]:
    done = run([SAMLINK, "doctor", "--json", *args], where, env, check=False)
    return [c for c in json.loads(done.stdout)["checks"] if c["check"] == "build"]


@pytest.fixture
def nested(tmp_path: Path, tool_env: dict[str, str]) -> Path:
    """The example with its template in `sam/`, set up and linked; returns the parent folder."""
    top = tmp_path / "repo"
    project = copy_example(top / "sam", tool_env)
    run([SAMLINK, "init"], project, tool_env)
    run([SAMLINK, "link", f"./{UPSTREAM}"], project, tool_env)
    return top


@pytest.mark.sam
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="invoke's sandbox is Linux's")
def test_commands_find_the_build_sam_made_from_the_parent_folder(
    nested: Path, tool_env: dict[str, str]
) -> None:
    sam_build(nested, tool_env, "-t", "sam/template.yaml")
    build = nested / ".aws-sam" / "build"
    assert (build / "HelloWorldFunction").is_dir()
    assert not (nested / "sam" / ".aws-sam").exists()

    # check reads that build: its links and the linked checkout's dist-info fail it.
    status_code, report = check(nested, tool_env, "-t", "sam/template.yaml")
    assert status_code == 1 and report["build_dir"] == str(build)
    found = codes(report)
    assert {f["file"] for f in found["link"]} == {
        str(build / "HelloWorldFunction" / "app.py"),  # outside the template's folder: absolute
        str(build / "HelloWorldFunction" / "sam_sync_test_upstream"),
    }
    (linked,) = found["linked-dist"]
    assert str(linked["message"]).startswith(f"{UPSTREAM} 1.1.0.dev0 is installed from the live")
    assert str(nested / "sam" / UPSTREAM) in str(linked["message"])
    assert "not the pinned ==1.0.0" in str(linked["message"])

    # invoke, status and doctor see the same build.
    done = run(
        [SAMLINK, "invoke", "HelloWorldFunction", "-t", "sam/template.yaml"], nested, tool_env
    )
    assert json.loads(json.loads(done.stdout)["body"])["message"] == LIVE
    found_status = status(nested, tool_env, "-t", "sam/template.yaml")
    assert found_status["build_dir"] == str(build)
    (fn,) = [r for r in found_status["resources"] if r["id"] == "HelloWorldFunction"]  # type: ignore[attr-defined]
    assert fn["built"] is True and fn["links"] == [UPSTREAM]
    (current,) = build_checks(nested, tool_env, "-t", "sam/template.yaml")
    assert current["status"] == "ok" and "build is current" in str(current["message"])

    # The same build, made by `sam build` run inside sam/: not where SAM looks from here.
    shutil.move(str(nested / ".aws-sam"), str(nested / "sam" / ".aws-sam"))
    beside = "--build-dir sam/.aws-sam/build"
    assert beside in refused(nested, tool_env, "check", "-t", "sam/template.yaml")
    said = refused(nested, tool_env, "invoke", "HelloWorldFunction", "-t", "sam/template.yaml")
    assert "HelloWorldFunction is not built: no build dir at .aws-sam/build" in said
    assert beside in said
    found_status = status(nested, tool_env, "-t", "sam/template.yaml")
    (fn,) = [r for r in found_status["resources"] if r["id"] == "HelloWorldFunction"]  # type: ignore[attr-defined]
    assert fn["built"] is False
    human = run([SAMLINK, "status", "-t", "sam/template.yaml"], nested, tool_env).stdout
    assert beside in " ".join(human.split())  # and says where the build is
    warned = [c for c in build_checks(nested, tool_env, "-t", "sam/template.yaml")]
    assert any(c["status"] == "warn" and beside in str(c["fix"]) for c in warned)

    # Named with --build-dir, every command reads it.
    named = ("-t", "sam/template.yaml", "--build-dir", "sam/.aws-sam/build")
    status_code, report = check(nested, tool_env, *named)
    assert status_code == 1 and report["build_dir"] == str(nested / "sam" / ".aws-sam" / "build")
    done = run([SAMLINK, "invoke", "HelloWorldFunction", *named], nested, tool_env)
    assert json.loads(json.loads(done.stdout)["body"])["message"] == LIVE
    found_status = status(nested, tool_env, *named)
    (fn,) = [r for r in found_status["resources"] if r["id"] == "HelloWorldFunction"]  # type: ignore[attr-defined]
    assert fn["built"] is True
    (current,) = build_checks(nested, tool_env, *named)
    assert current["status"] == "ok" and "build is current" in str(current["message"])

    # A typo in --build-dir is exit 2 for each, never "nothing built" or "sources only".
    typo = ("-t", "sam/template.yaml", "--build-dir", "sam/.aws-sam/biuld")
    for command in (["check"], ["invoke", "HelloWorldFunction"], ["status"], ["doctor"]):
        said = refused(nested, tool_env, *command, *typo)
        assert "build dir sam/.aws-sam/biuld does not exist" in said, command

    # Sources only, when asked for: no build dir read or needed.
    status_code, report = check(nested, tool_env, "-t", "sam/template.yaml", "--sources-only")
    assert (status_code, report["build_dir"], report["findings"]) == (0, None, [])


@pytest.mark.sam
def test_no_build_is_exit_2_unless_sources_only(nested: Path, tool_env: dict[str, str]) -> None:
    said = refused(nested / "sam", tool_env, "check")
    assert "no build dir at .aws-sam/build" in said
    assert "--sources-only" in said and "SAMLINK_RELEASE=1 sam build" in said
    status_code, report = check(nested / "sam", tool_env, "--sources-only")
    assert (status_code, report["build_dir"]) == (0, None)
    human = run([SAMLINK, "check", "--sources-only"], nested / "sam", tool_env)
    assert "sources only" in human.stderr


@pytest.mark.sam
def test_a_sync_build_fails_check_naming_the_linked_distribution(
    nested: Path, tool_env: dict[str, str]
) -> None:
    project = nested / "sam"
    # What `samlink sync` has SAM build: real files, no links, the checkout's dist-info.
    sam_build(project, {**tool_env, "SAMLINK_SYNC": "1"})
    built = project / ".aws-sam" / "build" / "HelloWorldFunction"
    assert not [p for p in built.iterdir() if p.is_symlink()]
    info = built / "sam_sync_test_upstream-1.1.0.dev0.dist-info"
    direct = json.loads((info / "direct_url.json").read_text())
    assert direct == {
        "url": (project / UPSTREAM).resolve().as_uri(),
        "dir_info": {"editable": True},
    }

    status_code, report = check(project, tool_env)
    assert status_code == 1
    found = codes(report)
    assert set(found) == {"linked-dist"}
    (linked,) = found["linked-dist"]
    assert linked["resource"] == "HelloWorldFunction"
    assert linked["file"] == ".aws-sam/build/HelloWorldFunction/" + info.name
    assert f"{UPSTREAM} 1.1.0.dev0 is installed from the live checkout" in str(linked["message"])
    human = run([SAMLINK, "check"], project, tool_env, check=False)
    assert human.returncode == 1 and "SAMLINK_RELEASE=1 sam build" in human.stdout


@pytest.mark.sam
def test_a_release_build_must_hold_every_pinned_distribution(
    nested: Path, tool_env: dict[str, str]
) -> None:
    project = nested / "sam"
    sam_build(project, {**tool_env, "SAMLINK_RELEASE": "1"})
    status_code, report = check(project, tool_env)
    assert (status_code, report["findings"]) == (0, [])
    built = project / ".aws-sam" / "build" / "HelloWorldFunction"
    info = built / "sam_sync_test_upstream-1.0.0.dist-info"
    package = built / "sam_sync_test_upstream"

    # Its package gone, its dist-info left: still missing.
    shutil.move(str(package), str(nested / "aside"))
    status_code, report = check(project, tool_env)
    (missing,) = codes(report)["pin-missing"]
    assert status_code == 1 and "not sam_sync_test_upstream" in str(missing["message"])
    assert (missing["file"], missing["line"]) == ("hello_world/requirements.txt", 5)
    shutil.move(str(nested / "aside"), str(package))

    # Another version than the pin.
    metadata = info / "METADATA"
    original = metadata.read_text()
    metadata.write_text(original.replace("Version: 1.0.0", "Version: 0.9.0", 1))
    status_code, report = check(project, tool_env)
    (other,) = codes(report)["pin-mismatch"]
    assert status_code == 1 and "0.9.0 in the build" in str(other["message"])
    assert "==1.0.0" in str(other["message"])
    metadata.write_text(original)

    # The dist-info and the package both gone: a deploy would ship without it.
    shutil.rmtree(info)
    shutil.rmtree(package)
    status_code, report = check(project, tool_env)
    assert status_code == 1
    (missing,) = codes(report)["pin-missing"]
    assert str(missing["message"]).startswith(f"{UPSTREAM}==1.0.0 is pinned but not in the build")

    # A function of the template not in the build at all.
    shutil.rmtree(built)
    status_code, report = check(project, tool_env)
    (unbuilt,) = codes(report)["not-built"]
    assert status_code == 1 and unbuilt["resource"] == "HelloWorldFunction"


def dist_info(site: Path, name: str, version: str, installer: str, record: list[str]) -> Path:
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "INSTALLER").write_text(f"{installer}\n")
    (info / "RECORD").write_text("".join(f"{row},,\n" for row in [*record, f"{info.name}/RECORD"]))
    return info


def test_pins_follow_markers_and_operators_and_tell_links_from_vendored_copies(
    tmp_path: Path,
) -> None:
    """The rule on hand-made build dirs: what counts as a pin, what counts as a link."""
    from samlink.audit import pins
    from samlink.model.template import load_template

    (tmp_path / "fn").mkdir()
    (tmp_path / "layer").mkdir()
    (tmp_path / "fn" / "requirements.txt").write_text(
        "six==1.17.0\n"
        'old-only==1.0 ; python_version < "3.10"\n'  # not for python3.12: not required
        'arm-only==1.0 ; platform_machine == "aarch64"\n'  # not for x86_64
        "exact===2.0\n"
        "loose>=1.0\n"  # not a pin: nothing to prove
        "wild==1.*\n"  # not a pin either
        "vendored==0.1\n"
        "old-link==3.0\n"
    )
    (tmp_path / "layer" / "requirements.txt").write_text("six==1.17.0\n")
    (tmp_path / "template.yaml").write_text(
        "Transform: AWS::Serverless-2016-10-31\nResources:\n"
        "  Fn:\n    Type: AWS::Serverless::Function\n"
        "    Properties: {CodeUri: fn/, Handler: app.h, Runtime: python3.12}\n"
        "  Plain:\n    Type: AWS::Serverless::LayerVersion\n"  # no BuildMethod: not built
        "    Properties: {ContentUri: layer/, CompatibleRuntimes: [python3.12]}\n"
    )
    template = load_template(tmp_path / "template.yaml")
    root = tmp_path / "build"
    site = root / "Fn"
    dist_info(site, "six", "1.17.0", "uv", ["six.py"])
    (site / "six.py").write_text("")
    dist_info(site, "exact", "2.0", "uv", [])
    # --allow-local's vendored copy: real files in RECORD, no link mark.
    dist_info(site, "vendored", "0.1", "samlink", ["vendored/__init__.py"])
    (site / "vendored").mkdir()
    (site / "vendored" / "__init__.py").write_text("")
    # A vendored meta-package (a wheel with no files of its own): real, not a link.
    meta = dist_info(site, "meta", "1.0", "samlink", ["meta-1.0.dist-info/WHEEL"])
    (meta / "WHEEL").write_text("Wheel-Version: 1.0\n")
    # A link of a build made before the direct_url.json mark: only its own metadata in RECORD.
    dist_info(site, "old-link", "3.0", "samlink", ["old_link-3.0.dist-info/METADATA"])

    found = pins.problems(template, root)
    assert [(p.code, p.resource) for p in found] == [("linked-dist", "Fn")]
    assert "old-link 3.0 is installed from a live checkout (a dev" in found[0].message

    (site / "six.py").unlink()
    codes = sorted(p.code for p in pins.problems(template, root))
    assert codes == ["linked-dist", "pin-missing"]


def test_one_lookup_for_every_reader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """find_build_dir is SAM's rule; the keeper behind `samlink watch` and the runtime use it."""
    from samlink.build.location import built_template, find_build_dir
    from samlink.errors import UsageError
    from samlink.live.keeper import Keeper
    from samlink.live.sync import Console
    from samlink.runtime.docker import built_template as docker_template

    project = tmp_path / "repo"
    (project / "sam").mkdir(parents=True)
    template = project / "sam" / "template.yaml"
    template.write_text("Resources: {}\n")
    monkeypatch.chdir(project)
    assert find_build_dir() == project / ".aws-sam" / "build"
    (project / "out").mkdir()
    assert find_build_dir(Path("out")) == project / "out"  # relative to here, as SAM's option
    with pytest.raises(UsageError, match="build dir nope does not exist"):
        find_build_dir(Path("nope"))
    (project / "file").write_text("")
    with pytest.raises(UsageError, match="build dir file is not a directory"):
        find_build_dir(Path("file"))
    keeper = Keeper(template, None, (), console=Console())
    assert keeper.build_root == (project / ".aws-sam" / "build").resolve()
    built = built_template(project / ".aws-sam" / "build")
    built.parent.mkdir(parents=True)
    built.write_text("Resources: {}\n")
    assert docker_template(template) == built
