"""ELF reading against real binaries: manylinux wheels from PyPI, host programs, gcc output."""

from __future__ import annotations

import os
import platform
import random
import shutil
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import uv

from samlink.audit.elf import ElfProblem, audit_tree, is_elf, lambda_machine, read_elf
from samlink.errors import UsageError

HOST_ARCHITECTURE = {"x86_64": "x86_64", "aarch64": "arm64"}.get(platform.machine())
needs_lambda_host = pytest.mark.skipif(
    HOST_ARCHITECTURE is None, reason="host is neither x86_64 nor aarch64"
)


def _uv_install(target: Path, python_platform: str, requirement: str) -> None:
    subprocess.run(
        [
            uv.find_uv_bin(),
            "pip",
            "install",
            "--quiet",
            "--only-binary",
            ":all:",
            "--target",
            str(target),
            "--python-platform",
            python_platform,
            "--python-version",
            "3.12",
            requirement,
        ],
        check=True,
    )


def _only(root: Path, pattern: str) -> Path:
    (found,) = root.rglob(pattern)
    return found


@pytest.fixture(scope="session")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The extension module of one pinned release per platform, as PyPI ships it."""
    root = tmp_path_factory.mktemp("wheels")
    found = {}
    for name, python_platform in [
        ("aarch64", "aarch64-manylinux_2_17"),
        ("x86_64", "x86_64-manylinux_2_17"),
        ("macos", "aarch64-apple-darwin"),
    ]:
        _uv_install(root / name, python_platform, "markupsafe==3.0.2")
        found[name] = _only(root / name, "_speedups*.so")
    # uv cannot target these platforms, so pip fetches the wheels and we unpack them.
    for name, pip_platform, requirement, pattern in [
        ("i686", "manylinux2014_i686", "markupsafe==3.0.2", "_speedups*.so"),
        ("s390x", "manylinux2014_s390x", "pyyaml==6.0.3", "_yaml*.so"),
    ]:
        folder = root / name
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--only-binary=:all:",
                "--platform",
                pip_platform,
                "--python-version",
                "3.12",
                "--dest",
                str(folder),
                requirement,
            ],
            check=True,
        )
        (wheel,) = folder.glob("*.whl")
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(folder / "unpacked")
        found[name] = _only(folder / "unpacked", pattern)
    return found


def _compile(folder: Path, name: str, source: str, *flags: str) -> Path:
    compiler = shutil.which("gcc")
    if compiler is None:
        pytest.skip("gcc is not installed")
    (folder / f"{name}.c").write_text(source)
    output = folder / f"lib{name}.so"
    result = subprocess.run(
        [compiler, "-shared", "-fPIC", *flags, "-o", str(output), str(folder / f"{name}.c")],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        pytest.skip(f"this toolchain cannot build the fixture: {result.stderr.strip()}")
    return output


# pthread_create moved into libc in glibc 2.34 and got a new symbol version there;
# arc4random first appeared in glibc 2.36. Both need a host glibc at least that new.
THREADS = """
#include <pthread.h>
static void *run(void *arg) { return arg; }
int samlink_spawn(void) { pthread_t t; return pthread_create(&t, 0, run, 0); }
"""
RANDOM = """
#include <stdlib.h>
unsigned int samlink_random(void) { return arc4random(); }
"""


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("built")


@pytest.fixture(scope="session")
def needs_2_34(built: Path) -> Path:
    return _compile(built, "threads", THREADS)


@pytest.fixture(scope="session")
def needs_2_36(built: Path) -> Path:
    return _compile(built, "random", RANDOM)


def test_manylinux_aarch64(wheels: dict[str, Path]) -> None:
    info = read_elf(wheels["aarch64"])
    assert info is not None
    assert (info.machine, info.elf_class, info.glibc_required) == ("aarch64", 64, (2, 17))
    assert info.needed == ("libpthread.so.0", "libc.so.6")
    assert info.path == wheels["aarch64"]


def test_manylinux_x86_64(wheels: dict[str, Path]) -> None:
    info = read_elf(wheels["x86_64"])
    assert info is not None
    assert (info.machine, info.elf_class, info.glibc_required) == ("x86_64", 64, (2, 14))
    assert info.needed == ("libpthread.so.0", "libc.so.6")


def test_32_bit(wheels: dict[str, Path]) -> None:
    info = read_elf(wheels["i686"])
    assert info is not None
    # GLIBC_2.1.3 is the newest it needs: the third component is dropped.
    assert (info.machine, info.elf_class, info.glibc_required) == ("i386", 32, (2, 1))
    assert info.needed == ("libpthread.so.0", "libc.so.6")


def test_big_endian(wheels: dict[str, Path]) -> None:
    info = read_elf(wheels["s390x"])
    assert info is not None
    assert (info.machine, info.elf_class, info.glibc_required) == ("s390x", 64, (2, 2))
    assert info.needed == ("libpthread.so.0", "libc.so.6")


def test_mach_o_is_not_elf(wheels: dict[str, Path]) -> None:
    assert not is_elf(wheels["macos"])
    assert read_elf(wheels["macos"]) is None


@needs_lambda_host
def test_host_program() -> None:
    ls = Path(shutil.which("ls") or "/bin/ls").resolve()
    info = read_elf(ls)
    assert info is not None
    assert info.machine == platform.machine()
    assert info.elf_class == 64
    assert "libc.so.6" in info.needed
    host = tuple(int(part) for part in platform.libc_ver()[1].split(".")[:2])
    assert info.glibc_required is not None
    assert (2, 0) < info.glibc_required <= host


def test_compiled_glibc_versions(needs_2_34: Path, needs_2_36: Path) -> None:
    threads, rand = read_elf(needs_2_34), read_elf(needs_2_36)
    assert threads is not None and rand is not None
    assert threads.glibc_required == (2, 34)
    assert rand.glibc_required == (2, 36)
    assert threads.needed == rand.needed == ("libc.so.6",)


def test_relr_needs_glibc_2_36(built: Path) -> None:
    # Packed relocations add a GLIBC_ABI_DT_RELR need that loaders before 2.36 refuse,
    # although every symbol here is from 2.34.
    packed = _compile(built, "packed", THREADS, "-Wl,-z,pack-relative-relocs")
    info = read_elf(packed)
    assert info is not None
    assert info.glibc_required == (2, 36)


def _without_section_headers(source: Path, target: Path) -> Path:
    """What sstrip makes of a file: no section header table, only program headers."""
    data = bytearray(source.read_bytes())
    order = "<" if data[5] == 1 else ">"
    if data[4] == 2:
        struct.pack_into(f"{order}Q", data, 0x28, 0)
        struct.pack_into(f"{order}HHH", data, 0x3A, 0, 0, 0)
    else:
        struct.pack_into(f"{order}I", data, 0x20, 0)
        struct.pack_into(f"{order}HHH", data, 0x2E, 0, 0, 0)
    target.write_bytes(bytes(data))
    return target


@pytest.mark.parametrize("name", ["aarch64", "x86_64", "i686", "s390x"])
def test_program_headers_alone_suffice(wheels: dict[str, Path], name: str, tmp_path: Path) -> None:
    original = read_elf(wheels[name])
    stripped = read_elf(_without_section_headers(wheels[name], tmp_path / "stripped.so"))
    assert original is not None and stripped is not None
    assert stripped.machine == original.machine
    assert stripped.glibc_required == original.glibc_required
    assert stripped.needed == original.needed


def test_not_elf(tmp_path: Path) -> None:
    text = tmp_path / "handler.py"
    text.write_text("def handler(event, context):\n    return event\n")
    empty = tmp_path / "empty.so"
    empty.write_bytes(b"")
    for path in (text, empty, tmp_path / "missing.so", tmp_path):
        assert not is_elf(path)
        assert read_elf(path) is None


def test_truncated(wheels: dict[str, Path], tmp_path: Path) -> None:
    data = wheels["x86_64"].read_bytes()
    cut = tmp_path / "cut.so"
    for size in (4, 10, 40, len(data) // 2, len(data) - 1):
        cut.write_bytes(data[:size])
        assert is_elf(cut)
        assert read_elf(cut) is None, size


@pytest.mark.parametrize("name", ["aarch64", "x86_64", "i686", "s390x"])
def test_damaged_files_never_raise(wheels: dict[str, Path], name: str, tmp_path: Path) -> None:
    data = wheels[name].read_bytes()
    damaged = tmp_path / "damaged.so"
    for size in range(0, len(data), max(1, len(data) // 200)):
        damaged.write_bytes(data[:size])
        read_elf(damaged)
    chance = random.Random(name)
    for _ in range(300):
        changed = bytearray(data)
        for _ in range(chance.randint(1, 16)):
            # Mostly the headers, where the offsets and counts live.
            limit = 4096 if chance.random() < 0.8 else len(changed)
            changed[chance.randrange(limit)] = chance.randrange(256)
        damaged.write_bytes(bytes(changed))
        info = read_elf(damaged)
        assert info is None or info.elf_class in (32, 64)


def test_lambda_machine() -> None:
    assert lambda_machine("arm64") == "aarch64"
    assert lambda_machine("x86_64") == "x86_64"
    with pytest.raises(UsageError, match="aarch64"):
        lambda_machine("aarch64")


def _tree(root: Path, files: dict[str, Path]) -> Path:
    for name, source in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, root / name)
    return root


def test_audit_architecture(wheels: dict[str, Path], tmp_path: Path) -> None:
    root = _tree(
        tmp_path / "build",
        {
            "markupsafe/_speedups.so": wheels["aarch64"],
            "markupsafe/__init__.py": Path(__file__),
        },
    )
    assert audit_tree(root, "arm64", (2, 17)) == []
    assert audit_tree(root, "x86_64", (2, 17)) == [
        ElfProblem(root / "markupsafe/_speedups.so", "built for aarch64, function is x86_64")
    ]


def test_audit_32_bit_and_macos(wheels: dict[str, Path], tmp_path: Path) -> None:
    root = _tree(
        tmp_path / "build",
        {"a/_speedups.so": wheels["i686"], "b/_speedups.cpython-312-darwin.so": wheels["macos"]},
    )
    assert audit_tree(root, "x86_64", (2, 34)) == [
        ElfProblem(root / "a/_speedups.so", "built for i386, function is x86_64"),
        ElfProblem(
            root / "b/_speedups.cpython-312-darwin.so",
            "a macOS (Mach-O) binary, not a Linux ELF file",
        ),
    ]


@needs_lambda_host
def test_audit_glibc(needs_2_34: Path, needs_2_36: Path, tmp_path: Path) -> None:
    assert HOST_ARCHITECTURE is not None
    root = _tree(
        tmp_path / "build",
        {"pkg/threads.cpython-312.so": needs_2_34, "pkg/.libs/librandom.so.1": needs_2_36},
    )
    assert audit_tree(root, HOST_ARCHITECTURE, (2, 34), "python3.12") == [
        ElfProblem(
            root / "pkg/.libs/librandom.so.1",
            "needs GLIBC_2.36, newer than python3.12's limit of 2.34",
        )
    ]
    assert [problem.message for problem in audit_tree(root, HOST_ARCHITECTURE, (2, 17))] == [
        "needs GLIBC_2.36, newer than the limit of 2.17",
        "needs GLIBC_2.34, newer than the limit of 2.17",
    ]


@needs_lambda_host
def test_audit_finds_elf_by_content(tmp_path: Path) -> None:
    assert HOST_ARCHITECTURE is not None
    ls = Path(shutil.which("ls") or "/bin/ls").resolve()
    root = _tree(tmp_path / "build", {"bin/tool": ls})
    assert audit_tree(root, HOST_ARCHITECTURE, (2, 99)) == []
    wrong = "arm64" if HOST_ARCHITECTURE == "x86_64" else "x86_64"
    assert [problem.path for problem in audit_tree(root, wrong, (2, 99))] == [root / "bin/tool"]


def test_audit_damaged_and_foreign_files(wheels: dict[str, Path], tmp_path: Path) -> None:
    root = tmp_path / "build"
    root.mkdir()
    (root / "cut.so").write_bytes(wheels["x86_64"].read_bytes()[:300])
    (root / "libfoo.so").write_text("/* GNU ld script */\nGROUP ( libfoo.so.1 )\n")
    (root / "data.bin").write_bytes(b"\x7fELX" + bytes(100))
    (root / "fifo").mkdir()
    os.mkfifo(root / "fifo" / "pipe.so")
    assert audit_tree(root, "x86_64", (2, 17)) == [
        ElfProblem(root / "cut.so", "not a readable ELF file (truncated or corrupt)")
    ]


def test_audit_follows_no_symlinks(wheels: dict[str, Path], tmp_path: Path) -> None:
    outside = _tree(tmp_path / "checkout", {"lib/_speedups.so": wheels["aarch64"]})
    root = _tree(tmp_path / "build", {"pkg/_speedups.so": wheels["aarch64"]})
    (root / "lib").symlink_to(outside / "lib", target_is_directory=True)
    (root / "alias.so").symlink_to(root / "pkg/_speedups.so")
    (root / "loop").symlink_to(root, target_is_directory=True)
    assert audit_tree(root, "x86_64", (2, 17)) == [
        ElfProblem(root / "pkg/_speedups.so", "built for aarch64, function is x86_64")
    ]
