"""The house in layers: every import under src/samlink goes down (or sideways without a circle).

Order, top to bottom: the entries (`samlink.entry`, `samlink.__main__`), `cli`, `commands`,
`live`, `audit`, `runtime`, `build`, `model`, the ground (`errors`, `atomicfile`, `locks`, the
package itself). Imports inside functions and under `if TYPE_CHECKING:` count like any other.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
LAYERS = ["ground", "model", "build", "runtime", "audit", "live", "commands", "cli", "entry"]
GROUND = {"samlink", "samlink.errors", "samlink.atomicfile", "samlink.locks", "samlink.reaper"}
ENTRIES = {"samlink.entry", "samlink.__main__"}


def module_names() -> dict[str, Path]:
    found = {}
    for path in sorted((SRC / "samlink").rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = module_names()


def layer_of(module: str) -> str:
    if module in GROUND:
        return "ground"
    if module in ENTRIES:
        return "entry"
    if module == "samlink.cli":
        return "cli"
    second = module.split(".")[1]
    if second in LAYERS:
        return second
    raise AssertionError(f"{module} belongs to no layer: put it in one of {LAYERS}")


def imports_of(module: str) -> list[tuple[int, str]]:
    """(line, samlink module) for every import in `module`, wherever it stands."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "samlink":
                    found.append((node.lineno, _known(alias.name)))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            if base.split(".")[0] != "samlink":
                continue
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.append((node.lineno, candidate if candidate in MODULES else _known(base)))
    return found


def _known(name: str) -> str:
    while name not in MODULES and "." in name:
        name = name.rpartition(".")[0]
    return name


def test_every_module_has_a_layer() -> None:
    for module in MODULES:
        layer_of(module)


def test_no_import_runs_back_up() -> None:
    wrong = []
    for module in MODULES:
        here = LAYERS.index(layer_of(module))
        for line, target in imports_of(module):
            if LAYERS.index(layer_of(target)) > here:
                wrong.append(
                    f"{MODULES[module].relative_to(SRC)}:{line}: {module} ({layer_of(module)}) "
                    f"imports {target} ({layer_of(target)})"
                )
    assert not wrong, "imports that run back up:\n" + "\n".join(wrong)


def test_only_the_cli_imports_commands_and_only_entries_import_the_cli() -> None:
    wrong = []
    for module in MODULES:
        for line, target in imports_of(module):
            if target.startswith("samlink.commands") and layer_of(module) not in (
                "cli",
                "commands",
            ):
                wrong.append(f"{module}:{line} imports {target}")
            if target == "samlink.cli" and module not in ENTRIES:
                wrong.append(f"{module}:{line} imports {target}")
    assert not wrong, "\n".join(wrong)


def test_no_import_circles() -> None:
    graph = {m: sorted({t for _line, t in imports_of(m) if t != m}) for m in MODULES}
    # A package's __init__ that only names its layer is not a node anyone depends on for code.
    state: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1:
                circles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node)
    assert not circles, "import circles:\n" + "\n".join(" -> ".join(c) for c in circles)


@pytest.mark.parametrize("module", ["samlink.entry", "samlink.build.plan", "samlink.build.tree"])
def test_the_warm_path_imports_the_standard_library_only(module: str) -> None:
    """The console entry and the replay run before anything else loads: stdlib at module level."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:  # module level only; lazy imports inside functions are the point
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        for name in names:
            top = name.split(".")[0]
            assert top == "samlink" or top in sys.stdlib_module_names or top == "__future__", (
                f"{module} imports {name} at module level"
            )
            if top == "samlink":
                assert name in {"samlink", "samlink.build.plan", "samlink.build.tree"}, name
