"""Requirements files as pip reads them, with relative paths taken from the file's own folder.

pip and uv resolve relative paths in a requirements file against the current directory, which in
`sam build` is a temp copy of the code dir; samlink resolves them against the file that holds them,
which is what a user means.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename

from samlink.errors import UsageError

_ENV_VAR = re.compile(r"\$\{([A-Z0-9_]+)\}")
# pip's allowed --hash algorithms (pip._internal.utils.hashes.STRONG_HASHES).
HASH_ALGORITHMS = ("sha256", "sha384", "sha512")
_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
# Options that pip accepts on a line of their own; the value says how many arguments they take.
_GLOBAL_OPTIONS = {
    "-i": 1,
    "--index-url": 1,
    "--extra-index-url": 1,
    "-f": 1,
    "--find-links": 1,
    "--no-index": 0,
    "--trusted-host": 1,
    "--pre": 0,
    "--prefer-binary": 0,
    "--only-binary": 1,
    "--no-binary": 1,
    "--require-hashes": 0,
    "--use-feature": 1,
    "-r": 1,
    "--requirement": 1,
    "-c": 1,
    "--constraint": 1,
    "-e": 1,
    "--editable": 1,
}


@dataclass(frozen=True)
class Line:
    """One requirement from a requirements file."""

    file: Path
    lineno: int
    text: str
    requirement: Requirement | None = None  # a named requirement (PEP 508)
    path: Path | None = None  # a local project: `-e ./lib`, `./lib`, `name @ file:///...`
    editable: bool = False
    hashes: tuple[str, ...] = ()  # "sha256:<hex>" from the line's --hash options
    # A wheel file (`./wheels/x.whl`, `name @ file:///.../x.whl`): a third-party input, as pip
    # takes it. `requirement` is then `name @ file:///abs/x.whl` and `path` is None.
    wheel: Path | None = None

    @property
    def where(self) -> str:
        return f"{self.file}:{self.lineno}"

    @property
    def name(self) -> str | None:
        """PEP 503 normalized name, when the line names one."""
        return canonicalize_name(self.requirement.name) if self.requirement else None


@dataclass(frozen=True)
class RequirementsFile:
    """Everything read from a requirements file and its `-r`/`-c` includes."""

    files: tuple[Path, ...] = ()
    lines: tuple[Line, ...] = ()
    constraints: tuple[Line, ...] = ()
    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    no_index: bool = False
    trusted_hosts: tuple[str, ...] = ()
    pre: bool = False
    only_binary: tuple[str, ...] = field(default=())
    require_hashes: bool = False  # --require-hashes on a line of its own

    @property
    def hash_mode(self) -> bool:
        """pip's rule: hash-checking is on with --require-hashes or once any line has a hash."""
        return self.require_hashes or any(line.hashes for line in self.lines + self.constraints)

    @property
    def local_lines(self) -> tuple[Line, ...]:
        return tuple(line for line in self.lines if line.path is not None)


def parse(path: Path, environ: Mapping[str, str] | None = None) -> RequirementsFile:
    """Read a requirements file; a line pip would reject is a UsageError naming file and line."""
    state = _State(environ if environ is not None else os.environ)
    state.read(path.resolve(), constraint=False, seen=())
    return RequirementsFile(
        files=tuple(state.files),
        lines=tuple(state.lines),
        constraints=tuple(state.constraints),
        index_url=state.index_url,
        extra_index_urls=tuple(state.extra_index_urls),
        find_links=tuple(state.find_links),
        no_index=state.no_index,
        trusted_hosts=tuple(state.trusted_hosts),
        pre=state.pre,
        only_binary=tuple(state.only_binary),
        require_hashes=state.require_hashes,
    )


def target_environment(python_version: str, machine: str) -> dict[str, str]:
    """PEP 508 marker environment of a Lambda Python runtime."""
    return {
        "implementation_name": "cpython",
        "implementation_version": f"{python_version}.0",
        "os_name": "posix",
        "platform_machine": machine,
        "platform_python_implementation": "CPython",
        "platform_release": "",
        "platform_system": "Linux",
        "platform_version": "",
        "python_full_version": f"{python_version}.0",
        "python_version": python_version,
        "sys_platform": "linux",
    }


def applies(marker: Marker | None, env: Mapping[str, str], extras: frozenset[str]) -> bool:
    """Whether a marker holds in `env` for any of `extras` (or with no extra)."""
    if marker is None:
        return True
    return any(marker.evaluate({**env, "extra": extra}) for extra in sorted(extras) or [""])


def without_marker(requirement: Requirement) -> str:
    """The requirement as text, minus its marker (already evaluated for the target)."""
    copy = Requirement(str(requirement))
    copy.marker = None
    copy.name = canonicalize_name(copy.name)
    return str(copy)


def satisfied_by_pin(dependency: Requirement, pin: Requirement | None) -> bool:
    """Whether `pin` (an `==` line of a requirements file) already meets `dependency`."""
    if pin is None or canonicalize_name(pin.name) != canonicalize_name(dependency.name):
        return False
    versions = [s.version for s in pin.specifier if s.operator in ("==", "===")]
    if len(versions) != 1 or not set(dependency.extras) <= set(pin.extras):
        return False
    return dependency.specifier.contains(versions[0], prereleases=True)


def normalized(requirement: Requirement) -> str:
    """Canonical text of a requirement, for store keys and installer input."""
    copy = Requirement(str(requirement))
    copy.name = canonicalize_name(copy.name)
    return str(copy)


class _State:
    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.files: list[Path] = []
        self.lines: list[Line] = []
        self.constraints: list[Line] = []
        self.index_url: str | None = None
        self.extra_index_urls: list[str] = []
        self.find_links: list[str] = []
        self.no_index = False
        self.trusted_hosts: list[str] = []
        self.pre = False
        self.only_binary: list[str] = []
        self.require_hashes = False

    def read(self, path: Path, *, constraint: bool, seen: tuple[Path, ...]) -> None:
        if path in seen:
            raise UsageError(
                f"{seen[-1]}: requirements include loop through {path}",
                "remove the circular -r/-c line",
            )
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            where = f"{seen[-1]}: " if seen else ""
            raise UsageError(
                f"{where}requirements file {path} not found",
                "fix the -r/-c path; it is relative to the file that names it",
            ) from None
        except UnicodeDecodeError:
            raise UsageError(
                f"{path}: not UTF-8 text", "save the requirements file as UTF-8"
            ) from None
        if path not in self.files:
            self.files.append(path)
        for lineno, line in _logical_lines(text):
            line = _ENV_VAR.sub(lambda m: self.environ.get(m.group(1), m.group(0)), line)
            self.read_line(path, lineno, line, constraint=constraint, seen=(*seen, path))

    def read_line(
        self, path: Path, lineno: int, line: str, *, constraint: bool, seen: tuple[Path, ...]
    ) -> None:
        where = f"{path}:{lineno}"
        try:
            words = shlex.split(line, posix=True)
        except ValueError as exc:
            raise UsageError(f"{where}: cannot read {line!r} ({exc})", "fix the quoting") from None
        if not words:
            return
        if not words[0].startswith("-"):
            self.add_requirement(path, lineno, line, constraint=constraint)
            return
        option, value = _split_option(words[0])
        if option not in _GLOBAL_OPTIONS:
            raise UsageError(
                f"{where}: unsupported option {option!r}",
                "samlink reads the options pip documents for requirements files",
            )
        nargs = _GLOBAL_OPTIONS[option]
        rest = words[1:]
        if nargs and value is None:
            if not rest:
                raise UsageError(f"{where}: {option} needs a value", "e.g. -r other.txt")
            value, rest = rest[0], rest[1:]
        folder = path.parent
        if option in ("-r", "--requirement", "-c", "--constraint"):
            assert value is not None
            included = _local(folder, value)
            self.read(
                included, constraint=constraint or option in ("-c", "--constraint"), seen=seen
            )
        elif option in ("-e", "--editable"):
            assert value is not None
            self.add_local(path, lineno, line, value, editable=True, constraint=constraint)
        elif option in ("-i", "--index-url"):
            self.index_url = value
        elif option == "--extra-index-url":
            assert value is not None
            self.extra_index_urls.append(value)
        elif option in ("-f", "--find-links"):
            assert value is not None
            self.find_links.append(value if _URL.match(value) else str(_local(folder, value)))
        elif option == "--no-index":
            self.no_index = True
        elif option == "--trusted-host":
            assert value is not None
            self.trusted_hosts.append(value)
        elif option == "--pre":
            self.pre = True
        elif option == "--only-binary":
            assert value is not None
            self.only_binary.append(value)
        elif option == "--require-hashes":
            self.require_hashes = True

    def add_requirement(self, path: Path, lineno: int, line: str, *, constraint: bool) -> None:
        where = f"{path}:{lineno}"
        # Per-requirement options (--hash, --config-settings) follow the requirement itself.
        spec, *options = re.split(r"\s+(?=--?[a-zA-Z])", line, maxsplit=1)
        spec = spec.strip()
        hashes = _hashes(where, options[0] if options else "")
        if _looks_like_path(spec):
            self.add_local(
                path, lineno, line, spec, editable=False, constraint=constraint, hashes=hashes
            )
            return
        try:
            requirement = Requirement(spec)
        except InvalidRequirement as exc:
            reason = str(exc).splitlines()[0]
            raise UsageError(
                f"{where}: invalid requirement {spec!r}: {reason}",
                "use a PEP 508 requirement such as 'requests==2.32.3'",
            ) from None
        if requirement.url and requirement.url.startswith("file:"):
            local = _file_url_path(requirement.url, path.parent)
            if _is_wheel(local):
                wheel = _wheel_line(where, line, local, requirement)
                entry = Line(path, lineno, line, requirement=wheel, hashes=hashes, wheel=local)
            else:
                entry = Line(path, lineno, line, requirement=requirement, path=local, hashes=hashes)
        else:
            entry = Line(path, lineno, line, requirement=requirement, hashes=hashes)
        (self.constraints if constraint else self.lines).append(entry)

    def add_local(
        self,
        path: Path,
        lineno: int,
        line: str,
        value: str,
        *,
        editable: bool,
        constraint: bool,
        hashes: tuple[str, ...] = (),
    ) -> None:
        where = f"{path}:{lineno}"
        if _is_wheel(Path(_location(value))) and not constraint:
            if editable:
                raise UsageError(
                    f"{where}: -e names a wheel file ({value})",
                    "drop the -e: a wheel installs as it is (pip refuses it too)",
                )
            location = _location(value)
            if location.startswith("file:"):
                local = _file_url_path(location, path.parent)
            else:
                local = _local(path.parent, location)
            wheel = _wheel_line(where, line, local, None)
            self.lines.append(
                Line(path, lineno, line, requirement=wheel, hashes=hashes, wheel=local)
            )
            return
        if constraint:
            raise UsageError(
                f"{where}: a constraints file cannot name a local project",
                "move the line to the requirements file",
            )
        location, _, fragment = value.partition("#")
        if location.startswith("file:"):
            local = _file_url_path(location, path.parent)
        elif _URL.match(location) or location.startswith("git+"):
            raise UsageError(
                f"{where}: {'editable ' if editable else ''}VCS/URL line {value!r}",
                "pin a released version, or clone it and use `samlink link PATH`",
            )
        else:
            local = _local(path.parent, location)
        requirement = None
        egg = re.search(r"egg=([A-Za-z0-9._-]+)", fragment)
        if egg:
            requirement = Requirement(egg.group(1))
        self.lines.append(
            Line(path, lineno, line, requirement=requirement, path=local, editable=editable)
        )


def _hashes(where: str, options: str) -> tuple[str, ...]:
    """The `--hash=algo:digest` values among a requirement's own options, checked as pip does."""
    words = shlex.split(options, posix=True)
    found: list[str] = []
    for index, word in enumerate(words):
        if word == "--hash":
            value = words[index + 1] if index + 1 < len(words) else ""
        elif word.startswith("--hash="):
            value = word.removeprefix("--hash=")
        else:
            continue
        algorithm, sep, digest = value.partition(":")
        if not sep or not digest or algorithm not in HASH_ALGORITHMS:
            raise UsageError(
                f"{where}: bad --hash {value!r}",
                "write --hash=sha256:<hex digest> (pip allows sha256, sha384, sha512)",
            )
        found.append(value)
    return tuple(dict.fromkeys(found))


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """Lines with comments removed and backslash continuations joined, with their first line no."""
    buffer: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not buffer:
            start = number
        line = re.sub(r"(^|\s+)#.*$", "", raw)
        if line.endswith("\\"):
            buffer.append(line[:-1])
            continue
        buffer.append(line)
        joined = " ".join(part.strip() for part in buffer).strip()
        buffer = []
        if joined:
            yield start, joined
    if buffer:
        joined = " ".join(part.strip() for part in buffer).strip()
        if joined:
            yield start, joined


def _split_option(word: str) -> tuple[str, str | None]:
    if word.startswith("--") and "=" in word:
        name, value = word.split("=", 1)
        return name, value
    if len(word) > 2 and word[:2] in ("-r", "-c", "-e", "-i", "-f"):
        return word[:2], word[2:]
    return word, None


def _location(value: str) -> str:
    """A path line's file part, minus `#fragment` and `; marker`."""
    return value.partition("#")[0].partition(";")[0].strip()


def _is_wheel(path: Path) -> bool:
    # As pip: a local file whose name ends in .whl is a wheel (a folder never is).
    return path.name.lower().endswith(".whl") and not path.is_dir()


def _wheel_line(where: str, line: str, wheel: Path, named: Requirement | None) -> Requirement:
    """`name @ file:///abs/x.whl` (with the line's marker) for a wheel file line."""
    try:
        name = parse_wheel_filename(wheel.name)[0]
    except InvalidWheelFilename as exc:
        raise UsageError(
            f"{where}: {wheel.name} is not a valid wheel file name ({exc})",
            "name it as pip builds it: NAME-VERSION-PYTAG-ABITAG-PLATFORM.whl",
        ) from None
    if named is not None and canonicalize_name(named.name) != name:
        raise UsageError(
            f"{where}: the line names {named.name} but {wheel.name} is {name}",
            f"write `{name} @ {wheel.as_uri()}` or point the line at the right wheel",
        )
    if not wheel.is_file():
        raise UsageError(
            f"{where}: wheel file {wheel} not found",
            "fix the path; it is relative to the requirements file's folder",
        )
    requirement = Requirement(f"{name} @ {wheel.as_uri()}")
    requirement.marker = named.marker if named is not None else _marker(line)
    return requirement


def _marker(line: str) -> Marker | None:
    """The `; marker` of a plain path line (`./x.whl ; python_version >= "3.10"`)."""
    _, sep, rest = line.partition(";")
    text = re.split(r"\s+(?=--?[a-zA-Z])", rest, maxsplit=1)[0].strip()
    return Marker(text) if sep and text else None


def _looks_like_path(spec: str) -> bool:
    return spec.startswith((".", "/", "~")) or (
        os.sep in spec and "@" not in spec and ";" not in spec
    )


def _local(folder: Path, value: str) -> Path:
    return (folder / os.path.expanduser(value)).resolve()


def _file_url_path(url: str, folder: Path) -> Path:
    from urllib.parse import unquote, urlparse

    parsed = urlparse(url)
    raw = unquote(parsed.path)
    if parsed.netloc and parsed.netloc != "localhost":
        raw = f"//{parsed.netloc}{raw}"
    return (folder / raw).resolve()
