"""poetry.lock read for a function's Lambda target (issue 13): real `poetry lock` (Poetry 2, from
its own venv that `make venv` links as .venv/bin/poetry; PyPI is reachable here), real locks.

The project: `fn` (Poetry 1 style `[tool.poetry.dependencies]`) needs six, urllib3 with its
`socks` extra (pysocks), idna on aarch64 only, colorama on Windows only, tomli only for its own
`toml` extra, and `acme-lib` as a `develop = true` path dependency whose checkout holds tests/
and a .env; `acme-lib` needs attrs and `acme-sub` (PEP 621, another path dependency), which needs
six. Groups: `dev` (iniconfig, colorama on macOS: a per-group marker table in the lock) and an
optional `docs` (packaging).
"""

from __future__ import annotations

import os
import platform
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import tomlkit

from conftest import BIN, call_handler, python_for, run, sam_build
from samlink.errors import UsageError
from samlink.model import poetry_lock
from samlink.model.target import Target

X86 = Target("3.12", "x86_64")
ARM = Target("3.12", "arm64")

FILES: dict[str, str] = {
    "fn/pyproject.toml": """\
[tool.poetry]
name = "fn"
version = "0.1.0"
description = ""
authors = []
package-mode = false

[tool.poetry.dependencies]
python = "^3.10"
six = "*"
acme-lib = { path = "../lib", develop = true }
colorama = { version = "*", markers = "sys_platform == 'win32'" }
idna = { version = "*", markers = "platform_machine == 'aarch64'" }
urllib3 = { version = "*", extras = ["socks"] }
tomli = { version = "*", optional = true }

[tool.poetry.extras]
toml = ["tomli"]

[tool.poetry.group.dev.dependencies]
iniconfig = "*"
colorama = { version = "*", markers = "sys_platform == 'darwin'" }

[tool.poetry.group.docs]
optional = true

[tool.poetry.group.docs.dependencies]
packaging = "*"
""",
    "fn/app.py": "def handler(event, context):\n    return 'ok'\n",
    "lib/pyproject.toml": """\
[tool.poetry]
name = "acme-lib"
version = "0.1.0"
description = ""
authors = []
packages = [{ include = "acme_lib", from = "src" }]

[tool.poetry.dependencies]
python = ">=3.10"
attrs = "*"
acme-sub = { path = "../sub", develop = true }

[build-system]
requires = ["poetry-core>=2.0"]
build-backend = "poetry.core.masonry.api"
""",
    "lib/src/acme_lib/__init__.py": "def hello():\n    return 'hello from acme-lib'\n",
    "lib/tests/test_lib.py": "def test_hello():\n    pass\n",
    "lib/.env": "AWS_SECRET_ACCESS_KEY=fake-secret-never-ship\n",
    "sub/pyproject.toml": """\
[project]
name = "acme-sub"
version = "0.2.0"
requires-python = ">=3.10"
dependencies = ["six"]

[build-system]
requires = ["poetry-core>=2.0"]
build-backend = "poetry.core.masonry.api"
""",
    "sub/acme_sub/__init__.py": "VALUE = 2\n",
}


@pytest.fixture(scope="session")
def poetry_env(
    tool_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """tool_env with Poetry's cache, config and virtualenvs kept in tmp."""
    env = dict(tool_env)
    if shutil.which("poetry", path=env["PATH"]) is None:
        raise AssertionError("poetry is not on PATH: `make venv` links it as .venv/bin/poetry")
    state = tmp_path_factory.mktemp("poetry-state")
    env.update(
        {
            "POETRY_CACHE_DIR": str(state / "cache"),
            "POETRY_CONFIG_DIR": str(state / "config"),
            "POETRY_VIRTUALENVS_PATH": str(state / "venvs"),
            "POETRY_NO_INTERACTION": "1",
        }
    )
    env.pop("VIRTUAL_ENV", None)
    return env


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def lock(project: Path, env: dict[str, str]) -> Path:
    run(["poetry", "lock"], cwd=project, env=env)
    return project / "poetry.lock"


@pytest.fixture(scope="module")
def locked(tmp_path_factory: pytest.TempPathFactory, poetry_env: dict[str, str]) -> Path:
    """The projects, with fn/poetry.lock written by a real `poetry lock` (read-only for tests)."""
    root = write(tmp_path_factory.mktemp("poetry"), FILES)
    lock(root / "fn", poetry_env)
    return root


@pytest.fixture
def tree(locked: Path, tmp_path: Path) -> Path:
    """A copy of the locked projects a test may edit."""
    return Path(shutil.copytree(locked, tmp_path / "t", symlinks=True))


def lock_entries(lock_file: Path) -> dict[str, dict[str, Any]]:
    data = tomlkit.parse(lock_file.read_text()).unwrap()
    return {entry["name"]: entry for entry in data["package"]}


def export(root: Path, target: Target) -> poetry_lock.LockExport:
    return poetry_lock.export(root / "fn/pyproject.toml", root / "fn/poetry.lock", target)


def test_main_dependencies_exactly_as_locked_for_x86_64(locked: Path) -> None:
    answer = export(locked, X86)
    entries = lock_entries(locked / "fn/poetry.lock")
    got = {p.name: p for p in answer.packages}
    # Main only, extras a dependency asks for (pysocks), path deps' own dependencies (attrs,
    # and six through acme-sub); not: idna (aarch64), colorama (win32/darwin), tomli (the
    # project's own extra), iniconfig (dev), packaging (optional docs group).
    assert sorted(got) == ["attrs", "pysocks", "six", "urllib3"]
    for name, package in got.items():
        entry = entries[name]
        assert package.version == entry["version"]
        files = entry["files"]
        assert isinstance(files, list) and files
        assert set(package.hashes) == {f["hash"] for f in files}
        assert all(h.startswith("sha256:") for h in package.hashes)
        assert package.marker is None
    assert answer.tool == "poetry"
    assert [(s.name, s.path, s.editable) for s in answer.local_sources] == [
        ("acme-lib", (locked / "lib").resolve(), True),
        ("acme-sub", (locked / "sub").resolve(), True),
    ]
    assert answer.dev_only == frozenset({"iniconfig", "packaging"})
    assert answer.inputs == (
        locked / "fn/poetry.lock",
        locked / "fn/pyproject.toml",
        (locked / "lib/pyproject.toml").resolve(),
        (locked / "sub/pyproject.toml").resolve(),
    )
    # The lock really holds the per-group marker table this test is about.
    assert isinstance(entries["colorama"]["markers"], dict)


def test_arm64_target_gets_what_its_machine_marker_selects(locked: Path) -> None:
    names = {p.name for p in export(locked, ARM).packages}
    assert names == {"attrs", "idna", "pysocks", "six", "urllib3"}


def test_answer_is_what_poetry_install_would_install_here(
    locked: Path, poetry_env: dict[str, str]
) -> None:
    """Poetry itself, for this machine: `poetry install --only main --dry-run` lists the same."""
    machines = {"x86_64": "x86_64", "aarch64": "arm64"}
    if platform.machine() not in machines:
        pytest.skip(f"Lambda has no {platform.machine()} target to compare this host with")
    project = locked / "fn"
    version = run(
        ["poetry", "run", "python", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        cwd=project,
        env=poetry_env,
    ).stdout.strip()
    out = run(
        ["poetry", "install", "--only", "main", "--dry-run", "--no-root", "--no-ansi"],
        cwd=project,
        env=poetry_env,
    ).stdout
    installs = {
        m.group(1): m.group(2)
        for m in re.finditer(r"^\s*- Installing (\S+) \(([^ )]+)[^)]*\)(.*)$", out, re.M)
        if "Skipped" not in m.group(3)
    }
    answer = export(locked, Target(version, machines[platform.machine()]))
    entries = lock_entries(project / "poetry.lock")
    mine = {p.name: p.version for p in answer.packages}
    mine.update({s.name: entries[s.name]["version"] for s in answer.local_sources})
    assert mine == installs, out


def test_stale_follows_poetrys_content_hash(tree: Path, poetry_env: dict[str, str]) -> None:
    pyproject, lock_file = tree / "fn/pyproject.toml", tree / "fn/poetry.lock"
    assert poetry_lock.stale(pyproject, lock_file) is None
    # Formatting and keys outside the hash do not make the lock stale (as in Poetry).
    pyproject.write_text(pyproject.read_text().replace('description = ""', 'description = "x"'))
    assert poetry_lock.stale(pyproject, lock_file) is None
    pyproject.write_text(pyproject.read_text().replace('six = "*"', 'six = ">=1.16"'))
    problem = poetry_lock.stale(pyproject, lock_file)
    assert problem == f"{lock_file} is out of date with its pyproject.toml: run `poetry lock`"
    # Poetry agrees: its own check fails on the same edit, and a `poetry lock` makes it fresh.
    assert run(
        ["poetry", "check", "--lock"], cwd=tree / "fn", env=poetry_env, check=False
    ).returncode
    lock(tree / "fn", poetry_env)
    assert poetry_lock.stale(pyproject, lock_file) is None


def test_stale_when_a_path_dependency_declares_a_new_dependency(
    tree: Path, poetry_env: dict[str, str]
) -> None:
    """Poetry's hash covers the function's pyproject only; a library's new dependency is caught."""
    lib = tree / "lib/pyproject.toml"
    lib.write_text(lib.read_text().replace('attrs = "*"', 'attrs = "*"\nidna = "*"'))
    problem = poetry_lock.stale(tree / "fn/pyproject.toml", tree / "fn/poetry.lock")
    assert problem is not None and "../lib/pyproject.toml" in problem and "idna" in problem
    lock(tree / "fn", poetry_env)
    assert poetry_lock.stale(tree / "fn/pyproject.toml", tree / "fn/poetry.lock") is None
    assert "idna" in {p.name for p in export(tree, X86).packages}


def test_pep621_project_with_dependency_groups(tmp_path: Path, poetry_env: dict[str, str]) -> None:
    """Poetry 2 style: [project].dependencies, a path source in [tool.poetry.dependencies],
    PEP 735 [dependency-groups] (in the content-hash since Poetry 2.3)."""
    files = {k: v for k, v in FILES.items() if not k.startswith("fn/")}
    files["fn/pyproject.toml"] = """\
[project]
name = "fn"
version = "0.1.0"
requires-python = ">=3.11,<4"
dependencies = ["acme-lib", "idna ; platform_machine == 'aarch64'"]

[dependency-groups]
dev = ["iniconfig"]

[tool.poetry]
package-mode = false

[tool.poetry.dependencies]
acme-lib = { path = "../lib", develop = true }
"""
    root = write(tmp_path, files)
    lock_file = lock(root / "fn", poetry_env)
    pyproject = root / "fn/pyproject.toml"
    assert poetry_lock.stale(pyproject, lock_file) is None
    answer = export(root, ARM)
    assert {p.name for p in answer.packages} == {"attrs", "idna", "six"}
    assert [s.name for s in answer.local_sources] == ["acme-lib", "acme-sub"]
    assert answer.dev_only == frozenset({"iniconfig"})
    pyproject.write_text(pyproject.read_text().replace('["iniconfig"]', '["iniconfig", "six"]'))
    assert poetry_lock.stale(pyproject, lock_file) is not None
    with pytest.raises(UsageError) as info:
        export(root, Target("3.10", "x86_64"))
    assert "locked for Python >=3.11,<4, the function runs python3.10" in str(info.value)


def test_a_lock_from_poetry_before_2_3_is_fresh_without_dependency_groups_in_its_hash(
    tree: Path, poetry_env: dict[str, str]
) -> None:
    """Poetry < 2.3 left [dependency-groups] out of the content-hash; Poetry 2.5 allows for it
    (reading the version from the lock's first line), and so does samlink. The old lock is made
    from a real one (no older Poetry is installed here); Poetry's own check is the judge."""
    fn = tree / "fn"
    pyproject, lock_file = fn / "pyproject.toml", fn / "poetry.lock"
    pyproject.write_text(pyproject.read_text() + '\n[dependency-groups]\nlint = ["iniconfig"]\n')
    lock(fn, poetry_env)
    data = tomlkit.parse(pyproject.read_text()).unwrap()
    old_hash = poetry_lock.content_hash(data, with_groups=False)
    text = lock_file.read_text()
    current = re.search(r'content-hash = "([0-9a-f]+)"', text)
    assert current is not None and current.group(1) == poetry_lock.content_hash(data)
    text = text.replace(current.group(1), old_hash)
    lock_file.write_text(re.sub(r"Poetry [0-9.]+ ", "Poetry 2.2.1 ", text, count=1))
    assert poetry_lock.stale(pyproject, lock_file) is None
    assert run(["poetry", "check", "--lock"], cwd=fn, env=poetry_env, check=False).returncode == 0
    # Written by Poetry 2.5 with that hash, the lock is stale (for Poetry too).
    lock_file.write_text(re.sub(r"Poetry [0-9.]+ ", "Poetry 2.5.1 ", text, count=1))
    assert poetry_lock.stale(pyproject, lock_file) is not None
    assert run(["poetry", "check", "--lock"], cwd=fn, env=poetry_env, check=False).returncode


def one_line_error(root: Path, target: Target = X86) -> str:
    with pytest.raises(UsageError) as info:
        export(root, target)
    text = str(info.value)
    assert "\n" not in text and "(hint: " in text, text
    return text


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("2.0", "lock-version 2.0, written by Poetry < 2"),
        ("1.1", "lock-version 1.1, written by Poetry < 2"),
        ("3.0", "lock-version 3.0, newer than samlink reads"),
    ],
)
def test_other_lock_versions_get_one_line(tree: Path, version: str, expected: str) -> None:
    lock_file = tree / "fn/poetry.lock"
    lock_file.write_text(
        lock_file.read_text().replace('lock-version = "2.1"', f'lock-version = "{version}"')
    )
    text = one_line_error(tree)
    assert str(lock_file) in text and expected in text
    assert "`poetry lock`" in text or "upgrade samlink" in text


def test_unreadable_or_odd_locks_get_one_line(tree: Path) -> None:
    lock_file = tree / "fn/poetry.lock"
    text = lock_file.read_text()
    lock_file.write_text("[[package]\nname =")
    assert "is not valid TOML" in one_line_error(tree)
    lock_file.write_text(text.replace("[metadata]", "[meta]"))
    assert "has no [metadata] lock-version" in one_line_error(tree)
    lock_file.write_text(re.sub(r'groups = \["main"\]\n', "", text, count=1))
    assert "has no groups, which is not the format Poetry 2 writes" in one_line_error(tree)
    lock_file.unlink()
    assert "poetry.lock not found" in one_line_error(tree)


def test_a_package_from_a_named_index_is_locked_like_the_rest(tree: Path) -> None:
    """A `[[tool.poetry.source]]` package (source type `legacy`): installed by name, version and
    hash like the others, its index URL offered to the installer. No private index is reachable
    here to lock against, so six's entry is given the source Poetry writes for one."""
    lock_file = tree / "fn/poetry.lock"
    text = lock_file.read_text()
    source = '[package.source]\ntype = "legacy"\nurl = "https://pypi.example.invalid/simple"\n'
    source += 'reference = "private"\n\n'
    at = text.index('name = "six"')
    nxt = text.index("[[package]]", at)
    lock_file.write_text(text[:nxt] + source + text[nxt:])
    six = {p.name: p for p in export(tree, X86).packages}["six"]
    assert six.version == lock_entries(lock_file)["six"]["version"] and six.hashes
    assert poetry_lock.indexes(lock_file) == ("https://pypi.example.invalid/simple",)


def test_git_source_is_refused_with_a_hint(tree: Path) -> None:
    # A git dependency cannot be locked for real here (no git host is reachable): the entry is
    # written as Poetry writes one.
    lock_file = tree / "fn/poetry.lock"
    entry = """\
[[package]]
name = "gitlib"
version = "1.0"
description = ""
optional = false
python-versions = "*"
groups = ["main"]
files = []
develop = false

[package.source]
type = "git"
url = "https://example.invalid/gitlib.git"
reference = "HEAD"
resolved_reference = "0123456789abcdef0123456789abcdef01234567"

"""
    lock_file.write_text(lock_file.read_text().replace("[metadata]", entry + "[metadata]"))
    text = one_line_error(tree)
    assert "gitlib comes from a git source" in text and "path = ..., develop = true" in text
    # In a dev group only, it is not built and so not refused.
    lock_file.write_text(
        lock_file.read_text().replace(
            'name = "gitlib"\nversion = "1.0"\ndescription = ""\noptional = false\n'
            'python-versions = "*"\ngroups = ["main"]',
            'name = "gitlib"\nversion = "1.0"\ndescription = ""\noptional = false\n'
            'python-versions = "*"\ngroups = ["dev"]',
        )
    )
    assert "gitlib" in export(tree, X86).dev_only


def test_missing_path_dependency_checkout(tree: Path) -> None:
    shutil.rmtree(tree / "sub")
    text = one_line_error(tree)
    assert "path dependency acme-sub is at ../sub, which is not a folder" in text


def test_runtime_outside_the_projects_python(locked: Path) -> None:
    assert "locked for Python ^3.10, the function runs python3.9" in one_line_error(
        locked, Target("3.9", "x86_64")
    )


@pytest.mark.parametrize(
    ("constraint", "version", "allowed"),
    [
        ("^3.10", "3.12", True),
        ("^3.10", "3.9", False),
        ("~3.11", "3.12", False),
        ("~3.11", "3.11", True),
        (">=3.10 <3.12", "3.12", False),
        (">=3.10,<3.13", "3.12", True),
        ("3.11.*", "3.11", True),
        ("~3.8 || ^3.12", "3.13", True),
        ("~3.8 || ^3.12", "3.10", False),
        (">=3.9.2", "3.9", True),
        ("*", "3.14", True),
        ("weird", "3.12", None),
    ],
)
def test_poetry_python_constraints(constraint: str, version: str, allowed: bool | None) -> None:
    assert poetry_lock._python_allows(constraint, version) is allowed


def test_declared_hands_the_build_the_poetry_answer(locked: Path) -> None:
    """build/declared.py picks poetry.lock for a pyproject without requirements.txt or uv.lock."""
    from samlink.build import declared

    fn = locked / "fn"
    found = declared.read(fn, ARM)
    assert found.kind == "poetry" and found.source == fn / "pyproject.toml"
    assert found.lock == fn / "poetry.lock"
    pins = {line.name: line for line in found.requirements.lines if line.path is None}
    assert set(pins) == {"attrs", "idna", "pysocks", "six", "urllib3"}
    assert all(line.hashes and line.file == fn / "poetry.lock" for line in pins.values())
    local = {line.name: (line.path, line.editable) for line in found.requirements.local_lines}
    assert local == {
        "acme-lib": ((locked / "lib").resolve(), True),
        "acme-sub": ((locked / "sub").resolve(), True),
    }
    assert declared.lock_problem(found) is None


def test_a_poetry_lock_says_which_names_a_function_asks_for(locked: Path) -> None:
    """`samlink link` and `status` read which functions a link reaches from the same answer."""
    from samlink.model import links

    x86 = links.names_in_requirements(locked / "fn", "3.12", "x86_64")
    assert x86 == {"acme-lib", "acme-sub", "attrs", "pysocks", "six", "urllib3"}
    arm = links.names_in_requirements(locked / "fn", "3.12", "aarch64")
    assert arm == x86 | {"idna"}


# --- end to end: samlink init + the real sam build -------------------------------------------

TEMPLATE = """\
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Resources:
  PoetryFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn/
      Handler: app.handler
      Runtime: python3.12
      Architectures: [x86_64]
"""
APP = """\
import acme_lib
import acme_sub
import six
import urllib3


def handler(event, context):
    return {"lib": acme_lib.hello(), "sub": acme_sub.VALUE, "six": six.__version__}
"""


def reachable(root: Path) -> dict[str, Path]:
    """Every file under `root` as a zip of it would see it (links followed), and where it is."""
    found: dict[str, Path] = {}
    for folder, dirs, files in os.walk(root, followlinks=True):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in files:
            path = Path(folder, name)
            found[str(path.relative_to(root))] = path.resolve()
    return found


def leaks(files: dict[str, Path], project: Path) -> list[str]:
    """Files from a checkout of the path dependencies that are not their import packages."""
    allowed = [(project / "lib/src/acme_lib").resolve(), (project / "sub/acme_sub").resolve()]
    checkouts = [(project / "lib").resolve(), (project / "sub").resolve()]
    return [
        name
        for name, real in files.items()
        if (
            any(real.is_relative_to(c) for c in checkouts)
            and not any(real.is_relative_to(a) for a in allowed)
        )
        or Path(name).name in ("test_lib.py", ".env")
    ]


def sources(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if "__pycache__" not in p.parts)


@pytest.mark.sam
def test_sam_build_links_path_dependencies_live_and_releases_real_files(
    tmp_path: Path, poetry_env: dict[str, str]
) -> None:
    files = dict(FILES, **{"fn/app.py": APP, "template.yaml": TEMPLATE})
    project = write(tmp_path / "proj", files)
    lock(project / "fn", poetry_env)
    before = {name: sources(project / name) for name in ("lib", "sub")}
    run([BIN / "samlink", "init"], project, poetry_env)
    built = sam_build(project, poetry_env)
    build_dir = project / ".aws-sam/build/PoetryFunction"
    python = python_for("3.12")
    locked_six = lock_entries(project / "fn/poetry.lock")["six"]["version"]
    assert call_handler(build_dir, handler="app.handler", python=python) == {
        "lib": "hello from acme-lib",
        "sub": 2,
        "six": locked_six,
    }, built.stdout

    # The path dependency is live: an edit shows with no rebuild.
    init_py = project / "lib/src/acme_lib/__init__.py"
    init_py.write_text(init_py.read_text().replace("hello from", "howdy from"))
    assert call_handler(build_dir, handler="app.handler", python=python)["lib"] == (  # type: ignore[index]
        "howdy from acme-lib"
    )
    # Nothing of the checkout's root (tests/, .env) is reachable, nor a dev, optional-group,
    # Windows-only or unrequested-extra package.
    dev = reachable(build_dir)
    assert dev["acme_lib/__init__.py"] == init_py.resolve()  # a link, not a copy
    assert not leaks(dev, project)
    for package in ("iniconfig", "packaging", "colorama", "tomli", "idna"):
        assert not (build_dir / package).exists(), package

    # Release: real files of both path dependencies, nothing of tests/ or .env.
    release_env = dict(poetry_env, SAMLINK_RELEASE="1")
    sam_build(project, release_env)
    release = reachable(build_dir)
    assert not [p for p in build_dir.rglob("*") if p.is_symlink()]
    assert "acme_lib/__init__.py" in release and "acme_sub/__init__.py" in release
    assert [f for f in release if f.startswith("acme_lib-0.1.0.dist-info/")]
    assert not leaks(release, project)
    for package in ("iniconfig", "packaging", "colorama", "tomli", "idna"):
        assert not (build_dir / package).exists(), package
    assert call_handler(build_dir, handler="app.handler", python=python)["lib"] == (  # type: ignore[index]
        "howdy from acme-lib"
    )
    # samlink wrote nothing into the checkouts.
    init_py.write_text(init_py.read_text().replace("howdy from", "hello from"))
    assert {name: sources(project / name) for name in ("lib", "sub")} == before

    # A new dependency of the path dependency is not in the lock: a release refuses to build.
    lib = project / "lib/pyproject.toml"
    lib.write_text(lib.read_text().replace('attrs = "*"', 'attrs = "*"\nidna = "*"'))
    refused = run([BIN / "sam", "build"], project, release_env, check=False)
    assert refused.returncode != 0
    assert "poetry.lock is out of date with ../lib/pyproject.toml (declares idna)" in (
        refused.stdout + refused.stderr
    )
