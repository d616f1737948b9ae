"""Docker-free `samlink invoke`: run a built function exactly as Lambda lays it out.

Without a container engine the function runs under the real awslambdaric client, against a Runtime
API served here, in a private mount namespace where /var/task and /opt look as they do in Lambda.
With an engine, `sam local invoke --mount-symlinks` does the same job.
"""

from __future__ import annotations

from samlink.runtime.docker import (
    built_template,
    check_sam_version,
    engine_available,
    run_sam_local_invoke,
    sam_local_invoke_argv,
)
from samlink.runtime.environment import default_region, environment_for
from samlink.runtime.from_template import spec_from_template
from samlink.runtime.invoke import InvokeResult, InvokeSpec, invoke

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
