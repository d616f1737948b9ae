"""Runs first inside the sandbox: build the Lambda filesystem, set sys.path, start awslambdaric.

This file is run as a script by the function's own interpreter (`python -S -B bootstrap.py`), which
may be any Python from 3.8 on, so it uses the standard library only, nothing from samlink.
It reads its plan (JSON) from stdin, or from argv[1] when it re-executes itself in host mode.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

_CLONE_NEWNS = 0x00020000
_CLONE_NEWPID = 0x20000000
_CLONE_NEWUSER = 0x10000000
_MS_RDONLY = 1
_MS_REMOUNT = 32
_MS_BIND = 4096
_MS_REC = 16384
_MS_PRIVATE = 1 << 18
# statvfs flag -> mount flag; the kernel refuses a read-only remount that would drop a flag the
# outer mount had (nosuid, nodev, ...) when we are only root inside a user namespace.
_KEPT_FLAGS = ((2, 2), (4, 4), (8, 8), (1024, 1024), (2048, 2048), (4096, 1 << 21))
_SANDBOX_FAILED = 97


class Unavailable(Exception):
    """No mount namespace can be made here (not permitted, no ctypes, no mount points)."""


def main() -> None:
    """Read the plan, enter the sandbox (or fall back), then run awslambdaric under a supervisor."""
    # The folder of this file is sys.path[0]: never part of the function's world.
    here = sys.path.pop(0)
    reaper = _load_reaper(here)
    # The plan comes as one line: stdin stays open as the lifeline, closed by samlink (or by its
    # death); a host-mode re-exec passes it on the command line.
    line = sys.argv[1] if len(sys.argv) > 1 else sys.stdin.buffer.readline()
    plan = json.loads(line)
    layout = plan["host"]
    in_pid_namespace = False
    if plan["mode"] != "host":
        try:
            in_pid_namespace = _enter_namespace(plan["namespace"]["ops"])
            layout = plan["namespace"]
        except Unavailable as exc:
            if plan["mode"] == "namespace":
                _fail(f"no mount namespace can be made here: {exc}")
            sys.stderr.write(
                f"samlink: no mount namespace here ({exc}); running the function at host paths "
                f"with Lambda's import rules: task root {layout['task_root']}\n"
            )
            sys.stderr.flush()
            _reexec_host(plan)
        except OSError as exc:
            _fail(f"could not assemble /var/task and /opt: {exc}")
    if in_pid_namespace:
        # Our next child is pid 1 of the new namespace: when it ends, the kernel kills every
        # process left in there, detached or not. This process only passes its status on.
        init = os.fork()
        if init:
            os._exit(reaper.exit_code(_wait_for(init)))
        reaper.set_parent_death_signal(9)
    else:
        reaper.become_subreaper()
    function = os.fork()
    if function == 0:
        reaper.set_parent_death_signal(9)
        _detach_stdin()
        _start(layout, plan["handler"], plan.get("debug_port"))
        os._exit(0)
    os._exit(reaper.supervise(function, 0))


def _load_reaper(folder: str) -> Any:
    import importlib.util

    # reaper.py is in the ground, one folder up from runtime/.
    path = os.path.join(os.path.dirname(folder), "reaper.py")
    spec = importlib.util.spec_from_file_location("_samlink_reaper", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _detach_stdin() -> None:
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)


def _wait_for(pid: int) -> int:
    while True:
        try:
            return os.waitpid(pid, 0)[1]
        except InterruptedError:
            continue


def _reexec_host(plan: dict[str, Any]) -> None:
    # LD_LIBRARY_PATH is read once by the dynamic loader at process start: a new process is the
    # only way to give host mode its own library path.
    host = dict(plan, mode="host", namespace=None)
    env = dict(os.environ)
    env.update(plan["host"]["env"])
    args = [sys.executable, "-S", "-s", "-B", os.path.abspath(__file__), json.dumps(host)]
    os.execve(sys.executable, args, env)


def _fail(message: str) -> None:
    sys.stderr.write(f"samlink: {message}\n")
    sys.stderr.flush()
    _report_sandbox_error(message)
    os._exit(_SANDBOX_FAILED)


def _report_sandbox_error(message: str) -> None:
    import http.client

    try:
        conn = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"], timeout=5)
        conn.request("POST", "/samlink/sandbox/error", message.encode("utf-8"))
        conn.getresponse().read()
    except (OSError, KeyError):
        pass


# --- the mount namespace ---------------------------------------------------------------------


def _enter_namespace(ops: list[dict[str, Any]]) -> bool:
    """Mount the plan in new namespaces; whether a PID namespace was made too."""
    if not sys.platform.startswith("linux"):
        raise Unavailable(f"mount namespaces are Linux only, this is {sys.platform}")
    for point in ("/var", "/opt", "/tmp"):
        if not os.path.isdir(point):
            raise Unavailable(f"{point} does not exist to mount over")
    try:
        import ctypes
    except ImportError as exc:
        raise Unavailable(f"this Python has no ctypes ({exc})") from exc
    libc = ctypes.CDLL(None, use_errno=True)
    in_pid_namespace = _unshare(libc, ctypes)
    mounter = _Mounter(libc, ctypes)
    mounter.call(None, "/", None, _MS_REC | _MS_PRIVATE, None)
    # Sources under /var or /opt disappear under the tmpfs laid over those folders: hold them
    # open first and bind them through /proc/self/fd.
    early = {}
    for op in ops:
        if op["op"] == "bind" and op.get("early"):
            early[op["src"]] = os.open(op["src"], os.O_PATH | os.O_CLOEXEC)
    for op in ops:
        kind = op["op"]
        if kind == "tmpfs":
            flags = _MS_RDONLY if op.get("ro") else 0
            mounter.call("tmpfs", op["path"], "tmpfs", flags | 2 | 4, op.get("data", "mode=0755"))
        elif kind == "mkdir":
            os.makedirs(op["path"], exist_ok=True)
        elif kind == "bind":
            source = op["src"]
            if source in early:
                source = f"/proc/self/fd/{early[source]}"
            _make_mount_point(op["dst"], op["dir"])
            mounter.call(source, op["dst"], None, _MS_BIND, None)
            mounter.read_only(op["dst"])
        elif kind == "ro":
            mounter.read_only(op["path"])
        else:
            raise OSError(f"unknown sandbox step {kind!r}")
    for fd in early.values():
        os.close(fd)
    return in_pid_namespace


def _unshare(libc: Any, ctypes: Any) -> bool:
    """New mount (and user) namespaces, and a PID namespace where one can be made."""
    uid, gid = os.getuid(), os.getgid()
    flags = _CLONE_NEWNS if uid == 0 else _CLONE_NEWNS | _CLONE_NEWUSER
    in_pid_namespace = bool(libc.unshare(flags | _CLONE_NEWPID) == 0)
    if not in_pid_namespace and libc.unshare(flags) != 0:
        errno = ctypes.get_errno()
        how = "unshare --mount" if uid == 0 else "unshare -Urm (user namespaces)"
        raise Unavailable(f"{how}: {os.strerror(errno)}")
    if flags & _CLONE_NEWUSER:
        try:
            for name, text in (
                ("setgroups", "deny"),
                ("uid_map", f"0 {uid} 1"),
                ("gid_map", f"0 {gid} 1"),
            ):
                with open(f"/proc/self/{name}", "w") as handle:
                    handle.write(text)
        except OSError as exc:
            raise Unavailable(f"user namespace id maps: {exc}") from exc
    return in_pid_namespace


def _make_mount_point(path: str, is_dir: bool) -> None:
    if is_dir:
        os.makedirs(path, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o644))


class _Mounter:
    def __init__(self, libc: Any, ctypes: Any) -> None:
        self.libc = libc
        self.ctypes = ctypes

    def call(
        self, source: str | None, target: str, fstype: str | None, flags: int, data: str | None
    ) -> None:
        def raw(value: str | None) -> bytes | None:
            return None if value is None else value.encode()

        if self.libc.mount(raw(source), raw(target), raw(fstype), flags, raw(data)) != 0:
            errno = self.ctypes.get_errno()
            what = f"mount {source or ''} {target}".replace("  ", " ")
            raise OSError(errno, f"{what}: {os.strerror(errno)}")

    def read_only(self, path: str) -> None:
        present = os.statvfs(path).f_flag
        kept = 0
        for st_flag, ms_flag in _KEPT_FLAGS:
            if present & st_flag:
                kept |= ms_flag
        self.call(None, path, None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY | kept, None)


# --- the managed runtime's start-up ----------------------------------------------------------


def _start(layout: dict[str, Any], handler: str, debug_port: int | None = None) -> None:
    task_root = layout["task_root"]
    runtime_dir = layout["runtime_dir"]
    os.chdir(task_root)
    # As the managed bootstrap: task root, then the two /opt site dirs unless the function sets
    # PYTHONPATH, then the runtime's own folder in place of the bootstrap script's folder.
    pythonpath_set = "PYTHONPATH" in os.environ
    head = [task_root]
    if not pythonpath_set:
        head += layout["opt_dirs"]
    sys.path[:0] = [*head, runtime_dir]
    import site

    site.addsitedir(task_root)
    if not pythonpath_set:
        for folder in layout["opt_dirs"]:
            site.addsitedir(folder)
        os.environ["PYTHONPATH"] = runtime_dir
    sys.argv = [os.path.join(runtime_dir, "bootstrap.py")]
    if debug_port is not None:
        _wait_for_debugger(debug_port)
    import awslambdaric.__main__ as ric  # type: ignore[import-not-found]

    ric.main([task_root, handler])


def _wait_for_debugger(port: int) -> None:
    # As `sam local invoke -d`: listen, and start the function once a client has attached.
    # debugpy is installed in the runtime dir next to awslambdaric (samlink.runtime.python).
    import debugpy  # type: ignore[import-not-found]

    debugpy.listen(("127.0.0.1", port))
    sys.stderr.write(f"samlink: debugpy listens on 127.0.0.1:{port}; waiting for the debugger\n")
    sys.stderr.flush()
    debugpy.wait_for_client()


if __name__ == "__main__":
    main()
