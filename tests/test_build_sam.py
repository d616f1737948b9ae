"""`samlink init` + `samlink link` + the real `sam build`: live links, Lambda-correct deps."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from conftest import BIN, call_handler, copy_example, copy_lib, run, sam_build

pytestmark = pytest.mark.sam

SAMLINK = BIN / "samlink"


def listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if "__pycache__" not in p.parts)


def message(result: object) -> str:
    import json

    assert isinstance(result, dict)
    return str(json.loads(result["body"])["message"])


@pytest.mark.parametrize("in_source", [False, True], ids=["temp-copy", "build-in-source"])
def test_hello_world_live_edits_then_pinned(
    tmp_path: Path, tool_env: dict[str, str], in_source: bool
) -> None:
    project = copy_example(tmp_path / "hello world", tool_env)  # a space in the path, on purpose
    upstream = project / "sam-sync-test-upstream"
    run([SAMLINK, "init"], project, tool_env)
    before_checkout = listing(upstream)
    before_code = listing(project / "hello_world")
    run([SAMLINK, "link", "./sam-sync-test-upstream"], project, tool_env)
    args = ["--build-in-source"] if in_source else []
    built = sam_build(project, tool_env, *args)
    assert "DEV BUILD with live links" in built.stdout + built.stderr
    # Where plain SAM cannot mount the links, the build output says so and names the way out.
    assert "`sam local start-api`/`start-lambda` cannot" in built.stdout + built.stderr
    build_dir = project / ".aws-sam" / "build" / "HelloWorldFunction"
    assert message(call_handler(build_dir)) == "hello world from sam-sync-test-upstream 1.1.0.dev0"

    # Edit the library and the function: the next call sees both, with no rebuild.
    init_py = upstream / "src" / "sam_sync_test_upstream" / "__init__.py"
    init_py.write_text(init_py.read_text().replace('f"hello {target}', 'f"howdy {target}'))
    app = project / "hello_world" / "app.py"
    app.write_text(app.read_text().replace('"statusCode": 200', '"statusCode": 201'))
    result = call_handler(build_dir)
    assert isinstance(result, dict)
    assert result["statusCode"] == 201
    assert message(result) == "howdy world from sam-sync-test-upstream 1.1.0.dev0"

    # samlink wrote nothing into the checkout or the code dir (beyond init's Makefile).
    assert listing(upstream) == before_checkout
    assert [p for p in listing(project / "hello_world") if "__pycache__" not in p] == before_code

    # Back to the pinned release from the team's wheelhouse.
    run([SAMLINK, "unlink", "--all"], project, tool_env)
    rebuilt = sam_build(project, tool_env, *args)
    assert "DEV BUILD" in rebuilt.stdout + rebuilt.stderr  # the function's own code is still live
    assert message(call_handler(build_dir)) == "hello world from sam-sync-test-upstream 1.0.0"
    assert not (build_dir / "sam_sync_test_upstream").is_symlink()


LIBS = {
    # fixture dir: (distribution, module to import)
    "st_src": ("acme-st-src", "acme_st_src"),
    "st_flat": ("acme-st-flat", "acme_st_flat"),
    "hatch_lib": ("acme-hatch", "acme_hatch"),
    "flit_lib": ("acme_flit", "acme_flit"),
    "poetry_lib": ("acme-poetry", "acme_poetry"),
    "pdm_lib": ("acme-pdm", "acme_pdm"),
    "ns_src": ("acme-ns-util", "acme.nsutil"),
    "single_mod": ("acme-single", "acme_single"),
    "renamed": ("Upstream-Lib", "upstream_core"),
}

ALL_APP = """
import importlib
MODULES = {modules!r}

def lambda_handler(event, context):
    values = {{name: importlib.import_module(name).value() for name in MODULES}}
    import acme_st_src
    values["data"] = acme_st_src.data()
    values["app"] = "app v1"
    return values
"""

TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.11  # the host's version, so the test can load the handler
    Handler: app.lambda_handler
Resources:
  AllLibs:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn/
"""


def test_every_backend_and_layout_is_live(
    tmp_path: Path, tool_env: dict[str, str], wheelhouse: Path
) -> None:
    checkouts = tmp_path / "checkouts"
    checkouts.mkdir()
    project = tmp_path / "my project"
    (project / "fn").mkdir(parents=True)
    (project / "template.yaml").write_text(TEMPLATE)
    modules = [module for _dist, module in LIBS.values()]
    (project / "fn" / "app.py").write_text(ALL_APP.format(modules=modules))
    pins = "\n".join(f"{dist}==1.0.0" for dist, _module in LIBS.values())
    (project / "fn" / "requirements.txt").write_text(f"--find-links {wheelhouse}\n{pins}\n")
    run([SAMLINK, "init"], project, tool_env)
    for name in LIBS:
        run([SAMLINK, "link", copy_lib(name, checkouts)], project, tool_env)
    sam_build(project, tool_env)
    build_dir = project / ".aws-sam" / "build" / "AllLibs"
    expected = {
        "acme_st_src": "st_src v1",
        "acme_st_flat": "st_flat v1",
        "acme_hatch": "hatch v1",
        "acme_flit": "flit v1",
        "acme_poetry": "poetry v1",
        "acme_pdm": "pdm v1",
        "acme.nsutil": "ns v1",
        "acme_single": "single v1",
        "upstream_core": "renamed v1",
        "data": "data v1",
        "app": "app v1",
    }
    assert call_handler(build_dir) == expected

    # Only import packages are reachable: never a project root's .git, .venv or tests.
    for entry in build_dir.iterdir():
        if entry.is_symlink():
            target = entry.resolve()
            assert not (target / ".git").exists() and not (target / "pyproject.toml").exists(), (
                entry
            )
    # importlib.metadata sees the linked distributions, at the checkout's version.
    dist_infos = {p.name for p in build_dir.glob("*.dist-info")}
    assert "acme_st_src-1.0.0.dist-info" in dist_infos
    assert (build_dir / "six.py").is_file() and not (build_dir / "six.py").is_symlink()

    # Edit every library and the function: live, no rebuild.
    for name, (_dist, module) in LIBS.items():
        source = next(
            (checkouts / name).rglob(
                module.split(".")[-1] + ("/__init__.py" if name != "single_mod" else ".py")
            )
        )
        source.write_text(source.read_text().replace(' v1"', ' v2"'))
    data = next((checkouts / "st_src").rglob("data.txt"))
    data.write_text("data v2\n")
    app = project / "fn" / "app.py"
    app.write_text(app.read_text().replace("app v1", "app v2"))
    assert call_handler(build_dir) == {
        key: value.replace("v1", "v2") for key, value in expected.items()
    }

    # The zip SAM would upload (its own helper) holds no .git, .venv or tests of a linked project.
    from samcli.lib.package.utils import make_zip

    zip_path = make_zip(str(tmp_path / "upload"), str(build_dir))
    names = zipfile.ZipFile(zip_path).namelist()
    assert not [n for n in names if n.split("/")[0] in (".git", ".venv", "tests")]
    assert not [n for n in names if "/.git/" in n or "/.venv/" in n or n.startswith("tests/")]
    assert "acme_st_src/data.txt" in names and "acme_single.py" in names

    # Unlink: the pinned releases come back as real files.
    run([SAMLINK, "unlink", "--all"], project, tool_env)
    sam_build(project, tool_env)
    assert call_handler(build_dir) == {**expected, "app": "app v2"}
    assert not [e for e in build_dir.iterdir() if e.is_symlink() and e.name != "app.py"]
