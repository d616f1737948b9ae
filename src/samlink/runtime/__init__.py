"""Docker-free `samlink invoke`: run a built function exactly as Lambda lays it out.

Without a container engine the function runs under the real awslambdaric client, against a Runtime
API served here, in a private mount namespace where /var/task and /opt look as they do in Lambda.
With an engine, `sam local invoke --mount-symlinks` does the same job.

May import: `samlink.build` (a stale function is rebuilt first), `samlink.model` and the ground.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from samlink.runtime.docker import (
    built_template,
    check_sam_version,
    engine_available,
    run_sam_local_invoke,
    sam_local_invoke_argv,
)
from samlink.runtime.environment import default_region, environment_for
from samlink.runtime.invoke import InvokeResult, InvokeSpec, invoke

if TYPE_CHECKING:
    from samlink.runtime.from_template import spec_from_template

__all__ = [
    "InvokeResult",
    "InvokeSpec",
    "built_template",
    "check_sam_version",
    "default_region",
    "engine_available",
    "environment_for",
    "invoke",
    "run_sam_local_invoke",
    "sam_local_invoke_argv",
    "spec_from_template",
]


def __getattr__(name: str) -> object:
    # The template reader is most of samlink's import time; code that builds its own InvokeSpec
    # (the benchmark, tests, a watch loop) should not pay for it.
    if name == "spec_from_template":
        from samlink.runtime.from_template import spec_from_template

        return spec_from_template
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
