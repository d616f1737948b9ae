"""A real `samlink link` + `sam build` of the example, invoked in the sandbox: live edits show."""

from __future__ import annotations

import io
import json
import sys
from contextlib import redirect_stderr
from pathlib import Path

import pytest

from conftest import BIN, copy_example, run, sam_build
from samlink.runtime import invoke, spec_from_template

pytestmark = [
    pytest.mark.sam,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux sandbox"),
]


def _message(spec_template: Path, isolation: str) -> tuple[int, str]:
    spec = spec_from_template(spec_template, "HelloWorldFunction")
    logs = io.StringIO()
    with redirect_stderr(logs):
        result = invoke(spec, b"{}", isolation=isolation)
    assert result.exit_code == 0, (result.payload, logs.getvalue())
    assert "REPORT RequestId:" in logs.getvalue()
    body = json.loads(json.loads(result.payload)["body"])
    return json.loads(result.payload)["statusCode"], str(body["message"])


def test_linked_build_invokes_live(
    tmp_path: Path, tool_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    project = copy_example(tmp_path / "hello world", tool_env)  # a space in the path, on purpose
    run([BIN / "samlink", "init"], project, tool_env)
    run([BIN / "samlink", "link", "./sam-sync-test-upstream"], project, tool_env)
    sam_build(project, tool_env)
    monkeypatch.setenv("SAMLINK_CACHE_DIR", tool_env["SAMLINK_CACHE_DIR"])
    monkeypatch.chdir(project)  # the build is under the directory `sam build` ran in
    template = project / "template.yaml"
    build_dir = project / ".aws-sam" / "build" / "HelloWorldFunction"
    before = sorted(p.name for p in build_dir.iterdir())

    expected = "hello world from sam-sync-test-upstream 1.1.0.dev0"
    assert _message(template, "namespace") == (200, expected)
    assert _message(template, "host") == (200, expected)

    upstream = project / "sam-sync-test-upstream" / "src" / "sam_sync_test_upstream"
    init_py = upstream / "__init__.py"
    init_py.write_text(init_py.read_text().replace('f"hello {target}', 'f"howdy {target}'))
    app = project / "hello_world" / "app.py"
    app.write_text(app.read_text().replace('"statusCode": 200', '"statusCode": 201'))
    assert _message(template, "namespace") == (
        201,
        "howdy world from sam-sync-test-upstream 1.1.0.dev0",
    )
    assert sorted(p.name for p in build_dir.iterdir()) == before
