"""A private Docker engine and a stand-in Lambda Python base image, for the container tests.

No container registry is reachable where these tests run, and no engine runs by default, so:
- `ensure_packages` installs Debian's `docker.io` and `debootstrap` when they are missing;
- `Engine.start` runs a dockerd of our own (its own socket, data root, exec root and pidfile in
  one temp dir; never the default socket, which every docker client and SAM on the machine would
  pick up) and `Engine.stop` ends it and everything it started;
- `build_base_image` makes `public.ecr.aws/lambda/python:3.11` (and `3.11-x86_64`, the tag SAM
  asks for) from a Debian bookworm root filesystem (its python3 is 3.11), the real awslambdaric
  and boto3 in /var/runtime, and the runtime interface emulator shipped inside aws-sam-cli. The
  root filesystem and the finished image are cached between runs, keyed by their inputs.

Also a script, to keep an engine up by hand (for the latency bench, or poking around):

    .venv/bin/python tests/container/engine.py up     # prints DOCKER_HOST=...; Ctrl-C stops it
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path

PYTHON = "3.11"  # bookworm's python3
SUITE = "bookworm"
IMAGE = f"public.ecr.aws/lambda/python:{PYTHON}"
TAGS = (IMAGE, f"{IMAGE}-x86_64")
RUNTIME_PACKAGES = ("awslambdaric==4.2.2", "boto3==1.44.8")
DEFAULT_MIRROR = "http://deb.debian.org/debian"

# What AWS's image does before handing over to the runtime client (FACTS.md): /var/task first on
# sys.path and a site dir (its .pth files count), then the two /opt dirs (site dirs unless the
# function sets PYTHONPATH), then /var/runtime. Debian's own dist-packages stay out (-S).
BOOTSTRAP_PY = f"""\
import os, site, sys
sys.path.pop(0)  # this script's folder, /var/runtime: it comes back below, in its place
task = os.environ.get("LAMBDA_TASK_ROOT", "/var/task")
opt = ["/opt/python/lib/python{PYTHON}/site-packages", "/opt/python"]
pythonpath_set = "PYTHONPATH" in os.environ
sys.path[:0] = [task, *([] if pythonpath_set else opt), "/var/runtime"]
site.addsitedir(task)
if not pythonpath_set:
    for folder in opt:
        site.addsitedir(folder)
seen = set()
sys.path[:] = [p for p in sys.path if not (p in seen or seen.add(p))]
handler = os.environ.get("_HANDLER") or os.environ.get("AWS_LAMBDA_FUNCTION_HANDLER", "")
import awslambdaric.__main__ as ric
ric.main([task, handler])
"""
BOOTSTRAP = "#!/bin/sh\nexec /usr/bin/python3 -S -B /var/runtime/bootstrap.py\n"
# As AWS's /lambda-entrypoint.sh: the emulator when run as a plain image, the runtime under Lambda
# (SAM replaces the entrypoint with its own copy of the emulator).
ENTRYPOINT = """\
#!/bin/sh
[ $# -ge 1 ] && export _HANDLER="$1"
if [ -z "${AWS_LAMBDA_RUNTIME_API}" ]; then
  exec /usr/local/bin/aws-lambda-rie /var/runtime/bootstrap
fi
exec /var/runtime/bootstrap
"""
DOCKERFILE = f"""\
FROM {{rootfs}}
COPY runtime/ /var/runtime/
COPY bootstrap bootstrap.py /var/runtime/
COPY aws-lambda-rie /usr/local/bin/aws-lambda-rie
COPY lambda-entrypoint.sh /lambda-entrypoint.sh
ENV LANG=C.UTF-8 TZ=:/etc/localtime LAMBDA_TASK_ROOT=/var/task LAMBDA_RUNTIME_DIR=/var/runtime \\
    PATH=/usr/local/bin:/usr/bin:/bin:/opt/bin
RUN mkdir -p /var/task /opt \\
    && chmod 755 /var/runtime/bootstrap /lambda-entrypoint.sh /usr/local/bin/aws-lambda-rie \\
    && python3 -c "import sys; assert sys.version.startswith('{PYTHON}')"
WORKDIR /var/task
ENTRYPOINT ["/lambda-entrypoint.sh"]
"""


class Unavailable(Exception):
    """This machine cannot run a private engine (not root, no packages, no kernel support)."""


def cache_dir() -> Path:
    """Where root filesystems and images are kept between runs on one machine."""
    if os.environ.get("SAMLINK_TEST_CACHE"):
        return Path(os.environ["SAMLINK_TEST_CACHE"]) / "container"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "samlink-tests" / "container"


def ensure_packages() -> None:
    """Install docker.io and debootstrap from Debian's packages when they are missing."""
    if shutil.which("dockerd") and shutil.which("debootstrap"):
        return
    if os.geteuid() != 0:
        raise Unavailable("dockerd or debootstrap is missing and installing them needs root")
    if not shutil.which("apt-get"):
        raise Unavailable("dockerd or debootstrap is missing and there is no apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "docker.io", "debootstrap"],
    ):
        result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
        if result.returncode != 0:
            raise Unavailable(f"`{' '.join(cmd)}` failed: {_tail(result.stderr or result.stdout)}")
    if not (shutil.which("dockerd") and shutil.which("debootstrap")):
        raise Unavailable("docker.io/debootstrap installed but dockerd or debootstrap not on PATH")


class Engine:
    """A dockerd of our own in a temp dir; `host` is its DOCKER_HOST."""

    def __init__(self, root: Path, proc: subprocess.Popen[bytes], bridge: str) -> None:
        self.root = root
        self.proc = proc
        self.bridge = bridge  # made for this engine, removed with it
        self.host = f"unix://{root / 'docker.sock'}"
        # The client of the same package as the daemon: a newer one on PATH may want buildx.
        found = Path(shutil.which("dockerd") or "dockerd").with_name("docker")
        self.docker = str(found) if found.exists() else shutil.which("docker") or "docker"

    @classmethod
    def start(cls) -> Engine:
        """Start dockerd; Unavailable (with the daemon's last words) when it will not answer."""
        if os.geteuid() != 0:
            raise Unavailable("a private dockerd needs root")
        ensure_packages()
        # Short: AF_UNIX socket paths (ours and containerd's, under the exec root) max 107 bytes.
        root = Path(tempfile.mkdtemp(prefix="sl-dockerd-"))
        try:
            bridge = _make_bridge(f"slbr{secrets.token_hex(3)}")  # 15 bytes at most
        except Unavailable:
            shutil.rmtree(root)
            raise
        log = (root / "dockerd.log").open("wb")
        cmd = [
            "dockerd",
            "--host", f"unix://{root / 'docker.sock'}",
            "--data-root", str(root / "data"),
            "--exec-root", str(root / "exec"),
            "--pidfile", str(root / "dockerd.pid"),
            # The host's firewall is not ours to change; SAM only talks to 127.0.0.1-published
            # ports, which docker-proxy serves without NAT rules. The default bridge stays.
            "--iptables=false",
            "--ip-masq=false",
            "--ip6tables=false",
        ]  # fmt: skip
        if bridge != "docker0":
            # The default bridge network on a device of our own: an engine already running on
            # this machine keeps its docker0 and its addresses.
            cmd += ["--bridge", bridge]
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        log.close()
        engine = cls(root, proc, bridge)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            if engine.answers():
                return engine
            time.sleep(0.2)
        words = _tail((root / "dockerd.log").read_text(errors="replace"))
        engine.stop()
        raise Unavailable(f"dockerd did not come up: {words}")

    def answers(self) -> bool:
        result = self.run(["version", "--format", "{{.Server.Version}}"], check=False)
        return result.returncode == 0

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """An environment whose docker clients (and SAM) talk to this engine only."""
        env = dict(os.environ if base is None else base)
        env["DOCKER_HOST"] = self.host
        env.pop("DOCKER_CONTEXT", None)
        env["DOCKER_BUILDKIT"] = "0"
        return env

    def run(
        self, args: Sequence[str], *, check: bool = True, input: bytes | None = None,
        stdin: int | None = None, timeout: float = 900,
    ) -> subprocess.CompletedProcess[str]:  # fmt: skip
        """The docker CLI against this engine."""
        result = subprocess.run(
            [self.docker, *args], env=self.env(), capture_output=True, timeout=timeout,
            input=input, stdin=stdin,
        )  # fmt: skip
        out = result.stdout.decode(errors="replace")
        err = result.stderr.decode(errors="replace")
        if check and result.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args)} failed: {_tail(err or out)}")
        return subprocess.CompletedProcess(result.args, result.returncode, out, err)

    def stop(self) -> None:
        """End dockerd, its containerd and every container; unmount and remove the temp dir."""
        if self.proc.poll() is None:
            with _suppressed():
                for cid in self.run(["ps", "-aq"], check=False, timeout=30).stdout.split():
                    self.run(["rm", "-f", cid], check=False, timeout=60)
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        # Anything still running out of our exec root (a shim the daemon lost) is ours: end it.
        for pid in pids_mentioning(str(self.root)):
            with _suppressed():
                os.kill(pid, signal.SIGKILL)
        _unmount_under(self.root)
        shutil.rmtree(self.root, ignore_errors=True)
        if Path(f"/sys/class/net/{self.bridge}").exists() and shutil.which("ip"):
            subprocess.run(["ip", "link", "delete", self.bridge], capture_output=True, check=False)


def _make_bridge(name: str) -> str:
    """A bridge device `name` on a free 172.30.N.0/24; without iproute2, dockerd's own docker0,
    which must then not exist yet (another engine's)."""
    if not shutil.which("ip"):
        if Path("/sys/class/net/docker0").exists():
            raise Unavailable("docker0 exists (another engine's?) and `ip` is missing (iproute2)")
        return "docker0"
    subnet = _free_subnet()
    for step, cmd in enumerate(
        (
            ["ip", "link", "add", "name", name, "type", "bridge"],
            ["ip", "addr", "add", f"{subnet}.1/24", "dev", name],
            ["ip", "link", "set", name, "up"],
        )
    ):
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            if step:  # ours by then; a name that was taken is not
                subprocess.run(["ip", "link", "delete", name], capture_output=True, check=False)
            raise Unavailable(f"cannot make a bridge: {' '.join(cmd)}: {_tail(result.stderr)}")
    return name


def _free_subnet() -> str:
    """172.30.N (a /24) that no route on this machine reaches yet."""
    routes = []
    for line in Path("/proc/net/route").read_text().splitlines()[1:]:
        fields = line.split()
        # Little-endian hex; the default route (mask 0) reaches everything and does not count.
        dest, mask = int(fields[1], 16), int(fields[7], 16)
        if mask:
            routes.append((dest, mask))
    for third in range(17, 255):
        candidate = int.from_bytes(bytes([172, 30, third, 0]), "little")
        if not any((candidate & mask) == dest or (dest & 0x00FFFFFF) == candidate
                   for dest, mask in routes):  # fmt: skip
            return f"172.30.{third}"
    raise Unavailable("no free 172.30.N.0/24 for a bridge")


def build_base_image(engine: Engine, *, log: list[str] | None = None) -> str:
    """Load (or build once and cache) the stand-in base image; its id."""
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    notes = log if log is not None else []
    with tempfile.TemporaryDirectory(prefix="sl-image-") as tmp:
        context = Path(tmp)
        _runtime_dir(context / "runtime")
        rie = _rie_binary()
        shutil.copy2(rie, context / "aws-lambda-rie")
        (context / "bootstrap").write_text(BOOTSTRAP)
        (context / "bootstrap.py").write_text(BOOTSTRAP_PY)
        (context / "lambda-entrypoint.sh").write_text(ENTRYPOINT)
        rootfs = _rootfs_tarball(cache, notes)
        rootfs_tag = f"samlink-test/rootfs:{rootfs.stem.removeprefix('rootfs-')}"
        (context / "Dockerfile").write_text(DOCKERFILE.format(rootfs=rootfs_tag))
        key = _digest(
            rootfs.name,
            *sorted(p.name for p in (context / "runtime").glob("*.dist-info")),
            _file_digest(rie),
            BOOTSTRAP, BOOTSTRAP_PY, ENTRYPOINT, DOCKERFILE,
        )  # fmt: skip
        saved = cache / f"image-{key}.tar"
        if saved.is_file():
            notes.append(f"loaded cached image {saved.name}")
            with saved.open("rb") as handle:
                engine.run(["load", "--quiet"], stdin=handle.fileno())
        else:
            with rootfs.open("rb") as handle:
                engine.run(["import", "-", rootfs_tag], stdin=handle.fileno())
            engine.run(["build", "--quiet", "--tag", TAGS[0], str(context)])
            partial = saved.with_name(f".{saved.name}.{os.getpid()}.tmp")
            engine.run(["save", "--output", str(partial), TAGS[0]])
            os.replace(partial, saved)
            _forget_others(cache, "image-", keep=saved)
            notes.append(f"built image {saved.name}")
    for tag in TAGS[1:]:
        engine.run(["tag", TAGS[0], tag])
    return engine.run(["image", "inspect", "--format", "{{.Id}}", TAGS[0]]).stdout.strip()


def _rootfs_tarball(cache: Path, notes: list[str]) -> Path:
    """Debian minbase with python3, as a tarball for `docker import`; made once per inputs."""
    mirror = _mirror()
    include = "python3,ca-certificates"
    key = _digest(SUITE, "minbase", include, mirror, "amd64")
    tarball = cache / f"rootfs-{key}.tar"
    if tarball.is_file():
        return tarball
    with tempfile.TemporaryDirectory(prefix="sl-rootfs-") as tmp:
        target = Path(tmp) / "root"
        cmd = [
            "debootstrap", "--variant=minbase", f"--include={include}", "--arch=amd64",
            SUITE, str(target), mirror,
        ]  # fmt: skip
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=1200)
        if result.returncode != 0:
            _unmount_under(target)
            raise Unavailable(f"debootstrap failed: {_tail(result.stdout + result.stderr)}")
        _unmount_under(target)
        # Not needed in an image, and large: apt's package cache and docs.
        for junk in ("var/cache/apt/archives", "usr/share/doc", "usr/share/man"):
            shutil.rmtree(target / junk, ignore_errors=True)
        partial = cache / f".{tarball.name}.{os.getpid()}.tmp"
        subprocess.run(
            ["tar", "--numeric-owner", "-C", str(target), "-cf", str(partial), "."],
            check=True, timeout=600,
        )  # fmt: skip
        os.replace(partial, tarball)
    _forget_others(cache, "rootfs-", keep=tarball)
    notes.append(f"built root filesystem {tarball.name}")
    return tarball


def _runtime_dir(target: Path) -> None:
    """awslambdaric and boto3 for CPython 3.11 on x86_64 Linux, as AWS puts them in /var/runtime."""
    import uv

    cmd = [
        uv.find_uv_bin(), "pip", "install", "--quiet", "--target", str(target),
        "--python-version", PYTHON, "--python-platform", "x86_64-manylinux2014",
        "--only-binary", ":all:", *RUNTIME_PACKAGES,
    ]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        raise Unavailable(f"could not install the runtime client: {_tail(result.stderr)}")


def _rie_binary() -> Path:
    """The runtime interface emulator that ships inside the aws-sam-cli package."""
    import importlib.util

    spec = importlib.util.find_spec("samcli")
    if spec is None or spec.origin is None:
        raise Unavailable("aws-sam-cli is not installed in this virtualenv")
    return Path(spec.origin).parent / "local" / "rapid" / "aws-lambda-rie-x86_64"


def _mirror() -> str:
    """The Debian mirror apt uses here (CI may have its own), else Debian's CDN."""
    for sources in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        for line in sources.read_text().splitlines():
            if line.startswith("URIs:") and "security" not in line:
                return line.split()[1]
    listing = Path("/etc/apt/sources.list")
    if listing.is_file():
        for line in listing.read_text().splitlines():
            parts = line.split()
            if parts[:1] == ["deb"] and "security" not in line:
                return next(p for p in parts[1:] if "://" in p)
    return DEFAULT_MIRROR


def _forget_others(cache: Path, prefix: str, keep: Path) -> None:
    # One entry per kind: an input change makes the old one dead weight (hundreds of MB).
    for old in cache.glob(f"{prefix}*.tar"):
        if old != keep:
            old.unlink(missing_ok=True)


def _digest(*parts: str) -> str:
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pids_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmdline:
            found.append(int(entry.name))
    return found


def _unmount_under(root: Path) -> None:
    """Lazily unmount whatever is mounted at or below `root`, deepest first."""
    prefix = str(root.resolve())
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point == prefix or point.startswith(prefix + "/"):
            points.append(point)
    for point in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)


def _tail(text: str, lines: int = 3) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:]) or "no output"


def _suppressed() -> suppress:
    return suppress(OSError, RuntimeError, subprocess.TimeoutExpired)


def main(argv: list[str]) -> int:
    if argv[1:] != ["up"]:
        print(__doc__)
        return 2
    started = time.monotonic()
    engine = Engine.start()
    try:
        notes: list[str] = []
        build_base_image(engine, log=notes)
        print("; ".join(notes), f"({time.monotonic() - started:.0f} s)", file=sys.stderr)
        print(f"DOCKER_HOST={engine.host}", flush=True)
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        engine.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
