"""Requirements files read as pip reads them, paths taken from the file's own folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from samlink.errors import UsageError
from samlink.model import requirements


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_includes_options_and_relative_paths(tmp_path: Path) -> None:
    write(tmp_path / "shared" / "base.txt", "six==1.16.0  # pinned\n-c constraints.txt\n")
    write(tmp_path / "shared" / "constraints.txt", "idna<4\n")
    req = write(
        tmp_path / "fn" / "requirements.txt",
        """\
# a comment
-r ../shared/base.txt
--find-links ../wheels
--extra-index-url https://example.invalid/simple
-e ../lib-a
./lib-b
Requests[socks] >= 2.0 ; python_version >= "3.9" \\
    --hash=sha256:abc
lib-c @ file:../lib-c
""",
    )
    parsed = requirements.parse(req)
    assert parsed.files == (
        req.resolve(),
        (tmp_path / "shared/base.txt").resolve(),
        (tmp_path / "shared/constraints.txt").resolve(),
    )
    assert parsed.find_links == (str((tmp_path / "wheels").resolve()),)
    assert parsed.extra_index_urls == ("https://example.invalid/simple",)
    names = [line.name for line in parsed.lines]
    assert names == ["six", None, None, "requests", "lib-c"]
    local = {line.path: line.editable for line in parsed.local_lines}
    assert local == {
        (tmp_path / "lib-a").resolve(): True,
        (tmp_path / "fn/lib-b").resolve(): False,
        (tmp_path / "lib-c").resolve(): False,
    }
    requests_line = parsed.lines[3]
    assert requests_line.lineno == 7
    assert requests_line.requirement is not None
    assert requirements.normalized(requests_line.requirement) == (
        'requests[socks]>=2.0; python_version >= "3.9"'
    )
    assert [c.name for c in parsed.constraints] == ["idna"]


def test_env_vars_are_expanded(tmp_path: Path) -> None:
    req = write(tmp_path / "requirements.txt", "--index-url ${INDEX}\nsix\n")
    parsed = requirements.parse(req, environ={"INDEX": "https://idx.invalid/simple"})
    assert parsed.index_url == "https://idx.invalid/simple"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("requests===\n", "invalid requirement"),
        ("--frobnicate\n", "unsupported option"),
        ("-r missing.txt\n", "not found"),
        ("-e git+https://example.invalid/x.git#egg=x\n", "VCS/URL"),
    ],
)
def test_bad_lines_name_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    req = write(tmp_path / "requirements.txt", "six\n" + text)
    with pytest.raises(UsageError) as info:
        requirements.parse(req)
    assert message in info.value.message
    assert "requirements.txt" in info.value.message


def test_markers_are_evaluated_for_the_lambda_target() -> None:
    from packaging.requirements import Requirement

    env = requirements.target_environment("3.12", "aarch64")
    assert requirements.applies(Requirement('x; python_version >= "3.12"').marker, env, frozenset())
    assert not requirements.applies(
        Requirement('x; sys_platform == "darwin"').marker, env, frozenset()
    )
    assert requirements.applies(
        Requirement('x; platform_machine == "aarch64"').marker, env, frozenset()
    )
    extra = Requirement('x; extra == "fast"').marker
    assert not requirements.applies(extra, env, frozenset())
    assert requirements.applies(extra, env, frozenset({"fast"}))
