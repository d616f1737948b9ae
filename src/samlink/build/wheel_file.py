"""Wheel files named by requirements lines (`./wheels/x.whl`, `name @ file:///.../x.whl`).

pip installs such a line from the file; samlink does too, through the store like any other
third-party input. Before anything is installed, the wheel's tags (from its file name, as pip
reads them) must fit the function's Lambda target and its `--hash` values must match. The store
keys the line by the wheel's name and content (sha256), never by where the file lies.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from samlink.errors import BuildError, UsageError
from samlink.model.requirements import Line
from samlink.model.target import Target

# pip's words for a hash mismatch (installer.hash_failure answers in the same words).
_MISMATCH = "THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE"


def check(line: Line, target: Target) -> None:
    """Refuse a wheel line whose tags do not run on `target` or whose --hash does not match."""
    assert line.wheel is not None
    wheel = line.wheel
    where = _shown(line)
    try:
        tags = parse_wheel_filename(wheel.name)[3]
    except InvalidWheelFilename as exc:  # the parser checked it already; a rename since
        raise UsageError(f"{line.where}: {wheel.name}: {exc}", "fix the wheel's name") from None
    if not any(target.accepts_wheel_tag(str(tag)) for tag in tags):
        cp = "cp" + target.python_version.replace(".", "")
        raise UsageError(
            f"{where} does not run on python{target.python_version} {target.architecture} Lambda",
            f"use a {target.machine} manylinux wheel ({cp}, abi3 or py3-none-any), "
            "e.g. one built in a Lambda image",
        )
    if line.hashes:
        verify(line)


def verify(line: Line) -> None:
    """pip's check of a line's --hash values against the wheel file's content."""
    assert line.wheel is not None
    try:
        data = line.wheel.read_bytes()
    except OSError as exc:
        raise UsageError(
            f"{line.where}: cannot read wheel file {line.wheel}: {exc.strerror}",
            "fix the path or its permissions",
        ) from None
    got: dict[str, str] = {}
    for value in line.hashes:
        algorithm, _, digest = value.partition(":")
        if algorithm not in got:
            got[algorithm] = hashlib.new(algorithm, data).hexdigest()
        if got[algorithm] == digest.lower():
            return
    algorithm = line.hashes[0].partition(":")[0]
    raise BuildError(
        f"{_MISMATCH}: {line.wheel.name} (expected {' or '.join(line.hashes)}, "
        f"got {algorithm}:{got[algorithm]})",
        "if you rebuilt the wheel, update the hash; otherwise examine the file: "
        "someone may have changed it",
    )


def path_of(requirement: str) -> Path | None:
    """The local wheel file a requirement line (`name @ file:///abs/x.whl`) installs, or None."""
    try:
        url = Requirement(requirement).url or ""
    except InvalidRequirement:
        url = requirement.strip()
    if url.startswith("file:"):
        from urllib.parse import unquote, urlsplit

        url = unquote(urlsplit(url).path)
    if url.startswith("/") and url.lower().endswith(".whl"):
        return Path(url)
    return None


def content_key(path: Path) -> str:
    """What the store keys a wheel line by: its name and sha256, not where it lies."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return f"{path.name} missing"
    return f"{path.name} sha256:{digest.hexdigest()}"


def _shown(line: Line) -> str:
    """The wheel as the user wrote it, relative to the requirements file's folder."""
    assert line.wheel is not None
    try:
        return "./" + line.wheel.relative_to(line.file.parent).as_posix()
    except ValueError:
        return str(line.wheel)
