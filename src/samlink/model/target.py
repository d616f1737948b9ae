"""What a Lambda runtime can run: Python version, machine, glibc floor and wheel tags."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from packaging import tags

from samlink.errors import UsageError

# Lambda's managed Python runtimes (python3.8 is deprecated but old stacks still build).
SUPPORTED_PYTHONS = ("3.8", "3.9", "3.10", "3.11", "3.12", "3.13", "3.14")
_MACHINES = {"x86_64": "x86_64", "arm64": "aarch64"}
_RUNTIME = re.compile(r"python(\d+\.\d+)")


@dataclass(frozen=True)
class Target:
    """A Lambda Python runtime on one architecture."""

    python_version: str  # "3.12"
    architecture: str  # "x86_64" | "arm64" (Lambda's names)

    @property
    def machine(self) -> str:
        """The machine name in wheel tags and ELF terms: x86_64 or aarch64."""
        return _MACHINES[self.architecture]

    @property
    def glibc(self) -> tuple[int, int]:
        """The newest manylinux glibc this runtime accepts."""
        # python3.8-3.11 run on Amazon Linux 2 (glibc 2.26), but SAM's own pip builder only
        # accepts manylinux2014 there; we stay as strict as SAM so both builds agree.
        # python3.12+ run on Amazon Linux 2023 (glibc 2.34).
        return (2, 34) if self.version_tuple >= (3, 12) else (2, 17)

    @property
    def version_tuple(self) -> tuple[int, int]:
        """The Python version as numbers, (3, 12)."""
        major, minor = self.python_version.split(".")
        return int(major), int(minor)

    @property
    def uv_platform(self) -> str:
        """The value for `uv pip install --python-platform`."""
        major, minor = self.glibc
        return f"{self.machine}-manylinux_{major}_{minor}"

    @property
    def pip_platforms(self) -> tuple[str, ...]:
        """The values for `pip install --platform`, newest first."""
        # pip only expands the legacy names (manylinux2014 -> 2010 -> 1); a PEP 600 name such as
        # manylinux_2_34_x86_64 matches exactly that tag, so every older floor is listed here.
        return _manylinux_platforms(self.machine, self.glibc)

    def accepts_wheel_tag(self, tag: str) -> bool:
        """Whether a wheel tag (possibly compressed, `a.b-c-d.e`) runs on this target."""
        try:
            wanted = tags.parse_tag(tag)
        except ValueError:
            return False
        return not wanted.isdisjoint(_supported_tags(self.version_tuple, self.machine, self.glibc))

    def describe(self) -> str:
        """A short human name, "python3.12/arm64"."""
        return f"python{self.python_version}/{self.architecture}"


def target_for(runtime: str, architecture: str) -> Target:
    """The target for a template's Runtime ("python3.12") and Architecture ("arm64")."""
    match = _RUNTIME.fullmatch(runtime.strip())
    if match is None or match.group(1) not in SUPPORTED_PYTHONS:
        raise UsageError(
            f"runtime {runtime!r} is not a Python runtime samlink can build for",
            f"use one of {', '.join('python' + v for v in SUPPORTED_PYTHONS)}",
        )
    arch = architecture.strip()
    if arch not in _MACHINES:
        raise UsageError(
            f"architecture {architecture!r} is not a Lambda architecture",
            "use x86_64 or arm64 (the names in the template's Architectures)",
        )
    return Target(python_version=match.group(1), architecture=arch)


def _manylinux_platforms(machine: str, glibc: tuple[int, int]) -> tuple[str, ...]:
    major, newest = glibc
    # Legacy aliases of PEP 600 floors; older wheels carry only these names.
    legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
    platforms: list[str] = []
    for minor in range(newest, 4, -1):
        platforms.append(f"manylinux_{major}_{minor}_{machine}")
        alias = legacy.get(minor)
        # manylinux2010 and manylinux1 were only ever defined for x86 machines.
        if alias and (minor == 17 or machine in ("x86_64", "i686")):
            platforms.append(f"{alias}_{machine}")
    return tuple(platforms)


@functools.cache
def _supported_tags(
    version: tuple[int, int], machine: str, glibc: tuple[int, int]
) -> frozenset[tags.Tag]:
    platforms = list(_manylinux_platforms(machine, glibc))
    interpreter = f"cp{version[0]}{version[1]}"
    # Lambda runs a release CPython build: no debug or free-threaded ABI, so name the ABI
    # instead of letting packaging read this host's interpreter configuration.
    supported = set(tags.cpython_tags(version, abis=[interpreter], platforms=platforms))
    supported.update(tags.compatible_tags(version, interpreter, platforms))
    return frozenset(supported)
