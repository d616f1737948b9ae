"""Install third-party dependencies for a Lambda target with uv (default) or pip.

Both installers get the same inputs: the index settings pip would use (pip's configuration files
and PIP_* variables, merged with the requirements file's own options) are passed explicitly on the
command line, and each installer's own configuration of index settings is switched off (uv:
`--no-config` and no resolution-changing UV_* variables; pip: PIP_CONFIG_FILE=/dev/null and no
PIP_* variables except the transport ones samlink re-exports). So uv and pip install the same
thing, and what they install is exactly what the store key describes.

pip's `constraint` setting (pip.conf or PIP_CONSTRAINT) is NOT applied: it is a machine-wide,
pip-only setting that uv ignores and that no requirements file shows, so it would make a build
depend on the machine. Put `-c constraints.txt` in requirements.txt to constrain Lambda builds.
"""

from __future__ import annotations

import collections
import configparser
import importlib.metadata
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from packaging.requirements import InvalidRequirement, Requirement

from samlink.build.ship import drop_installer_scripts
from samlink.errors import BuildError, UsageError
from samlink.model.target import Target

INSTALLERS = ("uv", "pip")

# pip settings that only shape how pip talks to the network, never what it installs: these are
# handed on to the installer (pip as PIP_* variables, uv as the equivalent variables).
_PIP_TRANSPORT_KEYS = frozenset(
    {
        "cert",
        "client-cert",
        "proxy",
        "timeout",
        "default-timeout",
        "retries",
        "keyring-provider",
        "cache-dir",
        "no-cache-dir",
    }
)
# UV_* variables that do not change what uv resolves or installs; every other UV_* variable
# (indexes, constraints, pre-release and build policy, python selection, link mode) is dropped.
_UV_KEEP = frozenset(
    {
        "UV_CACHE_DIR",
        "UV_NO_CACHE",
        "UV_NATIVE_TLS",
        "UV_HTTP_TIMEOUT",
        "UV_HTTP_RETRIES",
        "UV_CONCURRENT_DOWNLOADS",
        "UV_CONCURRENT_BUILDS",
        "UV_CONCURRENT_INSTALLS",
        "UV_OFFLINE",
        "UV_KEYRING_PROVIDER",
        "UV_NO_PROGRESS",
    }
)
# Where pip looks for its last site-wide file on Linux (a module value so tests can isolate it).
_ETC = Path("/etc")
_TRUE = frozenset({"y", "yes", "t", "true", "on", "1"})
_FALSE = frozenset({"n", "no", "f", "false", "off", "0"})


@dataclass(frozen=True)
class IndexOptions:
    """Where packages come from."""

    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()  # absolute paths or URLs
    no_index: bool = False
    trusted_hosts: tuple[str, ...] = ()
    pre: bool = False


@dataclass(frozen=True)
class InstallSpec:
    """One set of third-party requirements to install together."""

    requirements: tuple[str, ...]  # PEP 508 lines or absolute local paths / URLs
    constraints: tuple[str, ...] = ()
    index: IndexOptions = field(default_factory=IndexOptions)  # already merged with pip's config
    # (line of requirements or constraints, its "sha256:<hex>" values), sorted.
    hashes: tuple[tuple[str, tuple[str, ...]], ...] = ()
    require_hashes: bool = False  # --require-hashes in a requirements file

    @property
    def hash_mode(self) -> bool:
        """pip's rule: hash-checking is on with --require-hashes or once any line has a hash."""
        return self.require_hashes or bool(self.hashes)

    def hashes_of(self, line: str) -> tuple[str, ...]:
        return next((found for text, found in self.hashes if text == line), ())


@dataclass(frozen=True)
class Installer:
    """The installer to run; name and version feed the store key."""

    name: str  # "uv" | "pip"
    version: str
    executable: str = ""  # the uv binary, or the Python whose pip runs


# --- pip's configuration -------------------------------------------------------------------


def pip_configuration() -> IndexOptions:
    """The index settings a plain `pip install` would use here, read without running pip."""
    return _index_from_settings(pip_settings())


def pip_settings(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """pip's effective `install` settings (key -> raw string), in pip's order of precedence."""
    env = os.environ if environ is None else environ
    # As pip: files in increasing priority, then within the merged result the [global] section
    # is overridden by [install], which is overridden by PIP_* variables.
    sections: dict[str, dict[str, str]] = {"global": {}, "install": {}, ":env:": {}}
    for path in _pip_config_files(env):
        for section, items in _read_pip_config(path).items():
            if section in sections:
                sections[section].update(items)
    for name, value in env.items():
        if name.startswith("PIP_") and name[4:].lower() not in ("version", "help"):
            sections[":env:"][_normalize_key(name[4:])] = value
    effective: dict[str, str] = {}
    for section in ("global", "install", ":env:"):
        # pip ignores empty values, so an empty PIP_INDEX_URL does not unset pip.conf's.
        effective.update({k: v for k, v in sections[section].items() if v})
    return effective


def merge_index(from_file: IndexOptions, config: IndexOptions) -> IndexOptions:
    """Combine a requirements file's options with pip's configuration, as pip does."""
    # pip (req_file.handle_option_line): a file's --index-url replaces the whole index list,
    # configured extra indexes included; its --extra-index-url adds; --no-index from either wins.
    no_index = from_file.no_index or config.no_index
    index_url: str | None
    extras: tuple[str, ...]
    if no_index:
        index_url, extras = None, ()
    elif from_file.index_url:
        index_url, extras = from_file.index_url, from_file.extra_index_urls
    else:
        index_url = config.index_url
        extras = _unique(config.extra_index_urls + from_file.extra_index_urls)
    return IndexOptions(
        index_url=index_url,
        extra_index_urls=extras,
        find_links=_unique(config.find_links + from_file.find_links),
        no_index=no_index,
        trusted_hosts=_unique(config.trusted_hosts + from_file.trusted_hosts),
        pre=from_file.pre or config.pre,
    )


def _pip_config_files(env: Mapping[str, str]) -> list[Path]:
    # Same files and order as pip's configuration.py: global, user, site, then PIP_CONFIG_FILE.
    config_file = env.get("PIP_CONFIG_FILE")
    if config_file == os.devnull:
        return []
    home = Path(env.get("HOME") or os.path.expanduser("~"))
    files: list[Path] = []
    if sys.platform == "darwin":
        files.append(Path("/Library/Application Support/pip/pip.conf"))
    else:
        xdg_dirs = env.get("XDG_CONFIG_DIRS", "").strip() or "/etc/xdg"
        files.extend(Path(d).expanduser() / "pip" / "pip.conf" for d in xdg_dirs.split(":") if d)
        files.append(_ETC / "pip.conf")
    if not (config_file and os.path.exists(config_file)):
        files.append(home / ".pip" / "pip.conf")
        if sys.platform == "darwin" and (home / "Library/Application Support/pip").is_dir():
            files.append(home / "Library/Application Support/pip/pip.conf")
        else:
            xdg_home = env.get("XDG_CONFIG_HOME", "").strip() or str(home / ".config")
            files.append(Path(xdg_home) / "pip" / "pip.conf")
    # pip reads sys.prefix/pip.conf; the user's activated virtualenv is what their own `pip`
    # would read, so it comes after (and wins) when samlink runs from another environment.
    files.append(Path(sys.prefix) / "pip.conf")
    venv = env.get("VIRTUAL_ENV")
    if venv and Path(venv) != Path(sys.prefix):
        files.append(Path(venv) / "pip.conf")
    if config_file:
        files.append(Path(config_file))
    return files


def _read_pip_config(path: Path) -> dict[str, dict[str, str]]:
    parser = configparser.RawConfigParser()
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return {}
    except OSError as err:
        raise UsageError(
            f"cannot read pip configuration {path}: {err}", "fix its permissions"
        ) from err
    try:
        parser.read_string(text, source=str(path))
    except configparser.Error as err:
        raise UsageError(
            f"pip configuration {path} is not valid: {err}".splitlines()[0],
            "fix or remove the file (pip cannot read it either)",
        ) from err
    return {
        section: {_normalize_key(k): v for k, v in parser.items(section)}
        for section in parser.sections()
    }


def _normalize_key(name: str) -> str:
    name = name.lower().replace("_", "-")
    return name[2:] if name.startswith("--") else name


def _index_from_settings(settings: Mapping[str, str]) -> IndexOptions:
    no_index = _flag(settings, "no-index")
    index_url = settings.get("index-url", "").strip() or None
    extras: tuple[str, ...] = tuple(
        u for u in settings.get("extra-index-url", "").split() if _location_exists(u)
    )
    if no_index:
        index_url, extras = None, ()
    find_links = tuple(
        loc
        for loc in (_absolute_location(v) for v in settings.get("find-links", "").split())
        if _location_exists(loc)
    )
    return IndexOptions(
        index_url=index_url,
        extra_index_urls=_unique(extras),
        find_links=_unique(find_links),
        no_index=no_index,
        trusted_hosts=_unique(settings.get("trusted-host", "").split()),
        pre=_flag(settings, "pre"),
    )


def _flag(settings: Mapping[str, str], key: str) -> bool:
    value = settings.get(key, "").strip().lower()
    if not value or value in _FALSE:
        return False
    if value in _TRUE:
        return True
    raise UsageError(
        f"pip setting {key}={settings[key]!r} is not a boolean",
        "use yes/no, true/false or 1/0 in pip.conf or the PIP_* variable",
    )


def _absolute_location(location: str) -> str:
    if "://" in location:
        return location
    # pip resolves plain paths against the current directory and expands a leading ~.
    return os.path.abspath(os.path.expanduser(location))


def _location_exists(location: str) -> bool:
    """False for a file:// URL or plain path that is missing (pip skips those with a warning)."""
    parts = urlsplit(location)
    if parts.scheme == "file":
        return os.path.exists(unquote(parts.path))
    if "://" in location:
        return True
    return os.path.exists(location)


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


# --- choosing an installer -----------------------------------------------------------------


def resolve_installer(requested: str | None = None) -> Installer:
    """The installer to use: `requested`, else $SAMLINK_INSTALLER, else uv (pip if uv can't)."""
    name = (requested or os.environ.get("SAMLINK_INSTALLER") or "uv").strip().lower()
    if name not in INSTALLERS:
        raise UsageError(f"unknown installer {name!r}", "use --installer uv or --installer pip")
    if name == "uv":
        found = _find_uv()
        if found is None:
            _warn("uv was not found; installing with pip")
        else:
            reason = _uv_cannot(pip_settings())
            if reason is None:
                return Installer("uv", found[1], found[0])
            _warn(f"{reason}; installing with pip")
    try:
        version = importlib.metadata.version("pip")
    except importlib.metadata.PackageNotFoundError:
        raise BuildError(
            "no installer: uv was not usable and pip is not installed in samlink's Python",
            f"install pip or uv into {sys.prefix}",
        ) from None
    return Installer("pip", version, sys.executable)


def _find_uv() -> tuple[str, str] | None:
    """The uv binary and its version, without running it when it comes from the uv package."""
    try:
        import uv

        path = uv.find_uv_bin()
        return path, importlib.metadata.version("uv")
    except (ImportError, FileNotFoundError, importlib.metadata.PackageNotFoundError):
        pass
    on_path = shutil.which("uv")
    if on_path is None:
        return None
    version = _uv_version(on_path)
    return (on_path, version) if version else None


def _uv_version(path: str) -> str | None:
    # Only for a uv found on PATH (samlink's own dependency is the normal case): one short run.
    try:
        out = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    words = out.split()
    return words[1] if len(words) > 1 else None


def _uv_cannot(settings: Mapping[str, str]) -> str | None:
    """Why uv cannot reproduce pip's credentials setup here, or None."""
    provider = settings.get("keyring-provider", "").strip().lower()
    # uv can only call the `keyring` command; pip can also import keyring (and its plugins,
    # e.g. for Artifact Registry or Azure Artifacts) from its own environment.
    if provider == "import":
        return "pip is set to keyring-provider=import, which uv cannot do"
    if (
        provider == "auto"
        and shutil.which("keyring") is None
        and importlib.util.find_spec("keyring") is not None
    ):
        return "pip would get credentials by importing keyring, which uv cannot do"
    return None


def _warn(message: str) -> None:
    print(f"samlink: warning: {message}", file=sys.stderr, flush=True)


# --- installing ----------------------------------------------------------------------------


def install(spec: InstallSpec, target: Target, dest: Path, installer: Installer) -> None:
    """Install `spec` for `target` into `dest` (a fresh directory) and check every wheel's tag."""
    dest.mkdir(parents=True, exist_ok=True)
    if not spec.requirements:
        return
    settings = pip_settings()
    if settings.get("constraint"):
        _warn(
            f"pip's constraint setting ({settings['constraint']}) is not applied to Lambda "
            "builds; add `-c FILE` to requirements.txt to apply it"
        )
    if spec.hash_mode:
        check_hash_mode(spec)
    with tempfile.TemporaryDirectory(prefix="samlink-install-") as tmp:
        work = Path(tmp)
        requirements = work / "requirements.txt"
        requirements.write_text(_requirements_text(spec, spec.requirements), "utf-8")
        constraints: Path | None = None
        if spec.constraints:
            constraints = work / "constraints.txt"
            constraints.write_text(_requirements_text(spec, spec.constraints), "utf-8")
        if installer.name == "uv":
            command, env = _uv_command(spec.index, target, dest, installer, settings)
        elif installer.name == "pip":
            command, env = _pip_command(spec.index, target, dest, installer, settings)
        else:
            raise UsageError(f"unknown installer {installer.name!r}", "use uv or pip")
        if spec.hash_mode:
            # uv checks only the hashes it is given unless told; pip turns the mode on by itself
            # once a line has a hash. Said explicitly, both refuse what pip would refuse.
            command.append("--require-hashes")
        command += ["-r", str(requirements)]
        if constraints is not None:
            command += ["-c", str(constraints)]
        # The work dir as cwd keeps both installers away from project files (pyproject.toml,
        # uv.toml) and from the user's source tree.
        _run(command, env, work, installer, target)
    if installer.name == "uv":
        # uv leaves its lock file for the target environment behind; it must not ship.
        lock = dest / ".lock"
        if lock.is_file() and not lock.is_symlink():
            lock.unlink()
    # Console scripts carry this machine's interpreter in their shebang: they never ship.
    drop_installer_scripts(dest)
    check_wheel_tags(dest, target)


def check_hash_mode(spec: InstallSpec) -> None:
    """Refuse, as pip does before it downloads anything, what hash-checking mode cannot verify."""
    unpinned = [line for line in spec.requirements if not _pinned_exactly(line)]
    if unpinned:
        raise BuildError(
            "In --require-hashes mode, all requirements must have their versions pinned with ==. "
            f"These do not: {', '.join(unpinned)}",
            "pin them (`uv pip compile --generate-hashes` or `pip-compile --generate-hashes` "
            "writes a complete file), or remove every --hash and --require-hashes",
        )
    missing = [line for line in spec.requirements if not spec.hashes_of(line)]
    if missing:
        raise BuildError(
            "Hashes are required in --require-hashes mode, but they are missing from some "
            f"requirements: {', '.join(missing)}",
            "add --hash=sha256:... to each of them (it turns on once any line has a hash), "
            "e.g. with `uv pip compile --generate-hashes`",
        )


def _pinned_exactly(line: str) -> bool:
    # As pip: one `==` (or `===`) version without a wildcard, or a fixed file or URL.
    try:
        requirement = Requirement(line)
    except InvalidRequirement:
        return True  # a local path: pinned by what it points at
    if requirement.url:
        return True
    specifiers = list(requirement.specifier)
    return (
        len(specifiers) == 1
        and specifiers[0].operator in ("==", "===")
        and not specifiers[0].version.endswith(".*")
    )


def _requirements_text(spec: InstallSpec, lines: Iterable[str]) -> str:
    out = []
    for line in lines:
        hashes = "".join(f" --hash={value}" for value in spec.hashes_of(line))
        out.append(f"{line}{hashes}\n")
    return "".join(out)


def check_wheel_tags(dest: Path, target: Target) -> None:
    """Raise BuildError if a wheel installed in `dest` cannot run on `target`."""
    for wheel in sorted(dest.glob("*.dist-info/WHEEL")):
        lines = wheel.read_text("utf-8", errors="replace").splitlines()
        tags = [ln.split(":", 1)[1].strip() for ln in lines if ln.lower().startswith("tag:")]
        if not tags or any(target.accepts_wheel_tag(tag) for tag in tags):
            continue
        dist = wheel.parent.name.removesuffix(".dist-info")
        name, _, version = dist.rpartition("-")
        raise BuildError(
            f"{name or dist} {version} was installed as a {tags[0]} wheel, "
            f"which cannot run on {target.describe()}",
            f"no manylinux wheel for {target.architecture}/python{target.python_version}: "
            "pin a version that has one, or build it in a Lambda image",
        )


def _index_args(index: IndexOptions, uv: bool) -> list[str]:
    args: list[str] = []
    if index.no_index:
        args.append("--no-index")
    else:
        if index.index_url:
            args += ["--index-url", index.index_url]
        for url in index.extra_index_urls:
            args += ["--extra-index-url", url]
    for location in index.find_links:
        args += ["--find-links", location]
    for host in index.trusted_hosts:
        args += ["--allow-insecure-host" if uv else "--trusted-host", host]
    if index.pre:
        args += ["--prerelease", "allow"] if uv else ["--pre"]
    return args


def _uv_command(
    index: IndexOptions,
    target: Target,
    dest: Path,
    installer: Installer,
    settings: Mapping[str, str],
) -> tuple[list[str], dict[str, str]]:
    command = [
        installer.executable or "uv",
        "pip",
        "install",
        "--target",
        str(dest),
        "--python-platform",
        target.uv_platform,
        "--python-version",
        target.python_version,
        # Any interpreter will do (uv resolves for --python-version); naming ours stops uv from
        # searching for, or downloading, another one.
        "--python",
        sys.executable,
        # uv.toml and [tool.uv] would change indexes behind pip's back: the index settings
        # come from pip's configuration only, for both installers.
        "--no-config",
        # The default hard-links files from uv's cache: a store entry must own its files, or a
        # `uv cache clean` or an in-place edit of the cache would change a published entry.
        "--link-mode",
        "copy",
        # pip picks the best version across all indexes; uv's default takes the first index
        # that has the package. Same inputs must give the same install.
        "--index-strategy",
        "unsafe-best-match",
        "--no-progress",
        *_index_args(index, uv=True),
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("UV_") or k in _UV_KEEP}
    # pip's transport settings, in the variables uv reads; an explicit variable still wins.
    for key, var in (("cert", "SSL_CERT_FILE"), ("client-cert", "SSL_CLIENT_CERT")):
        if settings.get(key):
            env.setdefault(var, settings[key])
    if settings.get("proxy"):
        for var in ("HTTPS_PROXY", "HTTP_PROXY"):
            env.setdefault(var, settings["proxy"])
    timeout = settings.get("timeout") or settings.get("default-timeout")
    if timeout:
        env.setdefault("UV_HTTP_TIMEOUT", timeout.split(".")[0])
    provider = settings.get("keyring-provider", "").strip().lower()
    if provider == "subprocess" or (provider == "auto" and shutil.which("keyring")):
        command += ["--keyring-provider", "subprocess"]
    return command, env


def _pip_command(
    index: IndexOptions,
    target: Target,
    dest: Path,
    installer: Installer,
    settings: Mapping[str, str],
) -> tuple[list[str], dict[str, str]]:
    platforms = [arg for p in target.pip_platforms for arg in ("--platform", p)]
    command = [
        installer.executable or sys.executable,
        "-m",
        "pip",
        "install",
        "--target",
        str(dest),
        *platforms,
        "--python-version",
        target.python_version,
        "--implementation",
        "cp",
        # pip cannot build for another platform, and a wheel built here would be for the host.
        "--only-binary=:all:",
        # Byte code of this host's Python is useless for the Lambda runtime's.
        "--no-compile",
        "--upgrade",
        "--disable-pip-version-check",
        "--no-input",
        "--no-warn-script-location",
        # pip would compare the target against samlink's own environment and print false
        # "dependency conflicts" (as ERROR lines) about packages that are not in the target.
        "--no-warn-conflicts",
        *_index_args(index, uv=False),
    ]
    # /dev/null turns off every pip configuration file and PIP_* index variables are dropped:
    # the merged index settings above are all pip gets, as for uv. Transport settings (CA
    # bundle, proxy, keyring) go back in as variables so pip still reaches private indexes.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    for key, value in settings.items():
        if key in _PIP_TRANSPORT_KEYS:
            env["PIP_" + key.upper().replace("-", "_")] = value
    return command, env


def _run(
    command: list[str], env: dict[str, str], cwd: Path, installer: Installer, target: Target
) -> None:
    tail: collections.deque[str] = collections.deque(maxlen=400)
    try:
        proc = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
    except OSError as err:
        raise BuildError(
            f"cannot run {installer.name}: {err}", "reinstall samlink, or try --installer pip"
        ) from err
    try:
        assert proc.stdout is not None
        # Stream the installer's output (the cold path can take a while) and keep the end of
        # it for the error message.
        for line in proc.stdout:
            sys.stderr.write(line)
            tail.append(line.rstrip("\n"))
        code = proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if code != 0:
        hash_error = hash_failure(tail)
        if hash_error is not None:
            raise BuildError(*hash_error)
        message = last_error_line(tail)
        raise BuildError(
            f"{installer.name} could not install the dependencies for {target.describe()}: "
            f"{message}",
            _failure_hint(tail, target),
        )


_PIP_MISMATCH = "THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE"
_MISSING = (
    "Hashes are required in --require-hashes mode, but they are missing from some requirements"
)


def hash_failure(lines: Iterable[str]) -> tuple[str, str] | None:
    """pip's kind of message and a hint when an installer's output is a hash failure, or None.

    pip and uv word these differently; the user gets pip's words (pip is the reference, and the
    `SAMLINK=none` fallback prints them) with each package, expected and got.
    """
    text = list(lines)
    joined = "\n".join(text)
    mismatches: list[str] = []
    # pip: "    six==1.17.0 from <url> (from -r ...):" / "Expected sha256 X" / "Got        Y"
    for match in re.finditer(
        r"^\s+(\S+) from .*:\n\s+Expected (\w+) (\S+)(?:\n\s+or \w+ \S+)*\n\s+Got\s+(\S+)",
        joined,
        re.M,
    ):
        name, algorithm, expected, got = match.groups()
        mismatches.append(f"{name} (expected {algorithm}:{expected}, got {algorithm}:{got})")
    # uv: "Hash mismatch for `six==1.17.0`" / "Expected:" / "sha256:X" / "Computed:" / "sha256:Y"
    for match in re.finditer(
        r"Hash mismatch for `([^`]+)`\s*\n\s*Expected:\s*\n((?:\s*\w+:\S+\s*\n)+)"
        r"\s*Computed:\s*\n\s*(\w+:\S+)",
        joined,
    ):
        name, expected, got = match.groups()
        mismatches.append(f"{name} (expected {' or '.join(expected.split())}, got {got})")
    if mismatches or _PIP_MISMATCH in joined:
        return (
            f"{_PIP_MISMATCH}: {'; '.join(mismatches) or 'see the output above'}",
            "if you updated the versions, update the hashes; otherwise examine the package: "
            "someone may have tampered with it",
        )
    missing: list[str] = []
    if _MISSING in joined:  # pip lists each as "    name==version --hash=sha256:..."
        missing = [ln.split()[0] for ln in text if re.match(r"^\s+\S+ --hash=", ln)]
    for pattern in (
        r"all requirements must have a hash, but none were provided for: (.+)$",
        r"no trusted hash was provided for: `([^`]+)`",
    ):
        missing += [m.group(1).strip() for m in re.finditer(pattern, joined, re.M)]
    if missing or _MISSING in joined:
        return (
            f"{_MISSING}: {', '.join(dict.fromkeys(missing)) or 'see the output above'}",
            "every package installed, dependencies included, needs a --hash line (it turns on "
            "once any line has a hash); `uv pip compile --generate-hashes` writes them all",
        )
    return None


def last_error_line(lines: Iterable[str]) -> str:
    """The most telling line of an installer's failed output."""
    text = [ln.strip() for ln in lines if ln.strip()]
    for line in reversed(text):
        # uv prints the cause of a failure under its error: "cause: Because foo ..." (or, on a
        # terminal, "╰─▶ Because foo ...").
        for prefix in ("cause:", "╰─▶"):
            if line.startswith(prefix):
                return line.removeprefix(prefix).strip()
    for line in reversed(text):
        for prefix in ("ERROR:", "error:", "\u00d7"):  # uv's multiplication-sign error mark
            if line.startswith(prefix):
                return line.removeprefix(prefix).strip()
    return text[-1] if text else "no output"


def _failure_hint(lines: Iterable[str], target: Target) -> str:
    text = "\n".join(lines).lower()
    platform_words = (
        "no matching distribution",
        "matching platform tag",
        "has no wheels",
        "is not compatible with the target",  # uv built an sdist for the host
    )
    if any(word in text for word in platform_words):
        return (
            f"no manylinux wheel for {target.architecture}/python{target.python_version}? "
            "pin a version that has one, or build it in a Lambda image; full output above"
        )
    return (
        "check the requirement names and versions and the index settings "
        "(pip.conf, PIP_INDEX_URL); the installer's full output is above"
    )
