"""The one exception type for mistakes a user can fix."""

from __future__ import annotations


class UsageError(Exception):
    """Bad input: printed as one line plus a hint, exit code 2, nothing written."""

    exit_code = 2

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} (hint: {self.hint})" if self.hint else self.message


class BuildError(UsageError):
    """A build that cannot go on (an installer failed, a wheel is missing): exit code 1."""

    exit_code = 1
