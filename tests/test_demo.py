"""`make demo`'s script, end to end, as a newcomer runs it."""

from __future__ import annotations

import sys

import pytest

from conftest import EXAMPLE, run

pytestmark = [
    pytest.mark.sam,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the sandbox is Linux-only"),
]


def test_demo_shows_live_edit_then_pinned_release(tool_env: dict[str, str]) -> None:
    result = run(["bash", EXAMPLE / "demo.sh"], EXAMPLE, tool_env)
    lines = [line for line in result.stdout.splitlines() if line.startswith(("before", "after"))]
    assert lines == [
        "before edit: hello world from sam-sync-test-upstream 1.1.0.dev0",
        "after edit (no rebuild): HOWDY (edited) world from sam-sync-test-upstream 1.1.0.dev0",
        "after unlink (pinned release): hello world from sam-sync-test-upstream 1.0.0",
    ]
    assert not (EXAMPLE / ".aws-sam").exists() and not (EXAMPLE / ".samlink").exists()
