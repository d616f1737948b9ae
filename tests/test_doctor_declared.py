"""`samlink doctor` says which input declares each function's libraries and flags a stale lock
(issue 13). Real `uv lock`, real `poetry lock`, real `samlink doctor --json`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema

from conftest import BIN, ROOT, run
from declared_projects import uv_workspace

SAMLINK = BIN / "samlink"
SCHEMA = json.loads((ROOT / "docs" / "schemas" / "doctor.schema.json").read_text())
MORE = """\
  ReqFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: req/
      Handler: app.lambda_handler
      Runtime: python3.12
  PoetryFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: pfn/
      Handler: app.lambda_handler
      Runtime: python3.12
"""


def doctor(project: Path, env: dict[str, str]) -> dict[str, tuple[str, str, str]]:
    """`samlink doctor --json`, validated: the declared and lock-stale checks, by subject."""
    done = run([SAMLINK, "doctor", "--json"], project, env, check=False)
    assert done.returncode in (0, 1), done.stderr
    report = json.loads(done.stdout)
    jsonschema.validate(report, SCHEMA)
    return {
        c["subject"]: (c["check"], c["status"], c["message"] + " | " + c["fix"])
        for c in report["checks"]
        if c["check"] in ("declared", "lock-stale")
    }


def test_doctor_names_each_input_and_a_stale_lock(tmp_path: Path, tool_env: dict[str, str]) -> None:
    ws = uv_workspace(tmp_path, tool_env)
    with (ws / "template.yaml").open("a") as template:
        template.write(MORE)
    (ws / "req").mkdir()
    (ws / "req" / "requirements.txt").write_text("six==1.17.0\n")
    (ws / "pfn").mkdir()
    (ws / "pfn" / "pyproject.toml").write_text(
        '[project]\nname = "pfn"\nversion = "0.1.0"\nrequires-python = ">=3.10"\n'
        'dependencies = ["six==1.17.0"]\n[tool.poetry]\npackage-mode = false\n'
    )
    poetry_env = {k: v for k, v in tool_env.items() if k != "VIRTUAL_ENV"}
    poetry_env.update(
        {
            "POETRY_CACHE_DIR": str(tmp_path / "poetry-cache"),
            "POETRY_CONFIG_DIR": str(tmp_path / "poetry-config"),
            "POETRY_VIRTUALENVS_PATH": str(tmp_path / "poetry-venvs"),
            "POETRY_NO_INTERACTION": "1",
        }
    )
    assert shutil.which("poetry", path=poetry_env["PATH"]), "`make venv` links .venv/bin/poetry"
    run(["poetry", "lock"], ws / "pfn", poetry_env)
    run([SAMLINK, "init"], ws, tool_env)

    found = doctor(ws, tool_env)
    assert found["HelloFunction"][:2] == ("declared", "ok")
    assert (
        "HelloFunction: libraries from pyproject.toml + uv.lock (workspace root ../..)"
        in (found["HelloFunction"][2])
    )
    assert found["ReqFunction"][:2] == ("declared", "ok")
    assert "ReqFunction: libraries from requirements.txt" in found["ReqFunction"][2]
    assert found["PoetryFunction"][:2] == ("declared", "ok")
    assert "libraries from pyproject.toml + poetry.lock |" in found["PoetryFunction"][2]

    # A dependency added to the function's pyproject after the lock: stale, with the fix.
    hello = ws / "functions" / "hello" / "pyproject.toml"
    hello.write_text(hello.read_text().replace('"six==1.17.0"', '"six==1.17.0", "idna"'))
    pfn = ws / "pfn" / "pyproject.toml"
    pfn.write_text(pfn.read_text().replace('"six==1.17.0"', '"six==1.17.0", "idna"'))
    found = doctor(ws, tool_env)
    check, status, text = found["HelloFunction"]
    assert (check, status) == ("lock-stale", "warn")
    assert "no longer matches" in text and "release builds and `samlink check` refuse it" in text
    assert text.endswith("| run `uv lock` and commit the lock")  # doctor runs in the root
    assert "but uv.lock no longer matches" in text
    assert found["PoetryFunction"][:2] == ("lock-stale", "warn")
    assert "run `poetry lock`" in found["PoetryFunction"][2]
    assert found["ReqFunction"][:2] == ("declared", "ok")

    # No lock at all for declared dependencies: the build cannot read them.
    (ws / "uv.lock").unlink()
    check, status, text = doctor(ws, tool_env)["HelloFunction"]
    assert (check, status) == ("declared", "fail") and "has no lock" in text
    human = run([SAMLINK, "doctor"], ws, tool_env, check=False)
    assert human.returncode == 1
    (line,) = [ln for ln in human.stdout.splitlines() if "HelloFunction: " in ln and "lock" in ln]
    assert line.startswith("fail declared: ") and "fix: run `uv lock`" in line
