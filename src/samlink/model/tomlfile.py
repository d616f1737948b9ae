"""TOML as samlink reads it: tomllib where Python has it (3.11+), tomlkit on 3.10.

tomllib's messages point at the real mistake, tomlkit's do not always; both give plain data.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from samlink.errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib

    _DECODE_ERROR: type[Exception] = tomllib.TOMLDecodeError

    def loads(text: str) -> dict[str, Any]:
        """A TOML document as plain data."""
        return tomllib.loads(text)

else:  # Python 3.10 has no tomllib; tomlkit is samlink's TOML library there
    import tomlkit
    import tomlkit.exceptions

    _DECODE_ERROR = tomlkit.exceptions.TOMLKitError

    def loads(text: str) -> dict[str, Any]:
        """A TOML document as plain data."""
        return dict(tomlkit.parse(text).unwrap())


# What reading a TOML file's text may raise besides OSError: bad TOML, bad UTF-8.
ERRORS: tuple[type[Exception], ...] = (_DECODE_ERROR, UnicodeDecodeError)
# ... and with OSError: what reading a TOML file may raise.
READ_ERRORS: tuple[type[Exception], ...] = (OSError, *ERRORS)


def read(path: Path) -> dict[str, Any]:
    """A TOML file as data; {} when it does not exist; one line (UsageError) when unreadable."""
    try:
        return loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except READ_ERRORS as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(f"{path}: cannot read it ({reason})", "fix the TOML") from None
