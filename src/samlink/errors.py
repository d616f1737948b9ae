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


def os_error(exc: OSError, doing: str, *, kind: type[UsageError] = UsageError) -> UsageError:
    """One line for an OSError at a known point: what samlink was doing, the file, and a fix."""
    import errno

    # A full disk is about where it was writing (the caller says), not which file came next:
    # a copy reports its source.
    full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
    where = f": {exc.filename}" if exc.filename and not full else ""
    reason = exc.strerror or str(exc)
    hints = {
        errno.ENOSPC: "free space on that file system, or build somewhere with room",
        errno.EDQUOT: "free space within your quota, or build somewhere with room",
        errno.EROFS: "that file system is read-only: work in a writable copy",
        errno.EACCES: "make it writable for this user, or work in a copy you own",
        errno.EPERM: "make it writable for this user, or work in a copy you own",
        errno.ELOOP: "a symlink loop: fix or remove the link",
        errno.ENOTDIR: "a file stands where a folder should be: move it away",
        errno.EISDIR: "a folder stands where a file should be: move it away",
    }
    hint = hints.get(exc.errno or 0, "check that path and its permissions")
    return kind(f"{doing}: {reason}{where}", hint)
