"""The SAM projects the benchmarks build: N functions with the same ~100 MB of requirements."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness import BIN, run

# numpy + pandas for python3.12/x86_64: ~103 MB, ~3,700 files installed.
REQUIREMENTS = "numpy==2.2.6\npandas==2.2.3\n"
RUNTIME = "python3.12"
ARCHITECTURE = "x86_64"
APP = "def handler(event, context):\n    import pandas\n    return pandas.__version__\n"

# The seed's Makefile (AWS's makefile-build tutorial): copy the code, `pip install -t` every time.
SEED_MAKEFILE = """\
build-{id}:
\tcp *.py "$(ARTIFACTS_DIR)"
\tpython3.12 -m pip install -r requirements.txt -t "$(ARTIFACTS_DIR)"
"""

# SAM's own cost of a makefile build, the floor for any make target: copy the handler, nothing
# else (no dependencies). The same Makefile for every function of a project.
COPY_ONLY_MAKEFILE = """\
build-{id}:
\tcp app.py "$(ARTIFACTS_DIR)"
"""

# The floor for any build that ships the dependencies by hard links: `cp -al` of an installed
# tree (samlink's store entry, written in once the store holds it), then the handler.
HARDLINK_MAKEFILE = """\
build-{id}:
\tcp -al "{tree}/." "$(ARTIFACTS_DIR)"
\tcp app.py "$(ARTIFACTS_DIR)"
"""

FLAVORS = ("samlink", "sam-default", "seed", "copy-only")


def hardlink_targets(root: Path, count: int, tree: Path) -> None:
    """Turn a copy-only project's make targets into `cp -al` of `tree` plus the handler."""
    for function_id in function_ids(count):
        makefile = root / function_id.lower() / "Makefile"
        makefile.write_text(HARDLINK_MAKEFILE.format(id=function_id, tree=tree))


def function_ids(count: int) -> list[str]:
    return [f"Fn{i:02d}" for i in range(1, count + 1)]


def make(root: Path, count: int, flavor: str, env: dict[str, str]) -> Path:
    """A project at `root`: `count` functions, each in its own code dir (SAM would otherwise
    build functions that share a CodeUri only once)."""
    if flavor not in FLAVORS:
        raise ValueError(flavor)
    root.mkdir(parents=True)
    lines = [
        "Transform: AWS::Serverless-2016-10-31",
        "Globals:",
        "  Function:",
        f"    Runtime: {RUNTIME}",
        f"    Architectures: [{ARCHITECTURE}]",
        "    Handler: app.handler",
        "    Timeout: 30",
        "Resources:",
    ]
    for function_id in function_ids(count):
        code = root / function_id.lower()
        code.mkdir()
        (code / "app.py").write_text(APP)
        (code / "requirements.txt").write_text(REQUIREMENTS)
        lines += [
            f"  {function_id}:",
            "    Type: AWS::Serverless::Function",
            "    Properties:",
            f"      CodeUri: {code.name}/",
        ]
        if flavor in ("seed", "copy-only"):
            lines += ["    Metadata:", "      BuildMethod: makefile"]
            makefile = SEED_MAKEFILE if flavor == "seed" else COPY_ONLY_MAKEFILE
            (code / "Makefile").write_text(makefile.format(id=function_id))
    (root / "template.yaml").write_text("\n".join(lines) + "\n")
    if flavor == "samlink":
        run([BIN / "samlink", "init"], root, env)
    return root


# --- issue 16: a root of ~100 functions across nested applications -----------------------------

# A few small requirement sets, shared: each function's requirements.txt is one `-r` line naming
# a file under the root's `requirements/` (relative to the file that names it, as pip reads it).
SHARED_REQUIREMENTS = {
    "web": "requests==2.32.3\n",
    "auth": "PyJWT==2.10.1\nrequests==2.32.3\n",
    "models": "pydantic==2.10.6\n",
}
# What each set's build dir must hold (a top-level import package).
SHARED_MARKERS = {"web": "requests", "auth": "jwt", "models": "pydantic"}
SCALE_FLAVORS = ("plain", "samlink", "copy-only")


@dataclass(frozen=True)
class ScaleFunction:
    """One function of a scale project: where SAM builds it and what its build must hold."""

    build_path: str  # under .aws-sam/build: "App1/Fn01" (nested) or "App1Fn01" (flat)
    package: str  # an import package of its requirement set


def scale_functions(apps: int, per_app: int, *, nested: bool) -> list[ScaleFunction]:
    sets = list(SHARED_REQUIREMENTS)
    functions = []
    for app in range(1, apps + 1):
        for index, function_id in enumerate(function_ids(per_app)):
            build_path = f"App{app}/{function_id}" if nested else f"App{app}{function_id}"
            marker = SHARED_MARKERS[sets[(app + index) % len(sets)]]
            functions.append(ScaleFunction(build_path, marker))
    return functions


def make_scale(
    root: Path, apps: int, per_app: int, flavor: str, env: dict[str, str], *, nested: bool
) -> Path:
    """A project at `root` with `apps` x `per_app` functions. Nested: a root template of
    `apps` AWS::Serverless::Application resources with local templates (`apps/appN/`), each
    holding `per_app` functions; flat: the same functions and code dirs in the root template.
    Every function has its own code dir (`apps/appN/fnNN/`) whose requirements.txt includes one
    of a few shared files. `plain`: SAM's default builder, as before `samlink init`;
    `samlink`: `samlink init` run at the root; `copy-only`: makefile targets that copy the
    handler alone (SAM's own cost, the floor)."""
    if flavor not in SCALE_FLAVORS:
        raise ValueError(flavor)
    root.mkdir(parents=True)
    shared = root / "requirements"
    shared.mkdir()
    for name, text in SHARED_REQUIREMENTS.items():
        (shared / f"{name}.txt").write_text(text)
    sets = list(SHARED_REQUIREMENTS)
    root_lines = _globals()
    for app in range(1, apps + 1):
        app_dir = root / "apps" / f"app{app}"
        app_dir.mkdir(parents=True)
        app_lines = _globals()
        for index, function_id in enumerate(function_ids(per_app)):
            code = app_dir / function_id.lower()
            code.mkdir()
            marker = SHARED_MARKERS[sets[(app + index) % len(sets)]]
            (code / "app.py").write_text(
                f"def handler(event, context):\n    import {marker}\n    return {marker}.__name__\n"
            )
            included = f"../../../requirements/{sets[(app + index) % len(sets)]}.txt"
            (code / "requirements.txt").write_text(f"-r {included}\n")
            logical = function_id if nested else f"App{app}{function_id}"
            code_uri = f"{code.name}/" if nested else f"apps/{app_dir.name}/{code.name}/"
            lines = [
                f"  {logical}:",
                "    Type: AWS::Serverless::Function",
                "    Properties:",
                f"      CodeUri: {code_uri}",
            ]
            if flavor == "copy-only":
                lines += ["    Metadata:", "      BuildMethod: makefile"]
                (code / "Makefile").write_text(COPY_ONLY_MAKEFILE.format(id=logical))
            if nested:
                app_lines += lines
            else:
                root_lines += lines
        if nested:
            (app_dir / "template.yaml").write_text("\n".join(app_lines) + "\n")
            root_lines += [
                f"  App{app}:",
                "    Type: AWS::Serverless::Application",
                "    Properties:",
                f"      Location: apps/{app_dir.name}/template.yaml",
            ]
    (root / "template.yaml").write_text("\n".join(root_lines) + "\n")
    if flavor == "samlink":
        run([BIN / "samlink", "init"], root, env)
    return root


def _globals() -> list[str]:
    return [
        "Transform: AWS::Serverless-2016-10-31",
        "Globals:",
        "  Function:",
        f"    Runtime: {RUNTIME}",
        f"    Architectures: [{ARCHITECTURE}]",
        "    Handler: app.handler",
        "    Timeout: 30",
        "Resources:",
    ]


# --- issue 13: a uv workspace whose functions share members -------------------------------------

# libs/<name>: (PyPI pins, workspace members it needs). Packaged members (hatchling, src layout).
UV_LIBS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "core": (("requests==2.32.3",), ()),
    "models": (("pydantic==2.10.6",), ("core",)),
    "auth": (("PyJWT==2.10.1",), ("core",)),
}
# Function i needs these members (cycled): every function reaches `core`, most through another.
UV_FUNCTION_NEEDS = (("models",), ("auth",), ("models", "auth"), ("core",))
UV_FLAVORS = ("samlink", "sam-uv", "sam-uv-vendored")


def uv_function_needs(count: int) -> dict[str, tuple[str, ...]]:
    """Function ID -> the workspace members it imports (directly)."""
    return {
        function_id: UV_FUNCTION_NEEDS[index % len(UV_FUNCTION_NEEDS)]
        for index, function_id in enumerate(function_ids(count))
    }


def make_uv_workspace(root: Path, count: int, flavor: str, env: dict[str, str]) -> Path:
    """A uv workspace at `root`: a virtual root, packaged library members under `libs/`, and
    `count` functions under `functions/fnNN/`, each a virtual member (`package = false`) that
    needs some libraries through `{ workspace = true }` sources; one `uv.lock` at the root
    (a real `uv lock`). Functions have no requirements.txt: the lock is what they declare.
    `samlink`: `samlink init` at the root. `sam-uv`: SAM's beta `BuildMethod: python-uv`."""
    if flavor not in UV_FLAVORS:
        raise ValueError(flavor)
    if flavor == "sam-uv-vendored":
        return _uv_vendored(root, count, env)
    root.mkdir(parents=True)
    (root / "pyproject.toml").write_text(
        '[project]\nname = "shop"\nversion = "0"\nrequires-python = ">=3.12"\n\n'
        "[tool.uv]\npackage = false\n\n"
        '[tool.uv.workspace]\nmembers = ["functions/*", "libs/*"]\n'
    )
    for name, (pins, members) in UV_LIBS.items():
        lib = root / "libs" / name
        package = lib / "src" / name
        package.mkdir(parents=True)
        imports = "".join(f"import {member}\n" for member in members)
        (package / "__init__.py").write_text(f'{imports}\nNAME = "{name}"\n')
        (lib / "pyproject.toml").write_text(
            _uv_pyproject(name, pins, members)
            + '\n[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'
        )
    lines = _globals()
    for function_id, needs in uv_function_needs(count).items():
        code = root / "functions" / function_id.lower()
        code.mkdir(parents=True)
        names = ", ".join(f"{member}.NAME" for member in needs)
        (code / "app.py").write_text(
            "".join(f"import {member}\n" for member in needs)
            + f"\n\ndef handler(event, context):\n    return [{names}]\n"
        )
        (code / "pyproject.toml").write_text(
            _uv_pyproject(function_id.lower(), (), needs, virtual=True)
        )
        lines += [
            f"  {function_id}:",
            "    Type: AWS::Serverless::Function",
            "    Properties:",
            f"      CodeUri: functions/{code.name}/",
        ]
        if flavor == "sam-uv":
            lines += ["    Metadata:", "      BuildMethod: python-uv"]
    (root / "template.yaml").write_text("\n".join(lines) + "\n")
    run([BIN / "uv", "lock", "--python", RUNTIME.removeprefix("python")], root, env)
    if flavor == "samlink":
        run([BIN / "samlink", "init"], root, env)
    return root


def _uv_vendored(root: Path, count: int, env: dict[str, str]) -> Path:
    """What SAM's python-uv builder can build of the same functions: no workspace; each
    function's code dir holds a copy of the member packages it reaches, a pyproject.toml with
    their PyPI pins, and its own uv.lock (SAM reads a lock only inside CodeUri)."""
    root.mkdir(parents=True)
    lines = _globals()
    for function_id, needs in uv_function_needs(count).items():
        code = root / "functions" / function_id.lower()
        code.mkdir(parents=True)
        reached = uv_closure(needs)
        for member in sorted(reached):
            imports = "".join(f"import {other}\n" for other in UV_LIBS[member][1])
            (code / member).mkdir()
            (code / member / "__init__.py").write_text(f'{imports}\nNAME = "{member}"\n')
        names = ", ".join(f"{member}.NAME" for member in needs)
        (code / "app.py").write_text(
            "".join(f"import {member}\n" for member in needs)
            + f"\n\ndef handler(event, context):\n    return [{names}]\n"
        )
        pins = tuple(sorted({pin for member in reached for pin in UV_LIBS[member][0]}))
        (code / "pyproject.toml").write_text(
            _uv_pyproject(function_id.lower(), pins, (), virtual=True)
        )
        run([BIN / "uv", "lock", "--python", RUNTIME.removeprefix("python")], code, env)
        lines += [
            f"  {function_id}:",
            "    Type: AWS::Serverless::Function",
            "    Properties:",
            f"      CodeUri: functions/{code.name}/",
            "    Metadata:",
            "      BuildMethod: python-uv",
        ]
    (root / "template.yaml").write_text("\n".join(lines) + "\n")
    return root


def uv_closure(needs: tuple[str, ...]) -> set[str]:
    """The workspace members a function reaches (its needs and theirs)."""
    reached: set[str] = set()
    todo = list(needs)
    while todo:
        member = todo.pop()
        if member not in reached:
            reached.add(member)
            todo += UV_LIBS[member][1]
    return reached


def _uv_pyproject(
    name: str, pins: tuple[str, ...], members: tuple[str, ...], *, virtual: bool = False
) -> str:
    dependencies = ", ".join(f'"{dep}"' for dep in (*pins, *members))
    text = (
        f'[project]\nname = "{name}"\nversion = "0.1.0"\nrequires-python = ">=3.12"\n'
        f"dependencies = [{dependencies}]\n"
    )
    if virtual:
        text += "\n[tool.uv]\npackage = false\n"
    if members:
        text += "\n[tool.uv.sources]\n" + "".join(
            f"{member} = {{ workspace = true }}\n" for member in members
        )
    return text
