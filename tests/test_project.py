"""samlink.model.project against real builds: uv (and pip) run real backends on fixture trees."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from samlink.errors import UsageError
from samlink.model.project import (
    LEGACY_BACKEND,
    ImportRoot,
    build_wheel,
    fingerprint,
    inspect_project,
    is_python_project,
    map_wheel,
    quick_name,
)

LIBS = Path(__file__).parent / "fixtures" / "libs"

# dir: (dist name, requires, backend, [(import name, kind, source, path_root)]), paths from the root
EXPECTED: dict[str, tuple[str, tuple[str, ...], str, list[tuple[str, str, str, str]]]] = {
    "st_src": (
        "acme-st-src",
        ("six>=1.16",),
        "setuptools.build_meta",
        [("acme_st_src", "package", "src/acme_st_src", "src")],
    ),
    "st_flat": (
        "acme-st-flat",
        (),
        LEGACY_BACKEND,
        [("acme_st_flat", "package", "acme_st_flat", ".")],
    ),
    "hatch_lib": (
        "acme-hatch",
        ("six",),
        "hatchling.build",
        [("acme_hatch", "package", "src/acme_hatch", "src")],
    ),
    "flit_lib": (
        "acme_flit",
        (),
        "flit_core.buildapi",
        [("acme_flit", "package", "acme_flit", ".")],
    ),
    "poetry_lib": (
        "acme-poetry",
        (),
        "poetry.core.masonry.api",
        [("acme_poetry", "package", "src/acme_poetry", "src")],
    ),
    "pdm_lib": ("acme-pdm", (), "pdm.backend", [("acme_pdm", "package", "src/acme_pdm", "src")]),
    "ns_src": (
        "acme-ns-util",
        (),
        "setuptools.build_meta",
        [("acme", "namespace", "src/acme", "src")],
    ),
    "ns_flat": ("acme-ns-flat", (), "hatchling.build", [("acme", "namespace", "acme", ".")]),
    "single_mod": (
        "acme-single",
        (),
        "flit_core.buildapi",
        [("acme_single.py", "module", "acme_single.py", ".")],
    ),
    "renamed": (
        "Upstream-Lib",
        (),
        "setuptools.build_meta",
        [("upstream_core", "package", "src/upstream_core", "src")],
    ),
}


def snapshot(root: Path) -> dict[str, str]:
    """Every entry under root (hidden ones and .git included) with its content or link target."""
    entries: dict[str, str] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder, name)
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                entries[rel] = "-> " + os.readlink(path)
            elif path.is_dir():
                entries[rel] = "dir"
            else:
                entries[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return entries


def copy_fixture(name: str, dest: Path) -> Path:
    root = dest / name
    shutil.copytree(LIBS / name, root)
    return root


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


@pytest.mark.parametrize("fixture", sorted(EXPECTED))
def test_fixture_inspected_and_checkout_untouched(fixture: str, tmp_path: Path) -> None:
    root = copy_fixture(fixture, tmp_path)
    before = snapshot(root)

    info = inspect_project(root)

    assert snapshot(root) == before  # no egg-info, build/, caches or locks in the checkout
    name, requires, backend, imports = EXPECTED[fixture]
    assert (info.name, info.version, info.requires, info.backend) == (
        name,
        "1.0.0",
        requires,
        backend,
    )
    assert info.root == root.resolve()
    assert f"Name: {name}" in info.metadata
    got = [
        (
            item.name,
            item.kind,
            item.source.relative_to(info.root).as_posix(),
            item.path_root.relative_to(info.root).as_posix(),
        )
        for item in info.imports
    ]
    assert got == imports
    assert info.unmapped == ()
    assert info.fingerprint == fingerprint(root)
    for item in info.imports:
        assert item.source.exists()
        assert "tests" not in item.source.relative_to(info.root).parts


def test_package_data_is_mapped_to_the_live_file(tmp_path: Path) -> None:
    info = inspect_project(copy_fixture("st_src", tmp_path))
    (package,) = info.imports
    assert (package.source / "data.txt").read_text().strip() == "data v1"


def test_fixtures_in_the_repository_stay_clean() -> None:
    # The shared fixtures themselves: other tests link them, so nothing may appear in them.
    before = snapshot(LIBS / "hatch_lib")
    inspect_project(LIBS / "hatch_lib")
    assert snapshot(LIBS / "hatch_lib") == before


def test_any_package_dir_mapping(tmp_path: Path) -> None:
    root = tmp_path / "odd"
    write(
        root / "pyproject.toml",
        """\
        [build-system]
        requires = ["setuptools>=61"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "odd"
        version = "2.0"

        [tool.setuptools]
        packages = ["acme_odd", "acme_odd.sub"]
        package-dir = {"acme_odd" = "code/lib"}
        """,
    )
    write(root / "code/lib/__init__.py", "VALUE = 1\n")
    write(root / "code/lib/sub/__init__.py", "")
    # A decoy with the right name but fewer of the wheel's files.
    write(root / "tests/acme_odd/__init__.py", "")

    info = inspect_project(root)

    (package,) = info.imports
    assert (package.name, package.kind) == ("acme_odd", "package")
    assert package.source == root.resolve() / "code/lib"


def test_package_called_build_under_src(tmp_path: Path) -> None:
    # Only the root's build/ is output; src/build is a package (as in pypa/build).
    root = tmp_path / "proj"
    write(
        root / "pyproject.toml",
        """\
        [build-system]
        requires = ["hatchling"]
        build-backend = "hatchling.build"

        [project]
        name = "proj"
        version = "0.1"

        [tool.hatch.build.targets.wheel]
        packages = ["src/build"]
        """,
    )
    write(root / "src/build/__init__.py", "")

    info = inspect_project(root)

    assert [(i.name, i.source) for i in info.imports] == [("build", root.resolve() / "src/build")]


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_version_from_git_in_a_monorepo_and_git_untouched(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    root = repo / "libs" / "scmlib"
    write(
        root / "pyproject.toml",
        """\
        [build-system]
        requires = ["setuptools>=64", "setuptools-scm>=8"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "scmlib"
        dynamic = ["version"]

        [tool.setuptools_scm]
        root = "../.."
        version_file = "src/scmlib/_version.py"
        """,
    )
    write(root / "src/scmlib/__init__.py", "")
    write(repo / "README", "elsewhere in the repo\n")
    write(repo / ".gitignore", "_version.py\n")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-C", str(repo)]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "init"], check=True)
    subprocess.run([*git, "tag", "v1.2.3"], check=True)
    before = snapshot(repo)

    info = inspect_project(root)

    assert info.version == "1.2.3"  # clean: files outside the library do not count as deleted
    # setuptools-scm generated _version.py in the copy: the checkout has no such file.
    assert info.unmapped == ("scmlib/_version.py",)
    assert snapshot(repo) == before  # .git (index included) and the tree are untouched


def test_fingerprint_ignores_code_edits_and_tool_output(tmp_path: Path) -> None:
    root = copy_fixture("st_src", tmp_path)
    first = fingerprint(root)
    module = root / "src/acme_st_src/__init__.py"
    module.write_text(module.read_text().replace("st_src v1", "st_src v2"))
    for junk in ("build/lib", "src/acme_st_src.egg-info", ".pytest_cache", "src/__pycache__"):
        (root / junk).mkdir(parents=True)
    (root / "venv").mkdir()
    (root / "venv/pyvenv.cfg").write_text("home = /usr/bin\n")
    assert fingerprint(root) == first


def test_fingerprint_changes_with_metadata_or_layout(tmp_path: Path) -> None:
    root = copy_fixture("st_src", tmp_path)
    first = fingerprint(root)
    pyproject = root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"six>=1.16"', '"six>=1.17"'))
    second = fingerprint(root)
    assert second != first
    (root / "src/acme_other").mkdir()
    assert fingerprint(root) != second


def test_quick_name(tmp_path: Path) -> None:
    assert quick_name(LIBS / "st_src") == "acme-st-src"
    assert quick_name(LIBS / "renamed") == "Upstream-Lib"
    assert quick_name(LIBS / "st_flat") is None  # setup.py only: needs a build
    write(tmp_path / "cfg/setup.cfg", "[metadata]\nname = from-cfg\n")
    assert quick_name(tmp_path / "cfg") == "from-cfg"
    write(tmp_path / "broken/pyproject.toml", "[project\n")
    assert quick_name(tmp_path / "broken") is None


def test_is_python_project(tmp_path: Path) -> None:
    assert all(is_python_project(LIBS / name) for name in EXPECTED)
    write(tmp_path / "tool_only/pyproject.toml", "[tool.ruff]\nline-length = 100\n")
    assert not is_python_project(tmp_path / "tool_only")
    assert not is_python_project(tmp_path)
    write(tmp_path / "broken/pyproject.toml", "[project\n")
    assert is_python_project(tmp_path / "broken")


def test_not_a_project(tmp_path: Path) -> None:
    write(tmp_path / "notes.txt", "hello\n")
    with pytest.raises(UsageError, match="is not a Python project"):
        inspect_project(tmp_path)
    with pytest.raises(UsageError, match="does not exist"):
        inspect_project(tmp_path / "missing")


def test_broken_pyproject(tmp_path: Path) -> None:
    root = copy_fixture("hatch_lib", tmp_path)
    (root / "pyproject.toml").write_text('[project]\nname = "x\n')
    with pytest.raises(UsageError, match=r"pyproject\.toml is not valid TOML"):
        inspect_project(root)


def test_backend_failure_reports_its_last_line(tmp_path: Path) -> None:
    root = copy_fixture("st_flat", tmp_path)
    (root / "setup.py").write_text('raise SystemExit("setup.py says no: missing config")\n')
    before = snapshot(root)
    with pytest.raises(UsageError) as caught:
        inspect_project(root)
    assert caught.value.message.endswith("setup.py says no: missing config")
    assert str(root.resolve()) in caught.value.message
    assert snapshot(root) == before


def test_unsatisfiable_build_requirement(tmp_path: Path) -> None:
    root = copy_fixture("hatch_lib", tmp_path)
    pyproject = root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('["hatchling"]', '["hatchling<0.0.1"]'))
    with pytest.raises(UsageError, match=r"cannot build .*hatchling"):
        inspect_project(root)


def test_pip_builds_when_uv_is_not_used(tmp_path: Path) -> None:
    # pip honours this machine's pip configuration (missing find-links folders included).
    source = copy_fixture("flit_lib", tmp_path)
    copy = shutil.copytree(source, tmp_path / "copy")
    wheel = build_wheel(copy, tmp_path / "out", source, tool="pip")
    assert wheel.name.startswith("acme_flit-1.0.0-")


def test_map_wheel_reports_compiled_and_generated_files(tmp_path: Path) -> None:
    write(tmp_path / "src/fast/__init__.py", "")
    write(tmp_path / "src/fast/_speed.c", "")
    # Built in place for the host: still not something a link may ship.
    write(tmp_path / "src/fast/_speed.cpython-311-x86_64-linux-gnu.so", "")
    write(tmp_path / "tool.py", "print('hi')\n")
    wheel = {
        "fast/__init__.py": b"",
        "fast/_speed.cpython-311-x86_64-linux-gnu.so": b"\x7fELF",
        "fast/_generated.py": b"",
        "fast-1.0.dist-info/METADATA": b"",
        "fast-1.0.data/purelib/extra.py": b"",
        "fast-1.0.data/scripts/run": b"",
        "fast.pth": b"/somewhere\n",
        "native.cpython-311-x86_64-linux-gnu.so": b"\x7fELF",
        "tool.py": b"print('hi')\n",
    }

    imports, unmapped = map_wheel(wheel, tmp_path)

    assert imports == (
        ImportRoot("fast", "package", tmp_path / "src/fast", tmp_path / "src"),
        ImportRoot("tool.py", "module", tmp_path / "tool.py", tmp_path),
    )
    assert unmapped == (
        "fast-1.0.data/purelib/extra.py",
        "fast/_generated.py",
        "fast/_speed.cpython-311-x86_64-linux-gnu.so",
        "native.cpython-311-x86_64-linux-gnu.so",
    )


def test_map_wheel_namespace_and_nothing_to_map(tmp_path: Path) -> None:
    write(tmp_path / "src/acme/one/__init__.py", "")
    write(tmp_path / "src/acme/one/mod.py", "")
    wheel = {"acme/one/__init__.py": b"", "acme/one/mod.py": b"", "gen/__init__.py": b""}

    imports, unmapped = map_wheel(wheel, tmp_path)

    assert imports == (ImportRoot("acme", "namespace", tmp_path / "src/acme", tmp_path / "src"),)
    assert unmapped == ("gen/__init__.py",)
