"""A linked library whose Requires-Python excludes the runtime: link, build and doctor say so."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import BIN, copy_example, run, sam_build

SAMLINK = BIN / "samlink"


def new_lib(tmp: Path, requires: str) -> Path:
    lib = tmp / "newlib"
    (lib / "src" / "acme_new").mkdir(parents=True)
    (lib / "src" / "acme_new" / "__init__.py").write_text("VALUE = 1\n")
    (lib / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n\n'
        f'[project]\nname = "acme-new"\nversion = "2.0.0"\nrequires-python = "{requires}"\n\n'
        '[tool.hatch.build.targets.wheel]\npackages = ["src/acme_new"]\n'
    )
    return lib


def warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "requires Python" in line]


def test_link_build_and_doctor_warn_when_requires_python_excludes_the_runtime(
    tmp_path: Path, tool_env: dict[str, str]
) -> None:
    project = copy_example(tmp_path / "proj", tool_env)
    run([SAMLINK, "init"], project, tool_env)
    lib = new_lib(tmp_path, ">=3.13")
    linked = run([SAMLINK, "link", lib, "--function", "HelloWorldFunction"], project, tool_env)
    (line,) = warnings(linked.stderr)
    assert "acme-new 2.0.0 requires Python >=3.13, not 3.12" in line
    assert "HelloWorldFunction" in line

    # What the make target runs: on stdout, which SAM shows (make's stderr only on a failure).
    env = {**tool_env, "ARTIFACTS_DIR": str(tmp_path / "artifacts")}
    built = run(
        [SAMLINK, "build", "HelloWorldFunction", "--template", "../template.yaml"],
        project / "hello_world",
        env,
    )
    (line,) = warnings(built.stdout)
    assert "HelloWorldFunction" in line and ">=3.13" in line
    assert (tmp_path / "artifacts" / "acme_new").is_symlink()
    # The warning does not fail SAM's build, and SAM shows it, from a full build or a replay.
    for _ in range(2):
        shown = sam_build(project, tool_env)
        assert [w for w in warnings(shown.stdout + shown.stderr) if "HelloWorldFunction" in w]

    done = run([SAMLINK, "doctor", "--json"], project, tool_env, check=False)
    checks = json.loads(done.stdout)["checks"]
    (found,) = [c for c in checks if c["check"] == "link-python"]
    assert found["status"] == "warn" and found["subject"] == "acme-new"
    assert ">=3.13" in found["message"] and "HelloWorldFunction" in found["message"]


def test_no_warning_when_the_runtime_is_allowed(tmp_path: Path, tool_env: dict[str, str]) -> None:
    project = copy_example(tmp_path / "proj")
    lib = new_lib(tmp_path, ">=3.12.3,<4")
    linked = run([SAMLINK, "link", lib, "--function", "HelloWorldFunction"], project, tool_env)
    assert warnings(linked.stderr) == []
