"""The SAM projects the benchmarks build: N functions with the same ~100 MB of requirements."""

from __future__ import annotations

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

FLAVORS = ("samlink", "sam-default", "seed")


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
        if flavor == "seed":
            lines += ["    Metadata:", "      BuildMethod: makefile"]
            (code / "Makefile").write_text(SEED_MAKEFILE.format(id=function_id))
    (root / "template.yaml").write_text("\n".join(lines) + "\n")
    if flavor == "samlink":
        run([BIN / "samlink", "init"], root, env)
    return root
