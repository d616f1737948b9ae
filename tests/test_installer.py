"""Installers: pip's configuration read without pip, and real uv / pip installs from PyPI."""

from __future__ import annotations

import os
import tarfile
import textwrap
from pathlib import Path

import pytest

from samlink.build import installer as installer_module
from samlink.build.installer import (
    IndexOptions,
    Installer,
    InstallSpec,
    check_wheel_tags,
    install,
    last_error_line,
    merge_index,
    pip_configuration,
    pip_settings,
    resolve_installer,
)
from samlink.errors import BuildError, UsageError
from samlink.model.target import Target, target_for

EM_X86_64 = 0x3E
EM_AARCH64 = 0xB7
# Files only an installer's bookkeeping differs in.
BOOKKEEPING = {"INSTALLER", "RECORD", "REQUESTED", "direct_url.json"}


def elf_machine(path: Path) -> int:
    header = path.read_bytes()[:20]
    assert header[:4] == b"\x7fELF", path
    return int.from_bytes(header[18:20], "little")


def shared_objects(root: Path) -> list[Path]:
    return [p for p in root.rglob("*.so") if p.is_file()]


def wheel_tags(root: Path) -> dict[str, list[str]]:
    tags = {}
    for wheel in root.glob("*.dist-info/WHEEL"):
        lines = wheel.read_text().splitlines()
        tags[wheel.parent.name] = [
            ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("Tag:")
        ]
    return tags


def file_set(root: Path) -> set[str]:
    out = set()
    for path in root.rglob("*"):
        if path.is_dir() or "__pycache__" in path.parts or path.name in BOOKKEEPING:
            continue
        out.add(path.relative_to(root).as_posix())
    return out


# --- pip's configuration (no network) ------------------------------------------------------


@pytest.fixture
def clean_pip_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No PIP_* variables and every configuration location inside tmp_path."""
    for name in list(os.environ):
        if name.startswith("PIP_"):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_CONFIG_DIRS", str(tmp_path / "xdg"))
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    # /etc/pip.conf is a fixed path in pip; point it into the sandbox too.
    monkeypatch.setattr(installer_module, "_ETC", tmp_path / "etc")
    return tmp_path


def write_conf(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def test_no_configuration_means_pypi(clean_pip_env: Path) -> None:
    assert pip_configuration() == IndexOptions()


def test_files_and_sections_in_pips_order(
    clean_pip_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp = clean_pip_env
    write_conf(
        tmp / "xdg/pip/pip.conf",
        """
        [global]
        index-url = https://global.example/simple
        trusted-host = global.example
        [install]
        pre = yes
        """,
    )
    write_conf(
        tmp / "etc/pip.conf",
        """
        [global]
        extra-index-url = https://etc.example/simple
        """,
    )
    write_conf(
        tmp / "home/.config/pip/pip.conf",
        """
        [global]
        index_url = https://user.example/simple
        [freeze]
        index-url = https://ignored.example/simple
        """,
    )
    assert pip_configuration() == IndexOptions(
        index_url="https://user.example/simple",
        extra_index_urls=("https://etc.example/simple",),
        trusted_hosts=("global.example",),
        pre=True,
    )
    # [install] in a lower-priority file still beats [global] in a higher one.
    write_conf(
        tmp / "xdg/pip/pip.conf",
        """
        [install]
        index-url = https://install-section.example/simple
        """,
    )
    assert pip_configuration().index_url == "https://install-section.example/simple"
    # The activated virtualenv's file wins over the user's.
    venv = tmp / "venv"
    write_conf(venv / "pip.conf", "[install]\nindex-url = https://venv.example/simple\n")
    monkeypatch.setenv("VIRTUAL_ENV", str(venv))
    assert pip_configuration().index_url == "https://venv.example/simple"
    # Environment variables beat every file; an empty one is ignored, as pip does.
    monkeypatch.setenv("PIP_INDEX_URL", "https://env.example/simple")
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "https://a.example/simple https://b.example/simple")
    monkeypatch.setenv("PIP_PRE", "false")
    options = pip_configuration()
    assert options.index_url == "https://env.example/simple"
    assert options.extra_index_urls == ("https://a.example/simple", "https://b.example/simple")
    assert options.pre is False
    monkeypatch.setenv("PIP_INDEX_URL", "")
    assert pip_configuration().index_url == "https://venv.example/simple"


def test_pip_config_file_skips_user_files_and_devnull_skips_all(
    clean_pip_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp = clean_pip_env
    write_conf(tmp / "home/.pip/pip.conf", "[global]\nindex-url = https://legacy-user.example/\n")
    write_conf(tmp / "etc/pip.conf", "[global]\nextra-index-url = https://site-wide.example/\n")
    assert pip_configuration().index_url == "https://legacy-user.example/"
    env_file = write_conf(tmp / "custom.conf", "[global]\ntrusted-host = custom.example\n")
    monkeypatch.setenv("PIP_CONFIG_FILE", str(env_file))
    options = pip_configuration()
    assert options.index_url is None  # user files are skipped when PIP_CONFIG_FILE exists
    assert options.extra_index_urls == ("https://site-wide.example/",)
    assert options.trusted_hosts == ("custom.example",)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    assert pip_configuration() == IndexOptions(no_index=True)


def test_missing_local_locations_are_dropped_and_paths_made_absolute(
    clean_pip_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp = clean_pip_env
    (tmp / "wheels").mkdir()
    (tmp / "home/wheels-in-home").mkdir()
    (tmp / "local-index").mkdir()
    monkeypatch.chdir(tmp)
    monkeypatch.setenv(
        "PIP_FIND_LINKS",
        f"wheels ~/wheels-in-home {tmp}/missing https://wheels.example/links/",
    )
    monkeypatch.setenv(
        "PIP_EXTRA_INDEX_URL",
        f"file://{tmp}/local-index file://{tmp}/missing-index https://x.example/simple",
    )
    options = pip_configuration()
    assert options.find_links == (
        str(tmp / "wheels"),
        str(tmp / "home/wheels-in-home"),
        "https://wheels.example/links/",
    )
    assert options.extra_index_urls == (f"file://{tmp}/local-index", "https://x.example/simple")


def test_no_index_clears_indexes_and_bad_booleans_are_usage_errors(
    clean_pip_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_conf(
        clean_pip_env / "etc/pip.conf",
        "[global]\nindex-url = https://a.example/\nno-index = true\n",
    )
    assert pip_configuration() == IndexOptions(no_index=True)
    monkeypatch.setenv("PIP_NO_INDEX", "perhaps")
    with pytest.raises(UsageError):
        pip_configuration()


def test_constraint_and_transport_settings_are_read_but_not_index_options(
    clean_pip_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_conf(
        clean_pip_env / "etc/pip.conf",
        "[global]\nconstraint = /somewhere/c.txt\ncert = /somewhere/ca.pem\n",
    )
    monkeypatch.setenv("PIP_DEFAULT_TIMEOUT", "60")
    settings = pip_settings()
    assert settings["constraint"] == "/somewhere/c.txt"
    assert settings["cert"] == "/somewhere/ca.pem"
    assert settings["default-timeout"] == "60"
    assert pip_configuration() == IndexOptions()


def test_merge_index_as_pip_does() -> None:
    config = IndexOptions(
        index_url="https://corp.example/simple",
        extra_index_urls=("https://extra.example/simple",),
        find_links=("/wheels",),
        trusted_hosts=("corp.example",),
    )
    # Nothing in the file: the configuration.
    assert merge_index(IndexOptions(), config) == config
    # Extra indexes and find-links add.
    merged = merge_index(
        IndexOptions(extra_index_urls=("https://more.example/",), find_links=("/req-wheels",)),
        config,
    )
    assert merged.index_url == "https://corp.example/simple"
    assert merged.extra_index_urls == ("https://extra.example/simple", "https://more.example/")
    assert merged.find_links == ("/wheels", "/req-wheels")
    # A file's --index-url replaces the whole configured index list.
    merged = merge_index(IndexOptions(index_url="https://file.example/"), config)
    assert merged.index_url == "https://file.example/"
    assert merged.extra_index_urls == ()
    # --no-index wins from either side; find-links stay.
    merged = merge_index(IndexOptions(no_index=True, pre=True), config)
    assert merged == IndexOptions(
        no_index=True, find_links=("/wheels",), trusted_hosts=("corp.example",), pre=True
    )


def test_last_error_line_picks_the_cause() -> None:
    uv_output = [
        "Using CPython 3.11.7",
        "  \u00d7 No solution found when resolving dependencies:",
        "  ╰─▶ Because nope was not found in the package registry, we can conclude ...",
    ]
    assert last_error_line(uv_output).startswith("Because nope was not found")
    uv_piped = [
        "error: No solution found when resolving dependencies",
        "  cause: Because nope was not found in the package registry",
    ]
    assert last_error_line(uv_piped) == "Because nope was not found in the package registry"
    pip_output = [
        "ERROR: Could not find a version that satisfies the requirement nope (from versions: none)",
        "ERROR: No matching distribution found for nope",
    ]
    assert last_error_line(pip_output) == "No matching distribution found for nope"
    assert last_error_line(["", "something odd", ""]) == "something odd"


def test_check_wheel_tags_names_the_package_and_tag(tmp_path: Path) -> None:
    dist = tmp_path / "fastthing-1.0.dist-info"
    dist.mkdir()
    (dist / "WHEEL").write_text("Wheel-Version: 1.0\nTag: cp311-cp311-linux_x86_64\n")
    with pytest.raises(BuildError) as err:
        check_wheel_tags(tmp_path, target_for("python3.12", "arm64"))
    assert "fastthing 1.0" in err.value.message
    assert "cp311-cp311-linux_x86_64" in err.value.message
    assert "no manylinux wheel for arm64/python3.12" in err.value.hint
    (dist / "WHEEL").write_text("Wheel-Version: 1.0\nTag: py2-none-any\nTag: py3-none-any\n")
    check_wheel_tags(tmp_path, target_for("python3.12", "arm64"))


# --- choosing an installer -----------------------------------------------------------------


def test_resolve_installer_defaults_to_uv_and_honours_the_variable(
    clean_pip_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SAMLINK_INSTALLER", raising=False)
    uv = resolve_installer()
    assert uv.name == "uv" and uv.version and Path(uv.executable).is_file()
    monkeypatch.setenv("SAMLINK_INSTALLER", "pip")
    pip = resolve_installer()
    assert pip.name == "pip" and pip.version
    assert resolve_installer("uv").name == "uv"  # an explicit request beats the variable
    with pytest.raises(UsageError):
        resolve_installer("poetry")


def test_pip_fallback_when_uv_is_missing_or_cannot_do_the_credentials(
    clean_pip_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SAMLINK_INSTALLER", raising=False)
    # uv is a dependency and is installed here, so its absence has to be simulated.
    monkeypatch.setattr(installer_module, "_find_uv", lambda: None)
    assert resolve_installer().name == "pip"
    assert "uv was not found" in capsys.readouterr().err
    monkeypatch.undo()
    monkeypatch.setenv("PIP_KEYRING_PROVIDER", "import")
    assert resolve_installer().name == "pip"
    assert "keyring-provider=import" in capsys.readouterr().err


# --- real installs -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def uv_installer() -> Installer:
    return resolve_installer("uv")


@pytest.fixture(scope="module")
def pip_installer() -> Installer:
    return resolve_installer("pip")


PYPI = IndexOptions(index_url="https://pypi.org/simple")
COMPILED = InstallSpec(("charset-normalizer==3.4.1", "markupsafe==3.0.2"), index=PYPI)


def test_uv_installs_aarch64_cp312_wheels_on_an_x86_64_311_host(
    tmp_path: Path, uv_installer: Installer
) -> None:
    dest = tmp_path / "deps"
    install(COMPILED, target_for("python3.12", "arm64"), dest, uv_installer)
    objects = shared_objects(dest)
    assert objects
    assert {elf_machine(p) for p in objects} == {EM_AARCH64}
    tags = wheel_tags(dest)
    assert set(tags) == {"charset_normalizer-3.4.1.dist-info", "MarkupSafe-3.0.2.dist-info"}
    for wheel_tag_list in tags.values():
        assert all(t.startswith("cp312-cp312-") and t.endswith("_aarch64") for t in wheel_tag_list)
    assert not (dest / ".lock").exists()  # uv's target lock must not ship
    assert not list(dest.rglob("*.pyc"))


def test_uv_python311_x86_64_gets_manylinux2014_or_older(
    tmp_path: Path, uv_installer: Installer
) -> None:
    dest = tmp_path / "deps"
    install(COMPILED, target_for("python3.11", "x86_64"), dest, uv_installer)
    assert {elf_machine(p) for p in shared_objects(dest)} == {EM_X86_64}
    for wheel_tag_list in wheel_tags(dest).values():
        for tag in wheel_tag_list:
            platform = tag.split("-")[2]
            assert platform.startswith(("manylinux_2_", "manylinux2014", "manylinux1"))
            if platform.startswith("manylinux_2_"):
                assert int(platform.split("_")[2]) <= 17


def test_pip_and_uv_install_the_same_files(
    tmp_path: Path, uv_installer: Installer, pip_installer: Installer
) -> None:
    spec = InstallSpec(
        ("pyyaml==6.0.2", "charset-normalizer==3.4.1", "six==1.17.0", "idna==3.10"), index=PYPI
    )
    target = target_for("python3.12", "arm64")
    install(spec, target, tmp_path / "uv", uv_installer)
    install(spec, target, tmp_path / "pip", pip_installer)
    assert file_set(tmp_path / "uv") == file_set(tmp_path / "pip")
    assert {elf_machine(p) for p in shared_objects(tmp_path / "pip")} == {EM_AARCH64}
    assert not list((tmp_path / "pip").rglob("*.pyc"))  # --no-compile


def test_installer_failure_is_a_build_error_with_the_cause(
    tmp_path: Path, uv_installer: Installer, pip_installer: Installer
) -> None:
    spec = InstallSpec(("samlink-no-such-package-a8f3e1==1.0",), index=PYPI)
    target = target_for("python3.12", "x86_64")
    for chosen in (uv_installer, pip_installer):
        with pytest.raises(BuildError) as err:
            install(spec, target, tmp_path / chosen.name, chosen)
        assert "samlink-no-such-package-a8f3e1" in err.value.message, err.value.message
        assert chosen.name in err.value.message
        assert err.value.hint


def make_sdist(folder: Path, name: str, with_extension: bool) -> Path:
    """A minimal setuptools sdist, optionally with a C extension."""
    root = folder / "src" / f"{name}-0.1.0"
    package = root / name
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("VALUE = 1\n")
    ext = ""
    if with_extension:
        (root / "speed.c").write_text(
            textwrap.dedent(
                f"""
                #include <Python.h>
                static struct PyModuleDef def = {{PyModuleDef_HEAD_INIT, "_speed", NULL, -1, NULL}};
                PyMODINIT_FUNC PyInit__speed(void) {{ return PyModule_Create(&def); }}
                /* {name} */
                """
            )
        )
        ext = f'ext_modules=[Extension("{name}._speed", ["speed.c"])],'
    (root / "setup.py").write_text(
        "from setuptools import setup, Extension\n"
        f'setup(name="{name}", version="0.1.0", packages=["{name}"], {ext})\n'
    )
    (root / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'
    )
    (root / "PKG-INFO").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1.0\n")
    links = folder / "links"
    links.mkdir(exist_ok=True)
    archive = links / f"{name}-0.1.0.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(root, arcname=root.name)
    return links


def test_uv_refuses_an_sdist_that_builds_a_host_extension_but_allows_a_pure_one(
    tmp_path: Path, uv_installer: Installer
) -> None:
    # PyPI stays reachable for setuptools (the build requirement); the sdists come from links.
    links = make_sdist(tmp_path, "samlink_probe_cext", with_extension=True)
    spec = InstallSpec(
        ("samlink-probe-cext==0.1.0",),
        index=IndexOptions(index_url=PYPI.index_url, find_links=(str(links),)),
    )
    # Same Python and machine as this host (3.11, x86_64): uv accepts its own linux_x86_64
    # build, so samlink's tag check is what refuses it.
    with pytest.raises(BuildError) as err:
        install(spec, target_for("python3.11", "x86_64"), tmp_path / "cext311", uv_installer)
    assert "samlink_probe_cext" in err.value.message
    assert "cp311-cp311-linux_x86_64" in err.value.message
    assert "no manylinux wheel for x86_64/python3.11" in err.value.hint
    assert "was installed as" in err.value.message  # samlink's check, not uv's
    # Another Python: uv itself notices the mismatch; still one BuildError with the same hint.
    with pytest.raises(BuildError) as err:
        install(spec, target_for("python3.12", "x86_64"), tmp_path / "cext312", uv_installer)
    assert "samlink_probe_cext" in err.value.message
    assert "no manylinux wheel" in err.value.hint

    target = target_for("python3.12", "x86_64")

    links = make_sdist(tmp_path, "samlink_probe_pure", with_extension=False)
    spec = InstallSpec(
        ("samlink-probe-pure==0.1.0",),
        index=IndexOptions(index_url=PYPI.index_url, find_links=(str(links),)),
    )
    install(spec, target, tmp_path / "pure", uv_installer)
    assert (tmp_path / "pure/samlink_probe_pure/__init__.py").is_file()


def test_installs_use_only_the_given_index_not_the_machine_configuration(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    uv_installer: Installer,
    pip_installer: Installer,
) -> None:
    # A pip.conf and variables that would break any install if an installer read them.
    conf = write_conf(tmp_path / "evil.conf", "[global]\nindex-url = http://127.0.0.1:9/simple\n")
    monkeypatch.setenv("PIP_CONFIG_FILE", str(conf))
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("UV_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("UV_NO_INDEX", "1")
    spec = InstallSpec(("six==1.17.0",), index=PYPI)
    for chosen in (uv_installer, pip_installer):
        install(spec, Target("3.12", "x86_64"), tmp_path / chosen.name, chosen)
        assert (tmp_path / chosen.name / "six.py").is_file()
