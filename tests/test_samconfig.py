"""mount_symlinks in the SAM config file: round trip, file choice, creation, environments."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from samlink.errors import UsageError
from samlink.model.samconfig import enable_mount_symlinks, find_config

TOML = """\
# More information about the configuration file can be found here:
# https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/serverless-sam-cli-config.html
version = 0.1

[default.global.parameters]
stack_name = "sam-app"  # the dev stack

[default.build.parameters]
cached = true
parallel = true

[default.local_invoke.parameters]
env_vars = "env.json"   # kept
# a comment at the end of the table

[prod.deploy.parameters]
stack_name = "sam-app-prod"
"""

YAML_CONFIG = """\
# SAM config in YAML
version: 0.1
default:
  global:
    parameters:
      stack_name: "sam-app"   # quoted on purpose
  deploy:
    parameters:
      capabilities: CAPABILITY_IAM
      parameter_overrides:
        - Stage=dev
        - 'Key=Value'
prod:
  deploy:
    parameters:
      stack_name: sam-app-prod
"""


def _added_only(old: str, new: str) -> list[str]:
    """The lines `new` adds to `old`; fails if any line of `old` changed or went away."""
    diff = list(difflib.ndiff(old.splitlines(keepends=True), new.splitlines(keepends=True)))
    assert [line for line in diff if line.startswith("- ")] == []
    return [line[2:] for line in diff if line.startswith("+ ")]


def _again(tmp_path: Path, path: Path, new: str, env: str = "default") -> None:
    """Writing the result and running again changes nothing."""
    path.write_bytes(new.encode())
    assert enable_mount_symlinks(tmp_path, env) == (path, new, new)


def test_toml_existing_section_keeps_comments(tmp_path: Path) -> None:
    path = tmp_path / "samconfig.toml"
    path.write_text(TOML)
    found, old, new = enable_mount_symlinks(tmp_path)
    assert (found, old) == (path, TOML)
    assert _added_only(old, new) == ["mount_symlinks = true\n"]
    # The new key lands in [default.local_invoke.parameters], before the next table.
    assert 'env_vars = "env.json"   # kept\n' in new
    assert "mount_symlinks = true\n\n[prod.deploy.parameters]" in new
    _again(tmp_path, path, new)


def test_toml_new_section_for_another_env(tmp_path: Path) -> None:
    path = tmp_path / "samconfig.toml"
    path.write_text(TOML)
    _, old, new = enable_mount_symlinks(tmp_path, "prod")
    assert _added_only(old, new) == [
        "\n",
        "[prod.local_invoke.parameters]\n",
        "mount_symlinks = true\n",
    ]
    _again(tmp_path, path, new, "prod")


def test_toml_quotes_unusual_env_names(tmp_path: Path) -> None:
    (tmp_path / "samconfig.toml").write_text("version = 0.1\n")
    _, _, new = enable_mount_symlinks(tmp_path, "my env")
    assert new == 'version = 0.1\n\n["my env".local_invoke.parameters]\nmount_symlinks = true\n'


def test_toml_false_becomes_true(tmp_path: Path) -> None:
    text = "version = 0.1\n[default.local_invoke.parameters]\nmount_symlinks = false\n"
    (tmp_path / "samconfig.toml").write_text(text)
    _, _, new = enable_mount_symlinks(tmp_path)
    assert new == text.replace("false", "true")


def test_toml_crlf_stays_crlf(tmp_path: Path) -> None:
    text = 'version = 0.1\r\n\r\n[default.local_invoke.parameters]\r\nenv_vars = "e.json"\r\n'
    path = tmp_path / "samconfig.toml"
    path.write_bytes(text.encode())
    _, old, new = enable_mount_symlinks(tmp_path)
    assert old == text
    assert new == text + "mount_symlinks = true\r\n"
    _again(tmp_path, path, new)


def test_toml_without_version_gets_one(tmp_path: Path) -> None:
    (tmp_path / "samconfig.toml").write_text("# only a comment\n")
    _, _, new = enable_mount_symlinks(tmp_path)
    assert new.startswith("version = 0.1\n")
    assert "# only a comment\n" in new


def test_yaml_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "samconfig.yaml"
    path.write_text(YAML_CONFIG)
    found, old, new = enable_mount_symlinks(tmp_path)
    assert found == path
    assert _added_only(old, new) == [
        "  local_invoke:\n",
        "    parameters:\n",
        "      mount_symlinks: true\n",
    ]
    _again(tmp_path, path, new)


def test_yaml_other_env_and_existing_section(tmp_path: Path) -> None:
    path = tmp_path / "samconfig.yml"
    text = YAML_CONFIG + "dev:\n  local_invoke:\n    parameters:\n      env_vars: env.json\n"
    path.write_text(text)
    found, old, new = enable_mount_symlinks(tmp_path, "dev")
    assert found == path
    assert _added_only(old, new) == ["      mount_symlinks: true\n"]
    _again(tmp_path, path, new, "dev")


def test_new_config_is_toml_with_version(tmp_path: Path) -> None:
    path, old, new = enable_mount_symlinks(tmp_path, "dev")
    assert path == tmp_path / "samconfig.toml"
    assert old == ""
    assert new == "version = 0.1\n\n[dev.local_invoke.parameters]\nmount_symlinks = true\n"
    assert not path.exists()  # pure: nothing written


def test_toml_is_preferred_over_yaml(tmp_path: Path) -> None:
    (tmp_path / "samconfig.yaml").write_text(YAML_CONFIG)
    (tmp_path / "samconfig.yml").write_text(YAML_CONFIG)
    assert find_config(tmp_path) == tmp_path / "samconfig.yaml"
    (tmp_path / "samconfig.toml").write_text("version = 0.1\n")
    assert find_config(tmp_path) == tmp_path / "samconfig.toml"
    path, _, _ = enable_mount_symlinks(tmp_path)
    assert path == tmp_path / "samconfig.toml"


def test_yaml_is_preferred_over_yml(tmp_path: Path) -> None:
    (tmp_path / "samconfig.yml").write_text(YAML_CONFIG)
    assert find_config(tmp_path) == tmp_path / "samconfig.yml"
    (tmp_path / "samconfig.yaml").write_text(YAML_CONFIG)
    assert find_config(tmp_path) == tmp_path / "samconfig.yaml"


def test_explicit_config_file(tmp_path: Path) -> None:
    (tmp_path / "samconfig.toml").write_text("version = 0.1\n")
    (tmp_path / "conf").mkdir()
    custom = tmp_path / "conf" / "team.yaml"
    custom.write_text(YAML_CONFIG)
    assert find_config(tmp_path, Path("conf/team.yaml")) == custom
    path, old, new = enable_mount_symlinks(tmp_path, config_file=Path("conf/team.yaml"))
    assert (path, old) == (custom, YAML_CONFIG)
    assert "mount_symlinks: true" in new
    # A named file that does not exist yet is created in its own format.
    assert find_config(tmp_path, Path("other.yaml")) is None
    path, old, new = enable_mount_symlinks(tmp_path, config_file=Path("other.yaml"))
    assert (path, old) == (tmp_path / "other.yaml", "")
    assert new.startswith("version: 0.1\n") and "mount_symlinks: true" in new


def test_no_config_found(tmp_path: Path) -> None:
    assert find_config(tmp_path) is None


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("samconfig.toml", "version = 0.1\n[default\n"),
        ("samconfig.yaml", "version: 0.1\ndefault: [a\n"),
    ],
)
def test_parse_errors_are_usage_errors(tmp_path: Path, name: str, text: str) -> None:
    (tmp_path / name).write_text(text)
    with pytest.raises(UsageError) as err:
        enable_mount_symlinks(tmp_path)
    assert err.value.message.startswith(f"{tmp_path / name}:")


def test_env_that_is_not_a_table_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "samconfig.toml").write_text('version = 0.1\ndefault = "x"\n')
    with pytest.raises(UsageError, match="not a table"):
        enable_mount_symlinks(tmp_path)


@pytest.mark.parametrize("name", ["samconfig.toml", "samconfig.yaml"])
def test_sam_cli_reads_the_setting(tmp_path: Path, name: str) -> None:
    """SAM CLI's own config reader finds the same file and sees mount_symlinks = true."""
    from samcli.lib.config import samconfig  # SAM CLI is in the test environment

    if name.endswith(".yaml"):
        (tmp_path / name).write_text(YAML_CONFIG)
    path, _, new = enable_mount_symlinks(tmp_path, "dev")
    assert path.name == name
    path.write_text(new)
    assert samconfig.SamConfig.get_default_file(str(tmp_path)) == name
    config = samconfig.SamConfig(str(tmp_path), name)
    params = config.get_all(["local", "invoke"], "parameters", env="dev")
    assert params["mount_symlinks"] is True


@pytest.mark.parametrize(
    "text",
    [
        # CRLF line endings
        "version: 0.1\r\ndefault:\r\n  deploy:\r\n    parameters:\r\n      stack_name: x\r\n",
        # lists the way SAM itself writes them (dash at the key's column), a document start
        "---\nversion: 0.1\ndefault:\n  deploy:\n    parameters:\n      capabilities:\n"
        "      - CAPABILITY_IAM\n      stack_name: x\n",
        # four-space indentation
        "version: 0.1\ndefault:\n    deploy:\n        parameters:\n            stack_name: x\n",
    ],
)
def test_yaml_styles_are_kept(tmp_path: Path, text: str) -> None:
    path = tmp_path / "samconfig.yaml"
    path.write_bytes(text.encode())
    _, old, new = enable_mount_symlinks(tmp_path)
    added = _added_only(old, new)
    assert [line.strip() for line in added] == [
        "local_invoke:",
        "parameters:",
        "mount_symlinks: true",
    ]
    eol = "\r\n" if "\r\n" in text else "\n"
    assert all(line.endswith(eol) for line in added)
    _again(tmp_path, path, new)


def test_command_settings_global_then_command(tmp_path: Path) -> None:
    from samlink.model.samconfig import command_settings

    (tmp_path / "samconfig.toml").write_text(
        "version = 0.1\n"
        "[default.global.parameters]\n"
        'region = "eu-west-1"\n'
        "port = 1\n"
        "[default.local_start_api.parameters]\n"
        "port = 4000\n"
        'parameter_overrides = "Stage=qa"\n'
    )
    assert command_settings(tmp_path, "local_start_api") == {
        "region": "eu-west-1",
        "port": 4000,
        "parameter_overrides": "Stage=qa",
    }
    assert command_settings(tmp_path, "local_start_api", "prod") == {}
    assert command_settings(tmp_path / "none", "local_start_api") == {}
