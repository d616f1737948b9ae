"""The private engine and the stand-in base image, for the tests in this folder only.

The engine comes up once per run (first use) and is stopped, with everything it started, at
the end. Where it cannot run (not root, no kernel support, Debian's packages unreachable) the
tests here are skipped with the reason. SAMLINK_CONTAINER_TESTS=require (CI) makes that a
failure instead; SAMLINK_CONTAINER_TESTS=skip skips them without trying.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator

import pytest

from .engine import Engine, Unavailable, build_base_image


def _unavailable(why: str) -> None:
    if os.environ.get("SAMLINK_CONTAINER_TESTS") == "require":
        pytest.fail(f"SAMLINK_CONTAINER_TESTS=require, but {why}", pytrace=False)
    pytest.skip(why)


@pytest.fixture(scope="session")
def engine() -> Iterator[Engine]:
    """A running private dockerd with the stand-in `public.ecr.aws/lambda/python:3.11`."""
    if os.environ.get("SAMLINK_CONTAINER_TESTS") == "skip":
        pytest.skip("SAMLINK_CONTAINER_TESTS=skip")
    started = time.monotonic()
    try:
        running = Engine.start()
    except Unavailable as exc:
        _unavailable(f"no private Docker engine here: {exc}")
    try:
        notes: list[str] = []
        try:
            build_base_image(running, log=notes)
        except Unavailable as exc:
            _unavailable(f"no stand-in base image: {exc}")
        # What the engine costs a run, for the record (pytest -s, or the CI log's stderr).
        print(
            f"\ncontainer engine ready in {time.monotonic() - started:.0f} s ({'; '.join(notes)})",
            file=sys.__stderr__,
        )
        yield running
    finally:
        running.stop()


@pytest.fixture
def docker_env(engine: Engine, tool_env: dict[str, str]) -> dict[str, str]:
    """tool_env whose docker clients and SAM talk to the private engine only."""
    return engine.env(tool_env)
