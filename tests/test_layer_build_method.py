"""Layers built the usual SAM way (`Metadata: BuildMethod: python3.X`) are managed (issue 15)."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import BIN, copy_example, run, sam_build
from samlink.errors import UsageError
from samlink.model.template import add_makefile_build, load_template

SAMLINK = BIN / "samlink"

LAYER = """
  DepsLayer:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: deps/
    Metadata:
      BuildMethod: python3.12
"""

JSON_TEMPLATE = """{
  "Transform": "AWS::Serverless-2016-10-31",
  "Resources": {
    "DepsLayer": {
      "Type": "AWS::Serverless::LayerVersion",
      "Properties": {
        "ContentUri": "deps/"
      },
      "Metadata": {"BuildMethod": "python3.12"}
    }
  }
}
"""


def with_layer(project: Path) -> Path:
    template = project / "template.yaml"
    text = template.read_text()
    template.write_text(text.replace("\nParameters:", LAYER + "\nParameters:", 1))
    (project / "deps").mkdir()
    (project / "deps" / "requirements.txt").write_text(
        "--no-index\n--find-links ../wheelhouse\nsam-sync-test-upstream==1.0.0\n"
    )
    return template


def test_layer_runtime_comes_from_its_build_method(tmp_path: Path) -> None:
    template = with_layer(copy_example(tmp_path / "proj"))
    layer = load_template(template).get("DepsLayer")
    assert (layer.kind, layer.managed, layer.runtime) == ("layer", True, "python3.12")


def test_init_keeps_the_runtime_as_compatible_runtimes_yaml_and_json(tmp_path: Path) -> None:
    template = with_layer(copy_example(tmp_path / "proj"))
    old, new = add_makefile_build(template, ["DepsLayer"])
    added = [line.strip() for line in new.splitlines() if line not in old.splitlines()]
    assert added == ["CompatibleRuntimes: [python3.12]", "BuildMethod: makefile"]
    assert "BuildMethod: makefile" in new and "BuildMethod: python3.12" not in new

    (tmp_path / "deps").mkdir()
    json_path = tmp_path / "template.json"
    json_path.write_text(JSON_TEMPLATE)
    _, new_json = add_makefile_build(json_path, [])
    json_path.write_text(new_json)
    layer = load_template(json_path).get("DepsLayer")
    assert (layer.managed, layer.runtime, layer.build_method) == (True, "python3.12", "makefile")


def test_unmanaged_layer_is_called_a_layer(tmp_path: Path) -> None:
    (tmp_path / "deps").mkdir()
    path = tmp_path / "template.yaml"
    path.write_text(
        "Resources:\n  L:\n    Type: AWS::Serverless::LayerVersion\n"
        "    Properties:\n      ContentUri: deps/\n"
    )
    with pytest.raises(UsageError) as err:
        load_template(path).select(["L"])
    assert "is not a layer samlink can build" in str(err.value)


def test_init_and_sam_build_a_build_method_layer(tmp_path: Path, tool_env: dict[str, str]) -> None:
    project = copy_example(tmp_path / "proj", tool_env)
    template = with_layer(project)
    run([SAMLINK, "init"], project, tool_env)
    assert "CompatibleRuntimes: [python3.12]" in template.read_text()
    assert (project / "deps" / "Makefile").read_text().count("build-DepsLayer:") == 1
    layer = load_template(template).get("DepsLayer")
    assert (layer.managed, layer.build_method) == (True, "makefile")

    sam_build(project, tool_env)
    python = project / ".aws-sam" / "build" / "DepsLayer" / "python"
    assert (python / "sam_sync_test_upstream").is_dir()
    assert list(python.glob("sam_sync_test_upstream-1.0.0.dist-info"))
