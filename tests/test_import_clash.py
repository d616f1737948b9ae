"""Two linked libraries that provide the same import package: an error naming both, at link time
and at build time, and a problem in `samlink status`. Real checkouts, real build backends."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from conftest import BIN, LIBS, copy_example, run, sam_build
from samlink.model import links
from samlink.model.project import inspect_project

SAMLINK = BIN / "samlink"


def fork(source: Path, dest: Path, old_name: str, new_name: str) -> Path:
    """A copy of a library under another distribution name, same import packages (a fork)."""
    shutil.copytree(source, dest)
    for name in ("pyproject.toml", "setup.py"):
        meta = dest / name
        if meta.is_file():
            meta.write_text(meta.read_text().replace(f'"{old_name}"', f'"{new_name}"'))
    return dest


def test_link_refuses_build_fails_status_says_so(tmp_path: Path, tool_env: dict[str, str]) -> None:
    project = copy_example(tmp_path / "hello", tool_env)
    run([SAMLINK, "init"], project, tool_env)
    run([SAMLINK, "link", "sam-sync-test-upstream"], project, tool_env)
    registry = project / ".samlink" / "links.json"
    before = registry.read_text()
    other = fork(
        project / "sam-sync-test-upstream",
        tmp_path / "upstream-fork",
        "sam-sync-test-upstream",
        "upstream-fork",
    )

    refused = run(
        [SAMLINK, "link", other, "--function", "HelloWorldFunction"], project, tool_env, False
    )
    assert refused.returncode == 2, refused.stderr
    (line,) = refused.stderr.strip().splitlines()
    assert line.startswith("samlink: error: ") and "(hint: `samlink unlink" in line
    assert "sam-sync-test-upstream and upstream-fork both provide the import package " in line
    assert "sam_sync_test_upstream" in line and "HelloWorldFunction" in line
    assert registry.read_text() == before  # nothing written

    # The registry can still come to hold both (edited by hand, or the fork grew the package
    # after it was linked): status flags both, and the build refuses, naming both.
    data = json.loads(before)
    data["links"].append(
        {"name": "upstream-fork", "path": str(other), "functions": ["HelloWorldFunction"]}
    )
    registry.write_text(json.dumps(data))
    status = json.loads(run([SAMLINK, "status", "--json"], project, tool_env).stdout)
    problems = {item["name"]: item["problems"] for item in status["links"]}
    for name in ("sam-sync-test-upstream", "upstream-fork"):
        assert any(
            "both provide the import package sam_sync_test_upstream" in p for p in problems[name]
        )

    failed = run([BIN / "sam", "build"], project, tool_env, check=False)
    assert failed.returncode != 0
    assert "sam-sync-test-upstream and upstream-fork both provide the import package" in (
        failed.stdout + failed.stderr
    )
    direct = run(
        [SAMLINK, "build", "HelloWorldFunction"],
        project,
        {**tool_env, "ARTIFACTS_DIR": str(tmp_path / "artifacts")},
        check=False,
    )
    assert direct.returncode == 2
    assert direct.stderr.strip().splitlines() == [direct.stderr.strip()]
    assert "HelloWorldFunction: sam-sync-test-upstream and upstream-fork" in direct.stderr
    assert "(hint: `samlink unlink upstream-fork`" in direct.stderr

    run([SAMLINK, "unlink", "upstream-fork"], project, tool_env)
    sam_build(project, tool_env)

    # Seed-style local lines clash the same way; the hint names the lines.
    run([SAMLINK, "unlink", "--all"], project, tool_env)
    requirements = project / "hello_world" / "requirements.txt"
    requirements.write_text(f"-e ../sam-sync-test-upstream\n-e {other}\n")
    lines = run(
        [SAMLINK, "build", "HelloWorldFunction"],
        project,
        {**tool_env, "ARTIFACTS_DIR": str(tmp_path / "artifacts-lines")},
        check=False,
    )
    assert lines.returncode == 2, lines.stderr
    assert "keep one of the lines requirements.txt:1 and requirements.txt:2" in lines.stderr


def test_namespace_packages_clash_only_where_both_provide_the_same_name(tmp_path: Path) -> None:
    ns_src = inspect_project(shutil.copytree(LIBS / "ns_src", tmp_path / "ns_src"))
    ns_flat = inspect_project(shutil.copytree(LIBS / "ns_flat", tmp_path / "ns_flat"))
    # acme.nsutil and acme.nsflat: two portions of one namespace package, as PEP 420 means.
    assert links.import_clashes([ns_src, ns_flat]) == []
    twin = inspect_project(fork(LIBS / "ns_src", tmp_path / "twin", "acme-ns-util", "acme-twin"))
    (clash,) = links.import_clashes([ns_src, ns_flat, twin])
    assert (clash.module, clash.first, clash.second) == ("acme.nsutil", "acme-ns-util", "acme-twin")
    # A module and a package of one name clash too (mod.py against mod/).
    single = inspect_project(shutil.copytree(LIBS / "single_mod", tmp_path / "single"))
    package = tmp_path / "pkg_form"
    (package / "acme_single").mkdir(parents=True)
    (package / "acme_single" / "__init__.py").write_text("")
    (package / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'
        '[project]\nname = "acme-single-pkg"\nversion = "1.0"\n'
        '[tool.hatch.build.targets.wheel]\npackages = ["acme_single"]\n'
    )
    (clash,) = links.import_clashes([single, inspect_project(package)])
    assert clash.module == "acme_single"
