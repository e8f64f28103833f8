"""``ensure_sample``: the embedded default data set (real faces, synthetic AUs), built once.

For each identity (``catalog.IDENTITIES``, in order) the stills are fetched, checked (face
found, not tiny) and prepared; identity i of the used ones goes to part i % 3 of the standard
partitions and yields several synthetic identities (``variants.Variant``: another resting
shape, camera and light), each a BP4D and/or DISFA subject of that part, so all variants of
one photo stay in one fold part. By default the variants fill the partitions (BP4D's 41 names,
DISFA's 27). Each BP4D subject gets ``bp4d_tasks`` sequences (a different still per task where
the identity has several) with AU schedules at BP4D's published occurrence rates and episodes
(``bp4d_schedule.make_bp4d_events``) plus unlabeled talking and blinking; each DISFA subject gets one
video. Labels follow what is rendered (``PreparedStill.render_labeled``). Everything is drawn
from ``numpy.random.default_rng([seed, identity number, variant])``, so a given seed gives the
same labels and frames. All schedules are planned and checked before the first frame is written.

The sample is written to a temporary folder and renamed into place when complete; an
existing sample is reused when its manifest records the same settings and media.

The parts live in their own modules: ``settings`` (``SampleSettings``), ``planning`` (identities,
subjects and clip schedules), ``clips`` (rendering and writing each clip) and ``manifest`` (the
settings key, ``manifest.json`` and ``README.txt``); this module runs them in order.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from typing import Callable, Optional

from keras_au.geometry import FaceDetector, load_image
from keras_au.sample.catalog import ARCHIVES, BASE_AUS, IDENTITIES  # noqa: F401 (BASE_AUS: re-exported)
from keras_au.sample.clips import copy_unlabeled, write_clip
from keras_au.sample.fetch import MediaSet, cache_dir, fetch_media
from keras_au.sample.manifest import build_manifest, read_manifest, settings_key, write_manifest, write_readme
from keras_au.sample.paths import PREVIEW, SamplePaths
from keras_au.sample.planning import BaseIdentity, make_subjects, plan_clips, select_identities
from keras_au.sample.settings import SampleSettings
from keras_au.sample.synth import prepare_still


def ensure_sample(
    out: Optional[str] = None,
    seed: int = 0,
    identities: Optional[int] = None,
    cache: Optional[str] = None,
    preview: bool = False,
    force: bool = False,
    offline: bool = False,
    settings: Optional[SampleSettings] = None,
    media: Optional[MediaSet] = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
    workers: int = 2,
) -> SamplePaths:
    """Builds (or reuses) the sample and returns its paths.

    ``out`` defaults to ``<cache>/sample``. ``offline`` uses only cached archives (plus the
    local faces); ``settings`` overrides ``seed``/``identities`` and the clip sizes. ``workers`` processes
    render the clips (the bytes written do not depend on it).
    """
    settings = settings or SampleSettings(seed=seed, identities=identities)
    root = os.path.abspath(out or os.path.join(cache_dir(cache), "sample"))
    if media is None:
        media = fetch_media(cache, offline=offline, archives=() if settings.local_only else ARCHIVES, log=log)
    key = settings_key(settings, media)
    existing = read_manifest(root)
    if existing is not None and existing.get("key") == key and existing.get("complete") and not force:
        log(f"sample up to date: {root}")
        paths = SamplePaths.from_root(root)
        if preview and paths.preview is None:
            _preview_from_manifest(root, existing, settings)
            paths = SamplePaths.from_root(root)
        return paths
    if os.path.isdir(root) and os.listdir(root) and existing is None:
        raise FileExistsError(f"{root} exists and is not a keras-au sample; choose another --out or remove it")
    tmp = f"{root}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    try:
        _generate(tmp, settings, media, key, preview, progress, workers)
        shutil.rmtree(root, ignore_errors=True)
        os.replace(tmp, root)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return SamplePaths.from_root(root)


def _write_group(root: str, clips: list, settings: SampleSettings) -> list[dict]:
    return [write_clip(root, c, settings) for c in clips]


def _write_clips(root: str, plan: list, settings: SampleSettings, workers: int, progress: bool) -> list[dict]:
    """Renders and writes every planned clip; returns their manifest entries in plan order.

    The clips that share a random stream (a subject's tasks and video) render in order in one process,
    so every number of worker processes writes the same bytes."""
    groups: dict[int, list[int]] = {}
    for i, c in enumerate(plan):
        groups.setdefault(id(c.rng), []).append(i)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(plan), desc="synthesising clips", unit="clip")
    entries: dict[int, dict] = {}
    jobs = [[plan[i] for i in idx] for idx in groups.values()]
    if workers > 1 and len(jobs) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # fork: workers start without importing keras-au again; each job carries its clips (pickled)
        with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=multiprocessing.get_context("fork")) as pool:
            results = pool.map(_write_group, [root] * len(jobs), jobs, [settings] * len(jobs))
            for idx, out in zip(groups.values(), results):
                entries.update(zip(idx, out))
                if bar is not None:
                    bar.update(len(out))
    else:
        for idx, job in zip(groups.values(), jobs):
            for i, c in zip(idx, job):
                entries[i] = write_clip(root, c, settings)
                if bar is not None:
                    bar.update(1)
    if bar is not None:
        bar.close()
    return [entries[i] for i in range(len(plan))]


def _generate(root: str, settings: SampleSettings, media: MediaSet, key: str, preview: bool, progress: bool,
              workers: int = 1) -> None:
    start = time.time()
    skipped: list[dict] = []
    identities = select_identities(settings, media, skipped, IDENTITIES)
    if not identities:
        reasons = "; ".join(f"{s['identity']} {s.get('file', '')}: {s['reason']}" for s in skipped)
        problems = f" (download problems: {'; '.join(media.problems)})" if media.problems else ""
        raise RuntimeError(f"no usable identity: {reasons or 'none listed'}{problems}")
    subjects = make_subjects(identities, settings)
    plan = plan_clips(subjects, settings)
    clips = _write_clips(root, plan, settings, workers, progress)
    unlabeled = copy_unlabeled(root, media)
    preview_file = None
    if preview:
        preview_file = _write_preview(root, identities)
    manifest = build_manifest(settings, key, media, identities, subjects, skipped, clips, unlabeled, preview_file, start)
    write_readme(root, manifest)
    write_manifest(root, manifest)


def _write_preview(root: str, identities: list[BaseIdentity], count: int = 3) -> str:
    from keras_au.sample.preview import write_preview

    chosen = identities[:count]
    write_preview(os.path.join(root, PREVIEW), [s.stills[0] for s in chosen], [s.identity.key for s in chosen])
    return PREVIEW


def _preview_from_manifest(root: str, manifest: dict, settings: SampleSettings) -> None:
    """Preview for an existing sample: re-prepares the first stills it lists."""
    from keras_au.sample.preview import write_preview

    media = {}
    with open(manifest["media_manifest"], encoding="utf-8") as f:
        for rec in json.load(f)["files"]:
            if rec.get("path"):
                media[f"{rec['source']}/{rec['file']}"] = rec["path"]
    detector, stills, names = FaceDetector(), [], []
    for ident in manifest["identities"][:3]:
        path = media[ident["stills"][0]]
        stills.append(prepare_still(load_image(path), detector, path, settings.frame_size))
        names.append(ident["identity"])
    write_preview(os.path.join(root, PREVIEW), stills, names)
    manifest["preview"] = PREVIEW
    write_manifest(root, manifest)
