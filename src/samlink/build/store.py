"""The content-addressed dependency store: one installed tree per requirement set and target.

Layout under the store root:

    v1/entries/<key>/tree/           the installed files (read-only)
    v1/entries/<key>/manifest.json   every file: path, size, mode, sha256, mtime (symlinks: target)
    v1/entries/<key>/last-used       touched on every use (its mtime drives `prune`)
    v1/locks/<key>.lock              flock'd while an entry is built, replaced or removed
    v1/tmp/<key>.<pid>.<random>/     entries being built, and replaced entries being deleted

An entry is trusted only once published: it is built and described in a temp dir, then renamed
into `entries/` in one step while its lock is held. A killed build leaves only a temp dir, which
the next build of the same key (holding the lock) or `prune` deletes.

Materialized files are HARD LINKS to the store's files: a write to a file in a build directory
in place changes the store's file. Files are stored read-only to make that harder (root and tools
that chmod first are not stopped), anything samlink copies over a path first unlinks it, and
every reuse of an entry checks each file's size, mode and mtime against the manifest (the warm
replay in samlink.build.tree checks the mtimes): an entry with a file changed in place is
reinstalled before any build uses it again.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import secrets
import shutil
import stat
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from samlink import atomicfile
from samlink.build import wheel_file
from samlink.build.installer import IndexOptions, Installer, InstallSpec, install
from samlink.build.ship import is_installer_script
from samlink.build.tree import make_dir
from samlink.errors import BuildError, UsageError
from samlink.model.target import Target

FORMAT = "v1"
DEFAULT_TTL_HOURS = 24.0
# Directories of a local project that never change what gets installed from it.
_FINGERPRINT_SKIP = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".venv",
        "venv",
        "__pycache__",
        "node_modules",
        ".tox",
        ".nox",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".aws-sam",
        "build",
        "dist",
    }
)
_USERINFO = re.compile(r"://[^/@\s]+@")

# ["d", rel] | ["f", rel, size, mode, sha256, mtime_ns] | ["l", rel, link target]
Row = list[Any]


class DamagedEntry(BuildError):
    """A published entry is missing files (someone deleted them from the store)."""

    def __init__(self, key: str, detail: str) -> None:
        super().__init__(
            f"dependency store entry {key[:12]} is damaged: {detail}",
            "run `samlink cache verify`, or `samlink cache clear` to start over",
        )
        self.key = key


class ChangedEntry(DamagedEntry):
    """Files of a published entry were changed in place (an edit through a build dir's link)."""

    def __init__(self, key: str, changed: list[str]) -> None:
        more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
        self.detail = f"{', '.join(changed[:3])}{more} changed in place since it was installed"
        super().__init__(key, self.detail)
        self.changed = changed


@dataclass(frozen=True)
class Entry:
    """One published store entry."""

    key: str
    path: Path  # <root>/v1/entries/<key>/tree
    manifest: Path
    created: float
    build_id: str
    spec: InstallSpec  # as recorded: credentials in URLs replaced by ***
    target: Target
    installer: Installer
    files: int
    size: int
    last_used: float = field(default=0.0, compare=False)
    sealed_ns: int = 0  # the newest file mtime when published: a newer one was written since


class Store:
    """The dependency store shared by every samlink build of this user."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root if root is not None else default_root()
        _check_root(self.root)
        self._base = self.root / FORMAT
        self._entries = self._base / "entries"
        self._locks = self._base / "locks"
        self._tmp = self._base / "tmp"
        # Manifest rows read by the last lookup, so materialize does not parse them twice.
        self._rows: dict[tuple[str, str], list[Row]] = {}

    # --- keys ------------------------------------------------------------------------------

    def key(self, spec: InstallSpec, target: Target, installer: Installer) -> str:
        """sha256 over everything that changes the installed tree (no network, no subprocess)."""
        document: dict[str, Any] = {
            "format": FORMAT,
            "requirements": sorted({_key_requirement(r) for r in spec.requirements}),
            "constraints": sorted({_canonical_requirement(c) for c in spec.constraints}),
            "index": _index_record(spec.index),
            # A new wheel dropped into a find-links folder, or an edit of a local project,
            # changes what gets installed: their listings / fingerprints are part of the key.
            "find_links": {loc: _listing(loc) for loc in spec.index.find_links},
            "local": {p: _fingerprint(p) for p in _local_paths(spec)},
            "target": {
                "python": target.python_version,
                "architecture": target.architecture,
                "glibc": list(target.glibc),
            },
            "installer": {"name": installer.name, "version": installer.version},
        }
        if spec.hash_mode:
            # The right and the wrong hash never share an entry. Only in hash mode, so the keys
            # of every other entry stay what they were.
            document["hashes"] = {
                _key_requirement(line): sorted(values) for line, values in spec.hashes
            }
            document["require_hashes"] = spec.require_hashes
        text = json.dumps(document, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    # --- lookup and build ------------------------------------------------------------------

    def get_or_build(
        self, spec: InstallSpec, target: Target, installer: Installer, *, refresh: bool = False
    ) -> Entry:
        """The entry for this spec, built (once, across processes) if missing or stale."""
        key = self.key(spec, target, installer)
        if not refresh:
            entry = self._lookup(key)
            if entry is not None and _reusable(entry, spec):
                self._touch(entry)
                return entry
        waited_from = time.time()
        with self._lock(key, wait_message=True):
            # Holding the key's lock, any temp dir of this key belongs to a dead build.
            self._sweep_tmp(key)
            entry = self._lookup(key)
            if entry is not None:
                # Another process may have built (or refreshed) it while we waited.
                fresh_enough = entry.created >= waited_from if refresh else _reusable(entry, spec)
                if fresh_enough:
                    self._touch(entry)
                    return entry
            return self._build(key, spec, target, installer)

    def provide(
        self,
        spec: InstallSpec,
        target: Target,
        installer: Installer,
        dest: Path,
        *,
        refresh: bool = False,
    ) -> tuple[Entry, int]:
        """get_or_build then materialize into `dest`; a damaged entry is rebuilt once."""
        entry = self.get_or_build(spec, target, installer, refresh=refresh)
        try:
            return entry, self.materialize(entry, dest)
        except DamagedEntry as damaged:
            if isinstance(damaged, ChangedEntry):
                # On stdout: `sam build` shows a make target's stdout, and its stderr only when
                # the build fails.
                print(
                    f"samlink: store entry {entry.key[:12]}: {damaged.detail} (an edit in a build "
                    "dir reaches the store through its hard links); reinstalling it",
                    flush=True,
                )
            self._discard(entry)
            entry = self.get_or_build(spec, target, installer)
            return entry, self.materialize(entry, dest)

    def materialize(self, entry: Entry, dest: Path) -> int:
        """Hard-link the entry's files into `dest` (copies across devices); returns file count."""
        rows = self._rows.get((entry.key, entry.build_id))
        if rows is None:
            loaded = self._lookup(entry.key)
            if loaded is None or loaded.build_id != entry.build_id:
                raise DamagedEntry(entry.key, "its manifest is gone or was replaced")
            rows = self._rows[(entry.key, entry.build_id)]
        dest.mkdir(parents=True, exist_ok=True)
        src_root, dst_root = str(entry.path), str(dest)
        copying = False
        count = 0
        changed: list[str] = []
        lstat = os.lstat
        # Walk the manifest, not the tree: a file missing from the store raises here instead of
        # silently producing a build without it.
        for row in rows:
            kind, rel = row[0], row[1]
            if is_installer_script(rel):
                continue  # an entry made before the installer dropped its console scripts
            dst = f"{dst_root}/{rel}"
            if kind == "d":
                make_dir(dst)
                continue
            if kind == "l":
                _replace_with_symlink(row[2], dst)
                count += 1
                continue
            src = f"{src_root}/{rel}"
            # The guard: a file written in place (through a build dir's hard link) has another
            # size, mode or mtime than the manifest says. Nothing else is this cheap.
            with contextlib.suppress(FileNotFoundError):  # _link/_copy report a missing file
                st = lstat(src)
                seen = (st.st_size, stat.S_IMODE(st.st_mode), st.st_mtime_ns)
                if seen != (row[2], row[3], row[5] if len(row) > 5 else st.st_mtime_ns):
                    changed.append(rel)
            if copying:
                _copy(src, dst, entry.key, rel)
            else:
                try:
                    _link(src, dst, entry.key, rel)
                except OSError as err:
                    if err.errno in (errno.EXDEV, errno.EPERM, errno.EACCES, errno.ENOTSUP):
                        # Another filesystem, or one without hard links: copy from here on.
                        copying = True
                    elif err.errno != errno.EMLINK:  # this one file has too many links
                        raise
                    _copy(src, dst, entry.key, rel)
            count += 1
        if changed:
            raise ChangedEntry(entry.key, changed)
        return count

    # --- management ------------------------------------------------------------------------

    def entries(self) -> list[Entry]:
        """Every published entry, newest use first."""
        try:
            keys = sorted(os.listdir(self._entries))
        except FileNotFoundError:
            return []
        found = [e for e in (self._lookup(k) for k in keys) if e is not None]
        self._rows.clear()
        return sorted(found, key=lambda e: e.last_used, reverse=True)

    def unreadable(self) -> list[str]:
        """Keys of entry dirs whose manifest is missing or unreadable (no build trusts them)."""
        try:
            keys = sorted(os.listdir(self._entries))
        except FileNotFoundError:
            return []
        bad = [k for k in keys if self._lookup(k) is None]
        self._rows.clear()
        return bad

    def remove(self, key: str) -> None:
        """Delete one entry (waits for a build of the same key to finish)."""
        with self._lock(key):
            self._unpublish(key)

    def prune(self, older_than_days: float) -> list[Entry]:
        """Delete entries not used for `older_than_days`, and dead builds' temp dirs."""
        cutoff = time.time() - older_than_days * 86400
        removed: list[Entry] = []
        for entry in self.entries():
            if entry.last_used >= cutoff:
                continue
            with self._try_lock(entry.key) as locked:
                if locked:  # an entry being rebuilt right now is in use: keep it
                    self._unpublish(entry.key)
                    removed.append(entry)
        self._sweep_stale()
        return removed

    def clear(self) -> None:
        """Delete every entry and temp dir."""
        try:
            keys = os.listdir(self._entries)
        except FileNotFoundError:
            keys = []
        for key in keys:
            self.remove(key)
        self._sweep_stale()

    def verify(self, entry: Entry) -> list[str]:
        """Check every file of the entry against its manifest; returns the problems found."""
        try:
            rows = _read_manifest(entry.manifest)["files"]
        except (OSError, ValueError, KeyError, TypeError) as err:
            return [f"manifest unreadable: {err}"]
        problems: list[str] = []
        expected: set[str] = set()
        for row in rows:
            kind, rel = row[0], row[1]
            expected.add(rel)
            path = entry.path / rel
            try:
                st = path.lstat()
            except FileNotFoundError:
                problems.append(f"{rel}: missing")
                continue
            if kind == "d":
                if not stat.S_ISDIR(st.st_mode):
                    problems.append(f"{rel}: not a directory")
            elif kind == "l":
                if not stat.S_ISLNK(st.st_mode) or os.readlink(path) != row[2]:
                    problems.append(f"{rel}: symlink changed")
            elif not stat.S_ISREG(st.st_mode):
                problems.append(f"{rel}: not a regular file")
            else:
                size, mode, digest = row[2], row[3], row[4]
                if st.st_size != size:
                    problems.append(f"{rel}: size {st.st_size}, expected {size}")
                elif _sha256(path) != digest:
                    problems.append(f"{rel}: content changed (sha256 differs)")
                elif len(row) > 5 and st.st_mtime_ns != row[5]:
                    # Builds treat it as changed (they compare mtimes, not contents).
                    problems.append(f"{rel}: written in place (mtime changed)")
                if stat.S_IMODE(st.st_mode) != mode:
                    problems.append(f"{rel}: mode {stat.S_IMODE(st.st_mode):o}, expected {mode:o}")
        for dirpath, dirnames, filenames in os.walk(entry.path):
            for name in dirnames + filenames:
                rel = os.path.relpath(os.path.join(dirpath, name), entry.path)
                if rel not in expected:
                    problems.append(f"{rel}: not in the manifest")
        return problems

    # --- internals -------------------------------------------------------------------------

    def _lookup(self, key: str) -> Entry | None:
        """The published entry for `key` if its manifest exists and parses (the cheap check)."""
        entry_dir = self._entries / key
        manifest = entry_dir / "manifest.json"
        try:
            data = _read_manifest(manifest)
            rows: list[Row] = data["files"]
            # An entry without mtimes (an older samlink's) cannot be guarded: builds reinstall it
            # once (_reusable); listing and verifying it still work.
            sealed_ns = int(data.get("sealed_ns", -1))
            entry = Entry(
                key=key,
                path=entry_dir / "tree",
                manifest=manifest,
                created=float(data["created"]),
                build_id=str(data["id"]),
                spec=_spec_from_record(data["spec"]),
                target=Target(**data["target"]),
                installer=Installer(**data["installer"]),
                files=int(data["count"]),
                size=int(data["size"]),
                last_used=_mtime(entry_dir / "last-used", float(data["created"])),
                sealed_ns=sealed_ns,
            )
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            # Unreadable or half-written by hand: treat as absent; the rebuild replaces it.
            return None
        if data.get("key") != key:
            return None
        self._rows[(key, entry.build_id)] = rows
        return entry

    def _build(self, key: str, spec: InstallSpec, target: Target, installer: Installer) -> Entry:
        """Install into a temp dir, describe it, publish it with one rename (lock held)."""
        self._sweep_stale()
        work = self._new_tmp(key)
        tree = work / "tree"
        old: Path | None = None
        try:
            tree.mkdir(parents=True)
            if spec.requirements:
                install(spec, target, tree, installer)
            rows, size = _describe(tree)
            record = {
                "format": FORMAT,
                "key": key,
                "id": secrets.token_hex(8),
                "created": time.time(),
                "spec": _spec_record(spec),
                "target": {
                    "python_version": target.python_version,
                    "architecture": target.architecture,
                },
                "installer": {"name": installer.name, "version": installer.version},
                "count": sum(1 for r in rows if r[0] != "d"),
                "size": size,
                "sealed_ns": max((r[5] for r in rows if r[0] == "f"), default=0),
                "files": rows,
            }
            _write_json(work / "manifest.json", record)
            (work / "last-used").touch()
            published = self._entries / key
            self._entries.mkdir(parents=True, exist_ok=True)
            if published.exists():
                old = self._new_tmp(key, suffix=".old")
                os.rename(published, old)
            os.rename(work, published)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        entry = self._lookup(key)
        if entry is None:
            raise BuildError(f"store entry {key[:12]} vanished right after it was built", "retry")
        return entry

    def _discard(self, entry: Entry) -> None:
        """Remove `entry` unless another process already replaced it."""
        with self._lock(entry.key):
            current = self._lookup(entry.key)
            if current is None or current.build_id == entry.build_id:
                self._unpublish(entry.key)
        self._rows.pop((entry.key, entry.build_id), None)

    def _unpublish(self, key: str) -> None:
        """Move an entry out of `entries/` (one rename) and delete it. Caller holds the lock."""
        published = self._entries / key
        if published.exists():
            trash = self._new_tmp(key, suffix=".old")
            os.rename(published, trash)
            shutil.rmtree(trash, ignore_errors=True)
        # Safe while we hold it: a waiter that then locks the unlinked file notices and retries.
        with contextlib.suppress(FileNotFoundError):
            (self._locks / f"{key}.lock").unlink()

    def _touch(self, entry: Entry) -> None:
        marker = entry.path.parent / "last-used"
        try:
            os.utime(marker)
        except FileNotFoundError:
            with contextlib.suppress(OSError):
                marker.touch()
        except OSError:
            pass  # a read-only store still serves builds

    def _new_tmp(self, key: str, suffix: str = "") -> Path:
        self._tmp.mkdir(parents=True, exist_ok=True)
        return self._tmp / f"{key}.{os.getpid()}.{secrets.token_hex(4)}{suffix}"

    def _sweep_tmp(self, key: str) -> None:
        """Delete temp dirs of `key`. Caller holds the key's lock, so their builders are gone."""
        try:
            names = os.listdir(self._tmp)
        except FileNotFoundError:
            return
        for name in names:
            if name.startswith(key + "."):
                shutil.rmtree(self._tmp / name, ignore_errors=True)

    def _sweep_stale(self) -> None:
        """Delete temp dirs whose builder process is gone and whose key is not locked."""
        try:
            names = os.listdir(self._tmp)
        except FileNotFoundError:
            return
        for name in names:
            parts = name.split(".")
            if len(parts) < 3 or not parts[1].isdigit():
                continue
            if atomicfile.running(int(parts[1])):
                continue
            with self._try_lock(parts[0]) as locked:
                if locked:
                    shutil.rmtree(self._tmp / name, ignore_errors=True)

    @contextlib.contextmanager
    def _lock(self, key: str, *, wait_message: bool = False) -> Iterator[None]:
        fd = self._acquire(key, blocking=True, wait_message=wait_message)
        assert fd is not None
        try:
            yield
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def _try_lock(self, key: str) -> Iterator[bool]:
        fd = self._acquire(key, blocking=False)
        try:
            yield fd is not None
        finally:
            if fd is not None:
                os.close(fd)

    def _acquire(self, key: str, *, blocking: bool, wait_message: bool = False) -> int | None:
        self._locks.mkdir(parents=True, exist_ok=True)
        path = self._locks / f"{key}.lock"
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    if not blocking:
                        os.close(fd)
                        return None
                    if wait_message:
                        print(
                            "samlink: waiting for another build of the same dependencies",
                            file=sys.stderr,
                            flush=True,
                        )
                        wait_message = False
                    fcntl.flock(fd, fcntl.LOCK_EX)
                # The lock file may have been replaced while we waited; a lock on an unlinked
                # file protects nothing, so try again on the current one.
                try:
                    same = os.path.samestat(os.fstat(fd), os.stat(path))
                except FileNotFoundError:
                    same = False
                if same:
                    return fd
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)


def default_root() -> Path:
    """$SAMLINK_CACHE_DIR, else the platform's user cache dir + /samlink."""
    explicit = os.environ.get("SAMLINK_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "samlink"
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "samlink"


def _check_root(root: Path) -> None:
    """Refuse a store folder that is a file (or lies under one) before anything is made in it."""
    for folder in (root, *root.parents):
        if not os.path.lexists(folder):
            continue
        if not folder.is_dir():
            where = "SAMLINK_CACHE_DIR" if os.environ.get("SAMLINK_CACHE_DIR") else "the store"
            raise UsageError(
                f"{where} {root} cannot be a folder: {folder} is a file",
                "point SAMLINK_CACHE_DIR at a folder, or unset it for the default",
            )
        return


def is_pinned(spec: InstallSpec) -> bool:
    """Whether every requirement names one exact version (or a fixed local file / URL)."""
    for line in spec.requirements:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue  # a local path: the key carries its fingerprint
        if req.url:
            if "+" in req.url.split(":", 1)[0]:  # git+https:// and friends follow a branch
                return False
            continue
        if not any(s.operator in ("==", "===") and "*" not in s.version for s in req.specifier):
            return False
    return True


def ttl_hours() -> float:
    """How long an entry of not fully pinned requirements is reused ($SAMLINK_STORE_TTL_HOURS)."""
    raw = os.environ.get("SAMLINK_STORE_TTL_HOURS", "").strip()
    if not raw:
        return DEFAULT_TTL_HOURS
    try:
        return float(raw)
    except ValueError:
        raise UsageError(
            f"SAMLINK_STORE_TTL_HOURS={raw!r} is not a number", "use hours, e.g. 24 or 0.5"
        ) from None


def _reusable(entry: Entry, spec: InstallSpec) -> bool:
    return entry.sealed_ns >= 0 and not _expired(entry, spec)


def _expired(entry: Entry, spec: InstallSpec) -> bool:
    # Unpinned requirements float: re-resolve now and then so new releases arrive. Transitive
    # dependencies of pinned requirements float too, until --refresh (a full lock pins them).
    if is_pinned(spec):
        return False
    return time.time() - entry.created > ttl_hours() * 3600


def _canonical_requirement(line: str) -> str:
    text = line.strip()
    try:
        req = Requirement(text)
    except InvalidRequirement:
        return _redact(text)
    out: str = canonicalize_name(req.name)
    if req.extras:
        out += "[" + ",".join(sorted(canonicalize_name(e) for e in req.extras)) + "]"
    out += ",".join(sorted(str(s) for s in req.specifier))
    if req.url:
        out += " @ " + req.url
    if req.marker:
        out += "; " + str(req.marker)
    return _redact(out)


def _key_requirement(line: str) -> str:
    """A requirement as the store key takes it: a local wheel file by its name and content."""
    wheel = wheel_file.path_of(line)
    if wheel is None:
        return _canonical_requirement(line)
    try:
        req = Requirement(line.strip())
    except InvalidRequirement:
        return wheel_file.content_key(wheel)
    out = f"{canonicalize_name(req.name)} @ {wheel_file.content_key(wheel)}"
    return out + (f"; {req.marker}" if req.marker else "")


def _redact(text: str) -> str:
    """Drop credentials from URLs: they rotate (CodeArtifact tokens) and must not be stored."""
    return _USERINFO.sub("://***@", text)


def _index_record(index: IndexOptions) -> dict[str, Any]:
    return {
        "index_url": _redact(index.index_url) if index.index_url else None,
        "extra_index_urls": [_redact(u) for u in index.extra_index_urls],
        "find_links": [_redact(u) for u in index.find_links],
        "no_index": index.no_index,
        "pre": index.pre,
    }


def _spec_record(spec: InstallSpec) -> dict[str, Any]:
    index = _index_record(spec.index)
    index["trusted_hosts"] = list(spec.index.trusted_hosts)
    return {
        "requirements": [_redact(r) for r in spec.requirements],
        "constraints": [_redact(c) for c in spec.constraints],
        "index": index,
        "hashes": [[_redact(line), list(values)] for line, values in spec.hashes],
        "require_hashes": spec.require_hashes,
    }


def _spec_from_record(record: dict[str, Any]) -> InstallSpec:
    index = record["index"]
    return InstallSpec(
        requirements=tuple(record["requirements"]),
        constraints=tuple(record["constraints"]),
        index=IndexOptions(
            index_url=index["index_url"],
            extra_index_urls=tuple(index["extra_index_urls"]),
            find_links=tuple(index["find_links"]),
            no_index=bool(index["no_index"]),
            trusted_hosts=tuple(index.get("trusted_hosts", ())),
            pre=bool(index["pre"]),
        ),
        hashes=tuple((line, tuple(values)) for line, values in record.get("hashes", ())),
        require_hashes=bool(record.get("require_hashes", False)),
    )


def _local_paths(spec: InstallSpec) -> list[str]:
    paths = []
    for line in spec.requirements:
        text = line.strip()
        try:
            url = Requirement(text).url or ""
        except InvalidRequirement:
            url = text
        if url.startswith("file:"):
            url = url.removeprefix("file://").removeprefix("file:")
        if url.startswith("/") and wheel_file.path_of(text) is None:
            paths.append(url)  # a wheel file is keyed by its content (_key_requirement)
    return sorted(set(paths))


def _fingerprint(path: str) -> str:
    """A cheap stand-in for a local file's or project's content: names, sizes, mtimes."""
    try:
        st = os.stat(path)
    except OSError:
        return "missing"
    if not stat.S_ISDIR(st.st_mode):
        return f"{st.st_size}:{st.st_mtime_ns}"
    digest = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = sorted(
            d for d in dirnames if d not in _FINGERPRINT_SKIP and not d.endswith(".egg-info")
        )
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            with contextlib.suppress(OSError):
                fst = os.stat(full)
                rel = os.path.relpath(full, path)
                digest.update(f"{rel}\0{fst.st_size}\0{fst.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _listing(location: str) -> list[str]:
    path = location.removeprefix("file://") if location.startswith("file://") else location
    if "://" in path:
        return []  # a remote page: its changes are caught by the TTL of unpinned specs
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []


def _describe(tree: Path) -> tuple[list[Row], int]:
    """Manifest rows for every entry under `tree` (dirs first), making files read-only."""
    rows: list[Row] = []
    total = 0
    for dirpath, dirnames, filenames in os.walk(tree):
        dirnames.sort()
        rel_dir = os.path.relpath(dirpath, tree)
        prefix = "" if rel_dir == "." else rel_dir + "/"
        for name in list(dirnames):
            full = os.path.join(dirpath, name)
            if os.path.islink(full):
                # os.walk lists a link to a directory among dirs; it is recorded as a link.
                dirnames.remove(name)
                rows.append(["l", prefix + name, os.readlink(full)])
            else:
                rows.append(["d", prefix + name])
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                rows.append(["l", prefix + name, os.readlink(full)])
            elif stat.S_ISREG(st.st_mode):
                # Read-only: every build directory hard-links these very files.
                mode = stat.S_IMODE(st.st_mode) & ~0o222
                os.chmod(full, mode)
                rows.append(
                    ["f", prefix + name, st.st_size, mode, _sha256(Path(full)), st.st_mtime_ns]
                )
                total += st.st_size
            else:
                raise BuildError(
                    f"the installer left a special file {prefix + name}", "report this as a bug"
                )
    return rows, total


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_manifest(path: Path) -> dict[str, Any]:
    with open(path, "rb") as f:
        data = json.loads(f.read())
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError("not a samlink manifest")
    return data


def _write_json(path: Path, data: dict[str, Any]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, separators=(",", ":"))
        f.flush()
        os.fsync(f.fileno())


def _mtime(path: Path, default: float) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return default


def _link(src: str, dst: str, key: str, rel: str) -> None:
    try:
        os.link(src, dst)
    except FileExistsError:
        with contextlib.suppress(OSError):
            if os.path.samestat(os.stat(src), os.lstat(dst)):
                return  # already this very file (materialized twice)
        _clear(dst)
        os.link(src, dst)
    except FileNotFoundError:
        if not os.path.lexists(src):
            raise DamagedEntry(key, f"{rel} is missing") from None
        raise


def _copy(src: str, dst: str, key: str, rel: str) -> None:
    # Unlink first: writing through an existing path could write into a hard link to the store.
    if os.path.lexists(dst):
        _clear(dst)
    try:
        shutil.copy2(src, dst, follow_symlinks=False)
    except FileNotFoundError:
        if not os.path.lexists(src):
            raise DamagedEntry(key, f"{rel} is missing") from None
        raise


def _replace_with_symlink(link_target: str, dst: str) -> None:
    try:
        os.symlink(link_target, dst)
    except FileExistsError:
        _clear(dst)
        os.symlink(link_target, dst)


def _clear(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.unlink(path)
