"""The console entry: replay a warm `samlink build` when nothing changed, else run the CLI.

SAM reruns the make target on every `sam build` and every `sam sync` change, so the `samlink`
command starts here, with the standard library only: `samlink.build.plan` decides whether the
last build's plan can be replayed; anything else, or any doubt, goes to the click CLI.
"""

from __future__ import annotations

import sys
import time

from samlink.build.plan import Miss, debug, replay


def main() -> int | None:
    """Console entry: replay a warm `samlink build` if nothing changed, else run the CLI."""
    started = time.monotonic()
    argv = sys.argv[1:]
    if argv[:1] == ["build"]:
        try:
            return replay(argv, started)
        except KeyboardInterrupt:
            print("samlink: interrupted", file=sys.stderr)
            return 130
        except Miss as miss:
            debug(f"full build ({miss})")
        except Exception as exc:  # any doubt: the full build decides, and reports real errors
            debug(f"full build (replay failed: {type(exc).__name__}: {exc})")
    from samlink.cli import main as cli_main

    cli_main()
    return None
