"""Generated make targets: merge rules, and real make runs as SAM makes them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from samlink.build import makefile
from samlink.errors import UsageError

SPEC = makefile.TargetSpec("Fn", "function", "3.12", "x86_64", "../template.yaml")
LAYER = makefile.TargetSpec("Deps", "layer", "3.11", "arm64", "../template.yaml")


def test_render_is_idempotent_and_keeps_other_targets() -> None:
    existing = "# mine\nall: hello\n\nhello:\n\techo hi\n"
    once = makefile.render(existing, [SPEC, LAYER])
    assert "hello:\n\techo hi\n" in once
    assert once.index(makefile.HEADER_BEGIN) < once.index("# mine")
    assert makefile.render(once, [SPEC, LAYER]) == once
    assert makefile.own_targets(once) == ["build-Fn", "build-Deps"]


def test_render_updates_own_block_in_place() -> None:
    once = makefile.render("", [SPEC])
    newer = makefile.TargetSpec("Fn", "function", "3.13", "arm64", "../template.yaml")
    twice = makefile.render(once, [newer])
    assert "--python-version 3.13" in twice
    assert "--python-version 3.12" not in twice
    assert twice.count("build-Fn:") == 1


def test_foreign_target_needs_force() -> None:
    existing = (
        "build-Fn:\n\tpip install -r requirements.txt -t $(ARTIFACTS_DIR)\n\nother:\n\ttrue\n"
    )
    with pytest.raises(UsageError) as info:
        makefile.render(existing, [SPEC], path=Path("fn/Makefile"))
    assert "--force" in info.value.hint
    forced = makefile.render(existing, [SPEC], force=True)
    assert forced.count("build-Fn:") == 1
    assert "other:\n\ttrue\n" in forced
    assert "pip install -r requirements.txt -t" not in forced


def test_no_absolute_paths() -> None:
    text = makefile.render("", [SPEC, LAYER])
    assert "/tmp" not in text and "/home" not in text and "/root" not in text


def test_makefile_from_list_with_spaces(tmp_path: Path) -> None:
    folder = tmp_path / "sp ace" / "fn"
    folder.mkdir(parents=True)
    (folder / "Makefile").write_text("")
    (tmp_path / "inc.mk").write_text("")
    value = f" {folder / 'Makefile'} {tmp_path / 'inc.mk'}"
    assert makefile.makefile_from_list(value) == (folder / "Makefile").resolve()


def fake_samlink(tmp_path: Path) -> Path:
    script = tmp_path / "bin" / "samlink"
    script.parent.mkdir()
    script.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$ARTIFACTS_DIR/args"\n')
    script.chmod(0o755)
    return script


@pytest.mark.parametrize("temp_copy", [True, False])
def test_make_finds_the_real_source_dir_from_a_copy(tmp_path: Path, temp_copy: bool) -> None:
    """As SAM runs it: `make --makefile <original>` with the cwd in a temp copy (or in place)."""
    project = tmp_path / "my project"
    code = project / "fn"
    code.mkdir(parents=True)
    (code / "Makefile").write_text(makefile.render("", [SPEC]))
    samlink = fake_samlink(tmp_path)
    cwd = code
    if temp_copy:
        cwd = tmp_path / "copy"
        shutil.copytree(code, cwd)
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    env = {
        **os.environ,
        "ARTIFACTS_DIR": str(artifacts),
        "PATH": f"{samlink.parent}:{os.environ['PATH']}",
    }
    subprocess.run(
        ["make", "--makefile", str(code / "Makefile"), "build-Fn"],
        cwd=cwd,
        env=env,
        check=True,
        capture_output=True,
    )
    args = (artifacts / "args").read_text().splitlines()
    assert args[:4] == ["build", "Fn", "--template", "../template.yaml"]
    assert makefile.makefile_from_list(args[5]) == (code / "Makefile").resolve()


def test_fallback_installs_for_lambda_and_copies_code(tmp_path: Path) -> None:
    """Without samlink the target still builds: pip for the Lambda target + a copy of the code."""
    code = tmp_path / "fn"
    (code / "tests").mkdir(parents=True)
    (code / "app.py").write_text("import six\n")
    (code / "requirements.txt").write_text("six==1.16.0\n")
    (code / "Makefile").write_text(makefile.render("", [SPEC]))
    artifacts = tmp_path / "artifacts"
    env = {
        **os.environ,
        "ARTIFACTS_DIR": str(artifacts),
        "SAMLINK": "samlink-not-installed",
        "SAMLINK_PYTHON": sys.executable,
    }
    result = subprocess.run(
        ["make", "--makefile", str(code / "Makefile"), "build-Fn"],
        cwd=code,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "samlink not found" in result.stdout
    assert (artifacts / "six.py").is_file()
    assert (artifacts / "app.py").is_file() and not (artifacts / "app.py").is_symlink()
    assert not (artifacts / "tests").exists()
    assert not (artifacts / "Makefile").exists()
    assert not (artifacts / "requirements.txt").exists()


def test_fallback_refuses_a_symlink_out_of_the_project_copies_one_inside(tmp_path: Path) -> None:
    """The plain-pip fallback copies the code dir keeping symlinks, which SAM's zip follows: a
    link whose target is outside where `sam build` runs ($(PWD)) is refused with one line naming
    it (at the top of the code dir or inside a copied folder); a link within the project is
    copied as before."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text("secret\n")
    project = tmp_path / "project"
    code = project / "fn"
    (project / "shared").mkdir(parents=True)
    (project / "shared" / "util.py").write_text("X = 1\n")
    (project / "shared" / "key").symlink_to(home / ".ssh" / "id_rsa")
    code.mkdir()
    (code / "app.py").write_text("X = 1\n")
    (code / "shared").symlink_to("../shared")
    (code / "Makefile").write_text(makefile.render("", [SPEC]))
    env = {
        **os.environ,
        "SAMLINK": "samlink-not-installed",
        "SAMLINK_PYTHON": sys.executable,
        "PWD": str(project),  # SAM runs from the project root; make reads $(PWD) from it
    }
    for name in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS"):
        env.pop(name, None)

    def make(artifacts: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["make", "--makefile", str(code / "Makefile"), "build-Fn"],
            cwd=code,
            env={**env, "ARTIFACTS_DIR": str(artifacts)},
            capture_output=True,
            text=True,
        )

    # A link inside a folder the copy would take (shared/key -> ~/.ssh/id_rsa).
    inner = make(tmp_path / "a1")
    assert inner.returncode != 0
    refusals = [line for line in inner.stderr.splitlines() if "refusing" in line]
    assert refusals == [
        f"samlink: refusing to copy shared/key: a symlink that leads outside {project}"
    ]
    (project / "shared" / "key").unlink()

    # A link at the top of the code dir (ssh_link -> ~/.ssh).
    (code / "ssh_link").symlink_to(home / ".ssh")
    top = make(tmp_path / "a2")
    assert top.returncode != 0
    refusals = [line for line in top.stderr.splitlines() if "refusing" in line]
    assert refusals == [
        f"samlink: refusing to copy ssh_link: a symlink that leads outside {project}"
    ]
    assert not (tmp_path / "a2" / "ssh_link").exists()
    (code / "ssh_link").unlink()

    # Links that stay inside the project are copied as today.
    fine = make(tmp_path / "a3")
    assert fine.returncode == 0, fine.stderr
    assert (tmp_path / "a3" / "app.py").is_file()
    assert os.readlink(tmp_path / "a3" / "shared") == "../shared"  # kept a link, as today
