"""Build the upstream library's pinned release (1.0.0) into ./wheelhouse.

The team's releases of sam-sync-test-upstream are not on PyPI; this stands in for their private
wheelhouse. The release is the checkout's code with the release version, built from a copy so
the checkout stays untouched.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
RELEASE = "1.0.0"


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "wheelhouse"
    out.mkdir(parents=True, exist_ok=True)
    if list(out.glob(f"sam_sync_test_upstream-{RELEASE}-*.whl")):
        return
    import uv

    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "upstream"
        shutil.copytree(
            HERE / "sam-sync-test-upstream",
            copy,
            ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"),
        )
        pyproject = copy / "pyproject.toml"
        text = re.sub(
            r'^version = ".*"$', f'version = "{RELEASE}"', pyproject.read_text(), flags=re.M
        )
        pyproject.write_text(text)
        subprocess.run(
            [uv.find_uv_bin(), "build", "--wheel", "--quiet", "--out-dir", str(out), str(copy)],
            check=True,
        )


if __name__ == "__main__":
    main()
