"""`samlink watch`: keep local build dirs fresh, no AWS involved (the work: live.keeper)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from samlink.live.keeper import Keeper
from samlink.live.sync import Console


def run(
    template: Path,
    *,
    build_dir: Path | None,
    sam_build_args: Sequence[str],
    console: Console | None = None,
) -> int:
    keeper = Keeper(
        template.resolve(), build_dir, tuple(sam_build_args), console=console or Console()
    )
    try:
        return keeper.run()
    except KeyboardInterrupt:
        keeper.console.say("stopped")
        return 130
