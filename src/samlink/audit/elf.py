"""Read just enough of ELF files to prove that a build's native code fits its Lambda function."""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from samlink.errors import UsageError

MAGIC = b"\x7fELF"

# e_machine values (ELF spec / <elf.h>); names follow `uname -m` where there is one.
_MACHINES = {
    2: "sparc",
    3: "i386",
    8: "mips",
    20: "ppc",
    21: "ppc64",
    22: "s390",
    40: "arm",
    43: "sparcv9",
    50: "ia64",
    62: "x86_64",
    183: "aarch64",
    243: "riscv",
    258: "loongarch",
}

_LAMBDA_MACHINES = {"x86_64": "x86_64", "arm64": "aarch64"}

_SHT_DYNAMIC = 6
_SHT_GNU_VERNEED = 0x6FFFFFFE
_PT_LOAD = 1
_PT_DYNAMIC = 2
_DT_NULL = 0
_DT_NEEDED = 1
_DT_STRTAB = 5
_DT_STRSZ = 10
_DT_VERNEED = 0x6FFFFFFE
_DT_VERNEEDNUM = 0x6FFFFFFF

# Bounds that no sane shared object reaches: they stop corrupt counts and chains from
# making us read or loop without end.
_MAX_DYNAMIC_BYTES = 1 << 20
_MAX_VERNEED = 4096
_MAX_NAME = 4096

_GLIBC_VERSION = re.compile(r"GLIBC_(\d+)\.(\d+)(?:\.\d+)*")
# Version tags that name an ABI feature instead of a release; each is refused by older loaders.
_GLIBC_ABI_TAGS = {"GLIBC_ABI_DT_RELR": (2, 36)}

_LIBRARY_NAME = re.compile(r".*\.(so(\.\d+)*|dylib)")
# 32- and 64-bit Mach-O in either byte order, and fat (universal) binaries.
_MACH_O = {
    bytes.fromhex(magic)
    for magic in ("feedface", "cefaedfe", "feedfacf", "cffaedfe", "cafebabe", "bebafeca")
}


@dataclass(frozen=True)
class ElfInfo:
    """What one ELF file needs from the machine that loads it."""

    path: Path
    machine: str
    elf_class: int
    glibc_required: tuple[int, int] | None
    needed: tuple[str, ...]


@dataclass(frozen=True)
class ElfProblem:
    """One file that would not load in the function."""

    path: Path
    message: str


class _Corrupt(Exception):
    """The file claims to be ELF but its structure does not hold together."""


@dataclass(frozen=True)
class _Layout:
    """Struct formats for one ELF class and byte order."""

    elf_class: int
    order: str

    @property
    def header(self) -> struct.Struct:
        # e_type, e_machine, e_version, e_entry, e_phoff, e_shoff, e_flags,
        # e_ehsize, e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx
        word = "Q" if self.elf_class == 64 else "I"
        return struct.Struct(f"{self.order}HHI{word}{word}{word}IHHHHHH")

    @property
    def section(self) -> struct.Struct:
        # sh_name, sh_type, sh_flags, sh_addr, sh_offset, sh_size, sh_link, sh_info, ...
        if self.elf_class == 64:
            return struct.Struct(f"{self.order}IIQQQQIIQQ")
        return struct.Struct(f"{self.order}IIIIIIIIII")

    def program(self, raw: bytes) -> tuple[int, int, int, int]:
        """p_type, p_offset, p_vaddr, p_filesz of one program header."""
        if self.elf_class == 64:
            p_type, _, offset, vaddr, _, filesz, _, _ = struct.unpack_from(
                f"{self.order}IIQQQQQQ", raw
            )
        else:
            p_type, offset, vaddr, _, filesz, _, _, _ = struct.unpack_from(
                f"{self.order}IIIIIIII", raw
            )
        return p_type, offset, vaddr, filesz

    @property
    def program_size(self) -> int:
        return 56 if self.elf_class == 64 else 32

    @property
    def dynamic(self) -> struct.Struct:
        return struct.Struct(f"{self.order}qQ" if self.elf_class == 64 else f"{self.order}iI")


@dataclass(frozen=True)
class _Dynamic:
    """Where the dynamic linking data sits in the file (file offsets, not addresses)."""

    offset: int
    size: int
    strtab: int
    strsz: int
    verneed: int | None
    verneed_count: int


class _Reader:
    """Bounded random access to an open file: reads past the end mean corruption."""

    def __init__(self, handle: BinaryIO, size: int) -> None:
        self._handle = handle
        self.size = size

    def read(self, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0 or offset + length > self.size:
            raise _Corrupt(f"read of {length} bytes at {offset} is outside the file")
        self._handle.seek(offset)
        data = self._handle.read(length)
        if len(data) != length:
            raise _Corrupt("file changed while reading")
        return data

    def string(self, table: int, table_size: int, index: int) -> str:
        """A NUL-terminated string from a string table, read in small pieces."""
        if index >= table_size:
            raise _Corrupt(f"string index {index} outside its table")
        start = table + index
        limit = min(table + table_size, self.size, start + _MAX_NAME)
        found = b""
        while start < limit:
            chunk = self.read(start, min(256, limit - start))
            end = chunk.find(b"\0")
            if end >= 0:
                return (found + chunk[:end]).decode("utf-8", "replace")
            found += chunk
            start += len(chunk)
        raise _Corrupt("unterminated string")


def is_elf(path: Path) -> bool:
    """True when the file starts with the ELF magic bytes."""
    return _head(path) == MAGIC


def lambda_machine(architecture: str) -> str:
    """The ELF machine name for a Lambda architecture ("arm64" -> "aarch64")."""
    try:
        return _LAMBDA_MACHINES[architecture]
    except KeyError:
        raise UsageError(
            f"unknown Lambda architecture {architecture!r}",
            "Architectures in the template must be x86_64 or arm64",
        ) from None


def read_elf(path: Path) -> ElfInfo | None:
    """Machine, class, DT_NEEDED and highest GLIBC_x.y needed; None if not a readable ELF file."""
    try:
        with open(path, "rb") as handle:
            return _read(path, _Reader(handle, os.fstat(handle.fileno()).st_size))
    except (OSError, _Corrupt, struct.error):
        return None


def audit_tree(
    root: Path, architecture: str, glibc: tuple[int, int], runtime: str | None = None
) -> list[ElfProblem]:
    """Every native file under root that the function could not load, sorted by path.

    Symlinks are not followed: what they reach outside root is not part of the tree,
    and what they reach inside it is audited where it really lives.
    """
    machine = lambda_machine(architecture)
    limit = f"{runtime}'s limit of" if runtime else "the limit of"
    problems: list[ElfProblem] = []
    for path in _regular_files(root):
        head = _head(path)
        if head == MAGIC:
            problems.extend(_check(path, machine, architecture, glibc, limit))
        elif head in _MACH_O and _LIBRARY_NAME.fullmatch(path.name):
            # What a macOS host makes of an sdist: it imports nowhere but on a Mac.
            problems.append(ElfProblem(path, "a macOS (Mach-O) binary, not a Linux ELF file"))
    return sorted(problems, key=lambda problem: str(problem.path))


def _check(
    path: Path, machine: str, architecture: str, glibc: tuple[int, int], limit: str
) -> list[ElfProblem]:
    info = read_elf(path)
    if info is None:
        return [ElfProblem(path, "not a readable ELF file (truncated or corrupt)")]
    problems = []
    if info.machine != machine:
        problems.append(ElfProblem(path, f"built for {info.machine}, function is {architecture}"))
    elif info.elf_class != 64:
        problems.append(ElfProblem(path, f"32-bit ELF, function is 64-bit {architecture}"))
    if info.glibc_required is not None and info.glibc_required > glibc:
        needed = "GLIBC_{}.{}".format(*info.glibc_required)
        have = "{}.{}".format(*glibc)
        problems.append(ElfProblem(path, f"needs {needed}, newer than {limit} {have}"))
    return problems


def _regular_files(root: Path) -> Iterator[Path]:
    # scandir's d_type answers is_dir/is_symlink without a stat per entry.
    pending = [root]
    while pending:
        folder = pending.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if entry.is_symlink():
                continue
            if entry.is_dir():
                pending.append(Path(entry.path))
            elif entry.is_file():
                yield Path(entry.path)


def _head(path: Path) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read(4)
    except OSError:
        return b""


def _read(path: Path, reader: _Reader) -> ElfInfo | None:
    ident = reader.read(0, min(16, reader.size))
    if ident[:4] != MAGIC:
        return None
    if len(ident) < 16:
        raise _Corrupt("truncated ELF identification")
    classes = {1: 32, 2: 64}
    orders = {1: "<", 2: ">"}
    if ident[4] not in classes or ident[5] not in orders:
        raise _Corrupt("unknown ELF class or byte order")
    layout = _Layout(classes[ident[4]], orders[ident[5]])
    header = layout.header.unpack(reader.read(16, layout.header.size))
    e_machine, e_phoff, e_shoff = header[1], header[4], header[5]
    e_phentsize, e_phnum, e_shentsize, e_shnum = header[8], header[9], header[10], header[11]
    machine = _MACHINES.get(e_machine, f"unknown:{e_machine}")
    if machine == "s390" and layout.elf_class == 64:
        machine = "s390x"

    dynamic = _dynamic_from_sections(reader, layout, e_shoff, e_shentsize, e_shnum)
    if dynamic is None:
        # Stripped section headers (sstrip) leave only what the loader itself uses.
        dynamic = _dynamic_from_segments(reader, layout, e_phoff, e_phentsize, e_phnum)
    needed: tuple[str, ...] = ()
    glibc: tuple[int, int] | None = None
    if dynamic is not None:
        needed = _needed(reader, layout, dynamic)
        glibc = _highest_glibc(_verneed_names(reader, layout, dynamic))
    return ElfInfo(path, machine, layout.elf_class, glibc, needed)


def _dynamic_from_sections(
    reader: _Reader, layout: _Layout, shoff: int, shentsize: int, shnum: int
) -> _Dynamic | None:
    if shoff == 0:
        return None
    if shentsize < layout.section.size:
        raise _Corrupt("section header entries too small")
    if shnum == 0:
        # Extended numbering: the real count sits in the first header's sh_size.
        shnum = layout.section.unpack(reader.read(shoff, layout.section.size))[5]
    table = reader.read(shoff, shentsize * shnum)
    entry = layout.section
    sections = [entry.unpack_from(table, index * shentsize) for index in range(shnum)]
    # (sh_type, sh_offset, sh_size, sh_link, sh_info) for each section
    brief = [(s[1], s[4], s[5], s[6], s[7]) for s in sections]
    dynamic = next((s for s in brief if s[0] == _SHT_DYNAMIC), None)
    if dynamic is None:
        return None
    strtab = _linked(brief, dynamic[3])
    verneed = next((s for s in brief if s[0] == _SHT_GNU_VERNEED), None)
    return _Dynamic(
        offset=dynamic[1],
        size=dynamic[2],
        strtab=strtab[1],
        strsz=strtab[2],
        verneed=verneed[1] if verneed else None,
        verneed_count=verneed[4] if verneed else 0,
    )


def _linked(
    sections: list[tuple[int, int, int, int, int]], index: int
) -> tuple[int, int, int, int, int]:
    if not 0 < index < len(sections):
        raise _Corrupt(f"section link {index} out of range")
    return sections[index]


def _dynamic_from_segments(
    reader: _Reader, layout: _Layout, phoff: int, phentsize: int, phnum: int
) -> _Dynamic | None:
    if phoff == 0 or phnum == 0:
        return None
    if phentsize < layout.program_size:
        raise _Corrupt("program header entries too small")
    table = reader.read(phoff, phentsize * phnum)
    headers = [layout.program(table[i * phentsize :]) for i in range(phnum)]
    loads = [(vaddr, offset, filesz) for kind, offset, vaddr, filesz in headers if kind == _PT_LOAD]
    dynamic = next(
        ((offset, filesz) for kind, offset, _, filesz in headers if kind == _PT_DYNAMIC), None
    )
    if dynamic is None:
        return None  # statically linked
    tags = dict(
        _dynamic_entries(
            reader,
            layout,
            dynamic[0],
            dynamic[1],
            keep={_DT_STRTAB, _DT_STRSZ, _DT_VERNEED, _DT_VERNEEDNUM},
        )
    )

    def file_offset(address: int) -> int:
        for vaddr, offset, filesz in loads:
            if vaddr <= address < vaddr + filesz:
                return address - vaddr + offset
        raise _Corrupt(f"address {address:#x} is in no loaded segment")

    if _DT_STRTAB not in tags:
        raise _Corrupt("dynamic segment without a string table")
    verneed = tags.get(_DT_VERNEED)
    return _Dynamic(
        offset=dynamic[0],
        size=dynamic[1],
        strtab=file_offset(tags[_DT_STRTAB]),
        strsz=tags.get(_DT_STRSZ, 0),
        verneed=file_offset(verneed) if verneed is not None else None,
        verneed_count=tags.get(_DT_VERNEEDNUM, 0),
    )


def _dynamic_entries(
    reader: _Reader, layout: _Layout, offset: int, size: int, keep: set[int]
) -> list[tuple[int, int]]:
    size = min(size, _MAX_DYNAMIC_BYTES)
    entry = layout.dynamic
    raw = reader.read(offset, size - size % entry.size)
    found = []
    for tag, value in entry.iter_unpack(raw):
        if tag == _DT_NULL:
            break
        if tag in keep:
            found.append((tag, value))
    return found


def _needed(reader: _Reader, layout: _Layout, dynamic: _Dynamic) -> tuple[str, ...]:
    entries = _dynamic_entries(reader, layout, dynamic.offset, dynamic.size, keep={_DT_NEEDED})
    return tuple(reader.string(dynamic.strtab, dynamic.strsz, value) for _, value in entries)


def _verneed_names(reader: _Reader, layout: _Layout, dynamic: _Dynamic) -> list[str]:
    """Every version name the file requires (Elf_Verneed / Elf_Vernaux chains)."""
    if dynamic.verneed is None:
        return []
    names: list[str] = []
    offset = dynamic.verneed
    for _ in range(min(dynamic.verneed_count, _MAX_VERNEED)):
        # The same layout in both classes: vn_version, vn_cnt, vn_file, vn_aux, vn_next.
        _, count, _, aux, following = struct.unpack(f"{layout.order}HHIII", reader.read(offset, 16))
        aux_offset = offset + aux
        for _ in range(min(count, _MAX_VERNEED)):
            # vna_hash, vna_flags, vna_other, vna_name, vna_next
            _, _, _, name, aux_next = struct.unpack(
                f"{layout.order}IHHII", reader.read(aux_offset, 16)
            )
            names.append(reader.string(dynamic.strtab, dynamic.strsz, name))
            if len(names) > _MAX_VERNEED:
                raise _Corrupt("more version needs than any real file has")
            if aux_next == 0:
                break
            aux_offset += aux_next
        if following == 0:
            break
        offset += following
    return names


def _highest_glibc(names: list[str]) -> tuple[int, int] | None:
    versions = [_GLIBC_ABI_TAGS[name] for name in names if name in _GLIBC_ABI_TAGS]
    for name in names:
        match = _GLIBC_VERSION.fullmatch(name)
        if match:
            versions.append((int(match[1]), int(match[2])))
    return max(versions, default=None)
