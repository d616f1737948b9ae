"""Published layers (a function's `Layers:` entry given by ARN), fetched as SAM fetches them.

`sam local invoke` calls Lambda's GetLayerVersion with the user's credentials, downloads
`Content.Location` and unzips it into its layer cache, `~/.aws-sam/layers-pkg/<name>-<version>-
<first 10 hex digits of sha256(arn)>` (`SAM_LAYER_CACHE_BASEDIR` moves it). samlink does the same
into the same folder, so either tool warms the cache for the other, and keeps SAM's record of a
download (`.locks/<folder>.downloading.{lock,status}`): a folder SAM left half unzipped (status
`failed` or `in_progress`) is not used, and a SAM that starts while samlink downloads waits for it.

Unlike SAM, samlink unpacks into a temp folder beside the cache folder and renames it into place:
a second invoke never sees half a layer, and an interrupted download leaves nothing (a killed
one's temp files are removed by the next fetch). An entry that would land outside the layer's
folder (an absolute name, `..`, a symlink leading out) is refused. The zip's SHA-256 is checked
against the CodeSha256 Lambda reports.

boto3 is imported when a layer must be downloaded, and not before: it is the runtime's package
(every Lambda Python runtime has it), not one samlink needs otherwise.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import re
import shutil
import stat
import sys
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from samlink import atomicfile, locks
from samlink.errors import UsageError, os_error

# SAM's download record (samcli.local.common.file_lock): a lock older than this is stale.
SAM_LOCK_TIMEOUT = 300.0
DOWNLOAD_TIMEOUT = 60.0  # seconds without a byte before a download is given up


@dataclass(frozen=True)
class LayerArn:
    """arn:<partition>:lambda:<region>:<account>:layer:<name>:<version>."""

    arn: str
    region: str
    name: str
    version: int

    @property
    def unversioned(self) -> str:
        return self.arn.rsplit(":", 1)[0]

    @property
    def folder_name(self) -> str:
        """SAM's name for the layer's cache folder (samcli LayerVersion._compute_layer_name)."""
        digest = hashlib.sha256(self.arn.encode("utf-8")).hexdigest()[:10]
        return f"{self.name}-{self.version}-{digest}"


def parse_arn(arn: str) -> LayerArn:
    """The parts of a layer version ARN; a UsageError for anything else."""
    parts = arn.split(":")
    if (
        len(parts) != 8
        or parts[0] != "arn"
        or parts[2] != "lambda"
        or parts[5] != "layer"
        or not parts[3]
        or not parts[6]
        or not parts[7].isdigit()
    ):
        raise UsageError(
            f"layer {arn} is neither in this template nor a layer version ARN",
            "reference a LayerVersion of this template or a published layer's ARN "
            "(arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION)",
        )
    return LayerArn(arn=arn, region=parts[3], name=parts[6], version=int(parts[7]))


def cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """SAM's layer cache: SAM_LAYER_CACHE_BASEDIR, else `layers-pkg` in SAM's app dir."""
    env = os.environ if environ is None else environ
    if env.get("SAM_LAYER_CACHE_BASEDIR"):
        return Path(env["SAM_LAYER_CACHE_BASEDIR"])
    app_dir = env.get("__SAM_CLI_APP_DIR")  # SAM's own override of ~/.aws-sam
    return (Path(app_dir) if app_dir else Path.home() / ".aws-sam") / "layers-pkg"


def is_cached(folder: Path) -> bool:
    """SAM's rule: the folder exists, and no download of it is recorded as unfinished."""
    return folder.is_dir() and _sam_status(folder) in (None, "completed")


def fetch(
    arn: str,
    cache: Path | None = None,
    *,
    say: Callable[[str], None] | None = None,
) -> Path:
    """The folder holding the published layer `arn`, downloaded into SAM's cache if missing.

    `say` gets one line when a download starts or waits for another (stderr by default).
    """
    layer = parse_arn(arn)
    root = cache if cache is not None else cache_dir()
    folder = root / layer.folder_name
    if is_cached(folder):
        return folder
    say = say or _stderr
    try:
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        (root / ".locks").mkdir(exist_ok=True)
        with locks.folder_lock(root):  # one samlink downloads; the others wait, then find it
            _sweep(root)
            with _sam_download_record(folder, arn, say):
                if is_cached(folder):  # SAM or another samlink fetched it meanwhile
                    return folder
                say(f"samlink: downloading layer {arn} into {folder}")
                _install(layer, folder)
    except OSError as exc:
        raise os_error(exc, f"cannot use SAM's layer cache for {arn}") from None
    return folder


# --- GetLayerVersion and the download ---------------------------------------------------------


def _location(layer: LayerArn) -> tuple[str, str | None]:
    """Content.Location and Content.CodeSha256 of the layer version, asked with the user's
    credentials (boto3's chain: AWS_PROFILE, AWS_* variables, ~/.aws, SSO) in its region."""
    try:
        import boto3
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
    except ImportError:
        raise UsageError(
            f"layer {layer.arn} must be downloaded, which needs boto3",
            f"pip install boto3 into samlink's environment ({sys.prefix}), "
            "or run `sam local invoke` once to fill SAM's layer cache",
        ) from None
    credentials_hint = (
        "set AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), or run "
        "`aws configure` / `aws sso login`: the layer is fetched with your credentials"
    )
    try:
        client: Any = boto3.session.Session().client(
            "lambda",
            region_name=layer.region,
            config=Config(connect_timeout=10, read_timeout=30, retries={"max_attempts": 3}),
        )
        response = client.get_layer_version(
            LayerName=layer.unversioned, VersionNumber=layer.version
        )
    except NoCredentialsError:
        raise UsageError(
            f"layer {layer.arn}: no AWS credentials to download it with", credentials_hint
        ) from None
    except ClientError as exc:
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code, message = _error_of(str(error.get("Code", "")), str(error.get("Message", "")))
        if code in ("AccessDeniedException", "AccessDenied"):
            raise UsageError(
                f"layer {layer.arn}: access denied by Lambda ({message})",
                "your credentials need lambda:GetLayerVersion on it; for another account's "
                "layer its owner must grant it",
            ) from None
        if code == "ResourceNotFoundException":
            raise UsageError(
                f"layer {layer.arn} was not found in {layer.region}",
                "check the layer name, version and account in the template",
            ) from None
        if code in _REFUSED_CREDENTIALS or status in (401, 403):
            raise UsageError(
                f"layer {layer.arn}: AWS refused the credentials ({code}: {message})",
                credentials_hint,
            ) from None
        raise UsageError(
            f"layer {layer.arn}: GetLayerVersion failed ({code}: {message})",
            "retry; if it persists, run `sam local invoke` once to fill SAM's layer cache",
        ) from None
    except BotoCoreError as exc:
        raise UsageError(
            f"layer {layer.arn}: cannot ask Lambda for it: {_one_line(exc)}",
            "check your network and AWS configuration (AWS_PROFILE, region, proxy)",
        ) from None
    content = response.get("Content") or {}
    location = content.get("Location")
    if not isinstance(location, str) or not location:
        raise UsageError(
            f"layer {layer.arn}: Lambda gave no download location for it",
            "a layer published from a container image cannot be fetched; check the ARN",
        )
    sha = content.get("CodeSha256")
    return location, sha if isinstance(sha, str) and sha else None


_REFUSED_CREDENTIALS = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "ExpiredTokenException",
    }
)


def _error_of(code: str, message: str) -> tuple[str, str]:
    """An AWS error's code and message, on one line; an XML error body is read for both (botocore
    leaves it whole when a service answers in a format the API does not use)."""
    inner_code = re.search(r"<Code>([^<]*)</Code>", message)
    inner_message = re.search(r"<Message>([^<]*)</Message>", message)
    if inner_code and (not code or code.isdigit()):
        code = inner_code.group(1)
    if inner_message:
        message = inner_message.group(1)
    text = _one_line(message) or code
    return code, text if len(text) <= 300 else text[:297] + "..."


def _download(layer: LayerArn, url: str, target: Path) -> str:
    """Write the zip at `url` to `target`; return its SHA-256, base64 as Lambda gives it."""
    import http.client
    import urllib.error
    import urllib.request

    digest = hashlib.sha256()
    try:
        with (
            urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as response,
            target.open("xb") as out,
        ):
            size = 0
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
            expected = response.headers.get("Content-Length")
            if expected is not None and expected.isdigit() and int(expected) != size:
                raise ConnectionError(f"the connection closed after {size} of {expected} bytes")
    except urllib.error.HTTPError as exc:
        raise UsageError(
            f"layer {layer.arn}: download failed: HTTP {exc.code} {exc.reason}",
            "retry (the link Lambda gives is valid for 10 minutes)",
        ) from None
    except ValueError as exc:  # not a URL urllib can open
        raise UsageError(
            f"layer {layer.arn}: cannot download from {url.split('?')[0]}: {exc}",
            "run `sam local invoke` once to fill SAM's layer cache",
        ) from None
    except (urllib.error.URLError, http.client.HTTPException, TimeoutError, ConnectionError) as exc:
        reason = getattr(exc, "reason", exc)
        raise UsageError(
            f"layer {layer.arn}: download failed: {_one_line(reason)}",
            "check your network or proxy (HTTPS_PROXY), then invoke again",
        ) from None
    return base64.b64encode(digest.digest()).decode("ascii")


def _install(layer: LayerArn, folder: Path) -> None:
    """Download, check and unpack the layer into a temp folder, then rename it to `folder`."""
    root = folder.parent
    location, expected = _location(layer)
    zip_path = root / atomicfile.temp_name(f"{folder.name}.zip")
    staging = root / atomicfile.temp_name(folder.name)
    try:
        try:
            actual = _download(layer, location, zip_path)
            if expected is not None and actual != expected:
                raise UsageError(
                    f"layer {layer.arn}: the download does not match Lambda's CodeSha256",
                    "invoke again; a proxy that rewrites downloads would cause this",
                )
            staging.mkdir(mode=0o755)
            unpack(zip_path, staging, what=f"layer {layer.arn}")
            if folder.is_dir() or folder.is_symlink():
                # A folder SAM did not finish: moved aside whole, then removed.
                aside = root / atomicfile.temp_name(folder.name)
                os.rename(folder, aside)
                shutil.rmtree(aside, ignore_errors=True)
            os.rename(staging, folder)
        except OSError as exc:
            raise os_error(exc, f"cannot unpack layer {layer.arn}") from None
    finally:
        for leftover in (zip_path, staging):
            _remove(leftover)


# --- unpacking --------------------------------------------------------------------------------


def unpack(zip_path: Path, into: Path, *, what: str) -> None:
    """Extract a layer zip into the empty folder `into`, with the files' modes, refusing any
    entry that would land outside it: an absolute name, a `..` part, or a symlink whose target
    leads out. Symlinks are made last, so no file is ever written through one."""
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise UsageError(f"{what}: the download is not a zip: {exc}", "invoke again") from None
    links: list[tuple[Path, str, str]] = []
    with archive:
        entries = archive.infolist()
        for entry in entries:
            _check_name(entry.filename, what)
        try:
            _extract(archive, entries, into, links)
        except (zipfile.BadZipFile, zlib.error, EOFError, UnicodeDecodeError) as exc:
            raise UsageError(
                f"{what}: its zip is damaged: {_one_line(exc)}",
                "invoke again; if it persists, the published layer itself is broken",
            ) from None
        except NotImplementedError as exc:  # a compression method Python cannot read
            raise UsageError(f"{what}: cannot unpack its zip: {exc}", "repack it") from None
    _make_links(into, links, what)


def _extract(
    archive: zipfile.ZipFile,
    entries: list[zipfile.ZipInfo],
    into: Path,
    links: list[tuple[Path, str, str]],
) -> None:
    """Folders and files, with their modes; symlinks are only collected into `links`."""
    for entry in entries:
        target = into / entry.filename
        mode = (entry.external_attr >> 16) & 0xFFFF
        if stat.S_ISLNK(mode):
            links.append((target, archive.read(entry).decode("utf-8"), entry.filename))
        elif entry.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
            fd = os.open(target, flags, 0o644)
            with os.fdopen(fd, "wb") as out, archive.open(entry) as source:
                shutil.copyfileobj(source, out, 1 << 20)
            if mode & 0o777:
                os.chmod(target, mode & 0o777)


def _make_links(into: Path, links: list[tuple[Path, str, str]], what: str) -> None:
    inside = os.path.realpath(into)
    for target, link_to, name in links:
        if os.path.isabs(link_to) or not link_to:
            raise _escape(what, name, f"a symlink to {link_to!r}")
        # Its folder must be a real one: nothing is ever made through another link.
        if not _real_folder(into, name) or os.path.lexists(target):
            raise _escape(what, name, "a symlink through or over another entry")
        os.symlink(link_to, target)
    for target, link_to, name in links:  # all made: where each one leads now
        resolved = os.path.realpath(target)
        if resolved != inside and not resolved.startswith(inside + os.sep):
            raise _escape(what, name, f"a symlink to {link_to!r}")


def _real_folder(into: Path, name: str) -> bool:
    """Make the folders of entry `name` under `into`; False if one of them is a link or a file."""
    here = into
    for part in [p for p in name.split("/")[:-1] if p not in ("", ".")]:
        here = here / part
        if here.is_symlink() or (here.exists() and not here.is_dir()):
            return False
        here.mkdir(exist_ok=True)
    return True


def _check_name(name: str, what: str) -> None:
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or "\0" in name:
        raise _escape(what, name, "an absolute name")
    if ".." in parts:
        raise _escape(what, name, "a name with '..'")


def _escape(what: str, name: str, why: str) -> UsageError:
    return UsageError(
        f"{what}: its zip holds {name!r} ({why}), which would land outside the layer's folder",
        "samlink refused to unpack it and kept nothing; ask the layer's publisher for a clean zip",
    )


# --- SAM's download record and the cache's leftovers ----------------------------------------


def _record(folder: Path, kind: str) -> Path:
    safe = re.sub(r"[^\w\-_.]", "_", folder.name.replace(":", "_").replace("/", "_"))
    return folder.parent / ".locks" / f"{safe}.downloading.{kind}"


def _sam_status(folder: Path) -> str | None:
    try:
        text = _record(folder, "status").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    return text.split("\n", 1)[0].strip() or None


@contextlib.contextmanager
def _sam_download_record(folder: Path, arn: str, say: Callable[[str], None]) -> Iterator[None]:
    """Hold SAM's download lock for `folder` (waiting for a SAM that holds it, as SAM waits),
    with its status `in_progress`, then `completed` or `failed` as SAM writes them."""
    lock = _record(folder, "lock")
    deadline = time.monotonic() + SAM_LOCK_TIMEOUT
    waiting = False
    while True:
        try:
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            break
        except FileExistsError:
            try:
                age = time.time() - lock.stat().st_mtime
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise os_error(exc, "cannot read SAM's layer cache lock") from None
            try:
                holder = lock.read_text(encoding="utf-8").split("\n", 1)[0].strip()
            except (OSError, UnicodeDecodeError):
                holder = ""
            dead = holder.isdigit() and not atomicfile.running(int(holder))
            if dead or age > SAM_LOCK_TIMEOUT or time.monotonic() > deadline:
                _remove(lock)  # its holder is gone, or it is stale (SAM's rule)
                continue
            if not waiting:
                say(f"samlink: waiting for another download of layer {arn} (pid {holder})")
                waiting = True
            time.sleep(0.2)
        except OSError as exc:
            raise os_error(exc, "cannot lock SAM's layer cache") from None
    with os.fdopen(fd, "w") as f:
        f.write(f"{os.getpid()}\n{time.time()}")
    previous = _sam_status(folder)
    ok = False
    try:
        if not (previous in (None, "completed") and folder.is_dir()):
            _set_status(folder, "in_progress")
        yield None
        ok = True
    finally:
        if folder.is_dir() and ok:
            if previous is not None or _sam_status(folder) is not None:
                _set_status(folder, "completed")
        elif not ok and _sam_status(folder) == "in_progress":
            if folder.exists():  # SAM's half folder is still there: say so, as SAM would
                _set_status(folder, "failed")
            else:  # nothing was left: no record either (a folder made by hand then counts)
                _remove(_record(folder, "status"))
        _remove(lock)


def _set_status(folder: Path, status: str) -> None:
    atomicfile.write_text(_record(folder, "status"), f"{status}\n{time.time()}")


def _sweep(root: Path) -> None:
    """Remove the temp zips and folders of samlink fetches that died (SIGKILL, power cut)."""
    try:
        names = os.listdir(root)
    except OSError:
        return
    for name in names:
        pid = atomicfile.writer_pid(name)
        if pid is None or atomicfile.running(pid):
            continue
        _remove(root / name)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _one_line(value: object) -> str:
    return " ".join(str(value).split())


def _stderr(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()
