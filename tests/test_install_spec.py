"""What a build asks the installer for: pins minus linked names, plus linked projects' own
dependencies, with extras and markers evaluated for the Lambda target (not the host)."""

from __future__ import annotations

from pathlib import Path

from samlink.build.assemble import LinkedProject, Options, install_spec
from samlink.model import requirements
from samlink.model.project import ProjectInfo
from samlink.model.target import target_for


def project(name: str, requires: tuple[str, ...]) -> ProjectInfo:
    return ProjectInfo(
        root=Path("/nonexistent") / name,
        name=name,
        version="1.1.0.dev0",
        requires=requires,
        metadata="",
        imports=(),
        unmapped=(),
        fingerprint="x",
        backend="setuptools.build_meta",
    )


def test_linked_lines_dropped_and_their_dependencies_added_for_the_target(tmp_path: Path) -> None:
    req = tmp_path / "requirements.txt"
    req.write_text("Acme_Lib[net]==1.0.0\nsix==1.16.0\nother-lib==2.0\n")
    reqs = requirements.parse(req)
    lib = LinkedProject(
        project(
            "acme-lib",
            (
                "attrs>=23",
                'idna>=3; extra == "net"',
                'rich; extra == "fancy"',
                'tomli>=2; python_version < "3.11"',
                'uvloop; sys_platform == "darwin"',
                "other-lib>=1",  # linked too: never installed from an index
            ),
        ),
        origin="link",
        extras=frozenset({"net"}),
    )
    other = LinkedProject(project("other-lib", ("packaging",)), origin="link")
    spec = install_spec(reqs, [lib, other], target_for("python3.12", "arm64"), Options())
    assert spec.requirements == ("attrs>=23", "idna>=3", "packaging", "six==1.16.0")
    # The same project on a python3.10 function needs its backport.
    spec = install_spec(reqs, [lib, other], target_for("python3.10", "x86_64"), Options())
    assert "tomli>=2" in spec.requirements
