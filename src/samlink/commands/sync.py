"""`samlink sync`: `sam sync --watch`, plus the linked sources outside each CodeUri."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from samlink.errors import UsageError
from samlink.live import sync
from samlink.model.template import load_template


def run(
    template: Path,
    sam_args: Sequence[str],
    *,
    stack_name: str | None,
    dependency_layer: bool,
) -> int:
    sync.check_sam_args(sam_args)
    model = load_template(template.resolve())
    if not model.managed():
        raise UsageError(
            f"{model.path}: no function or layer on samlink's makefile builds",
            "run `samlink init` first, or plain `sam sync --watch`",
        )
    return sync.run(model, sam_args, stack_name=stack_name, dependency_layer=dependency_layer)
