"""Lambda targets: glibc floors, machine names, platform values and wheel tags."""

from __future__ import annotations

import subprocess

import pytest
import uv

from samlink.errors import UsageError
from samlink.model.target import SUPPORTED_PYTHONS, Target, target_for


def test_runtime_and_architecture_map_to_a_target() -> None:
    target = target_for("python3.12", "arm64")
    assert target == Target("3.12", "arm64")
    assert target.machine == "aarch64"
    assert target_for("python3.11", "x86_64").machine == "x86_64"


@pytest.mark.parametrize(
    ("runtime", "glibc"),
    [
        ("python3.8", (2, 17)),
        ("python3.10", (2, 17)),
        ("python3.11", (2, 17)),
        ("python3.12", (2, 34)),
        ("python3.13", (2, 34)),
    ],
)
def test_glibc_floor_follows_the_amazon_linux_generation(
    runtime: str, glibc: tuple[int, int]
) -> None:
    assert target_for(runtime, "x86_64").glibc == glibc


@pytest.mark.parametrize(
    ("runtime", "arch"), [("nodejs20.x", "x86_64"), ("python2.7", "x86_64"), ("python3.12", "ppc")]
)
def test_non_python_runtime_or_unknown_architecture_is_a_usage_error(
    runtime: str, arch: str
) -> None:
    with pytest.raises(UsageError) as err:
        target_for(runtime, arch)
    assert err.value.hint


def test_uv_platform_values_are_accepted_by_the_installed_uv() -> None:
    help_text = subprocess.run(
        [uv.find_uv_bin(), "pip", "install", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert target_for("python3.11", "x86_64").uv_platform == "x86_64-manylinux_2_17"
    assert target_for("python3.12", "arm64").uv_platform == "aarch64-manylinux_2_34"
    for version in SUPPORTED_PYTHONS:
        for arch in ("x86_64", "arm64"):
            assert Target(version, arch).uv_platform in help_text


def test_pip_platforms_list_every_older_floor_because_pip_does_not_expand_them() -> None:
    platforms = target_for("python3.12", "x86_64").pip_platforms
    assert platforms[0] == "manylinux_2_34_x86_64"
    assert "manylinux_2_28_x86_64" in platforms
    assert "manylinux2014_x86_64" in platforms
    assert "manylinux1_x86_64" in platforms
    assert all("aarch64" not in p for p in platforms)
    arm = target_for("python3.11", "arm64").pip_platforms
    assert arm[0] == "manylinux_2_17_aarch64"
    assert "manylinux2014_aarch64" in arm
    # manylinux1/2010 were never defined for aarch64.
    assert not any(p.startswith(("manylinux1_", "manylinux2010_")) for p in arm)


@pytest.mark.parametrize(
    ("tag", "accepted"),
    [
        ("cp312-cp312-manylinux_2_17_aarch64", True),
        ("cp312-cp312-manylinux_2_34_aarch64", True),
        ("cp312-cp312-manylinux_2_17_aarch64.manylinux2014_aarch64", True),
        ("cp39-abi3-manylinux2014_aarch64", True),
        ("py3-none-any", True),
        ("py2.py3-none-any", True),
        ("cp312-none-any", True),
        ("cp312-cp312-manylinux_2_35_aarch64", False),  # newer glibc than AL2023
        ("cp312-cp312-manylinux_2_17_x86_64", False),  # wrong machine
        ("cp311-cp311-manylinux_2_17_aarch64", False),  # another Python
        ("cp312-cp312-linux_aarch64", False),  # built on a host, not manylinux
        ("cp312-cp312t-manylinux_2_17_aarch64", False),  # free-threaded ABI
        ("cp312-cp312-musllinux_1_2_aarch64", False),
        ("py2-none-any", False),
        ("not a tag", False),
    ],
)
def test_accepts_wheel_tag_for_python312_arm64(tag: str, accepted: bool) -> None:
    assert target_for("python3.12", "arm64").accepts_wheel_tag(tag) is accepted


def test_python311_accepts_manylinux2014_but_not_newer_glibc() -> None:
    target = target_for("python3.11", "x86_64")
    assert target.accepts_wheel_tag("cp311-cp311-manylinux_2_17_x86_64")
    assert target.accepts_wheel_tag("cp311-cp311-manylinux1_x86_64")
    assert target.accepts_wheel_tag("cp37-abi3-manylinux2010_x86_64")
    assert not target.accepts_wheel_tag("cp311-cp311-manylinux_2_28_x86_64")
    assert not target.accepts_wheel_tag("cp311-cp311-linux_x86_64")
