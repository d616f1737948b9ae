"""What a lock file says a function gets: the shared shape of uv's and Poetry's answers.

`samlink.model.uv_lock` and `samlink.model.poetry_lock` each read their tool's lock into a
`LockExport`; `samlink.model.declared` picks the input of a code dir and hands the build one
answer, whichever tool wrote the lock. Data only: no reading, no running.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LockedPackage:
    """One third-party distribution, exactly as locked."""

    name: str  # as the lock spells it
    version: str
    hashes: tuple[str, ...] = ()  # "sha256:<hex>", every file the lock lists for it
    marker: str | None = None  # PEP 508 marker still to evaluate for the target, if any

    def requirement_line(self) -> str:
        """The pip requirements line: `name==version ; marker` (hashes go as --hash options)."""
        line = f"{self.name}=={self.version}"
        return f"{line} ; {self.marker}" if self.marker else line


@dataclass(frozen=True)
class LocalSource:
    """A local project the function's lock declares (workspace member, path dependency)."""

    name: str
    path: Path  # the project's folder, resolved
    editable: bool  # declared editable/develop (samlink links it live in dev builds either way)


@dataclass(frozen=True)
class LockExport:
    """What one function or layer gets from its lock, for one Lambda target."""

    tool: str  # "uv" | "poetry"
    pyproject: Path  # the function's own pyproject.toml
    lock: Path  # the lock file that was read
    packages: tuple[LockedPackage, ...]  # third-party, main dependencies only, transitive
    local_sources: tuple[LocalSource, ...]  # transitive: a member that depends on a member
    dev_only: frozenset[str] = frozenset()  # canonical names locked only for dev/optional groups
    inputs: tuple[Path, ...] = ()  # files whose change changes this answer (lock, pyprojects)
