"""Clip writing: renders a planned clip frame by frame and writes it in the BP4D or DISFA layout.

``write_clip`` renders the clip's AU schedule on its still (labels follow the rendered intensity,
``PreparedStill.render_labeled``), marks a few BP4D labels unknown as BP4D has, labels the AUs a base
photo already shows (unknown in BP4D, at least the still's level in DISFA) and returns the clip's
manifest entry. ``copy_unlabeled`` copies the real photos and videos in, unlabeled.
"""

from __future__ import annotations

import os

import numpy as np

from keras_au.au import dataset_aus
from keras_au.sample import layouts, schedule
from keras_au.sample.catalog import base_au_level
from keras_au.sample.fetch import MediaSet
from keras_au.sample.planning import Clip, base_au_columns
from keras_au.sample.settings import SampleSettings
from keras_au.sample.synth import PreparedStill, jitter_track


def _render_clip(still: PreparedStill, clip: Clip, aus) -> tuple[list[np.ndarray], np.ndarray]:
    """Frames and the rendered intensity of each of ``aus`` per frame (what the labels follow)."""
    motion_aus = sorted({int(a) for a in aus} | {e.au for e in clip.extra})
    track = schedule.intensity_track(clip.events + clip.extra, clip.num_frames, motion_aus)
    frames, shown = [], np.zeros((clip.num_frames, len(aus)))
    for t, jitter in enumerate(jitter_track(clip.rng, clip.num_frames)):
        frame, rendered = still.render_labeled({a: float(v) for a, v in zip(motion_aus, track[t]) if v > 0}, jitter)
        frames.append(frame)
        shown[t] = [rendered.get(int(a), 0.0) for a in aus]
    return frames, shown


def write_clip(root: str, clip: Clip, settings: SampleSettings) -> dict:
    """Renders ``clip``, writes its frames and labels under ``root`` and returns its manifest entry."""
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
        base = base_au_columns(file, aus) if settings.base_au_labels == "unknown" else []
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


def copy_unlabeled(root: str, media: MediaSet) -> tuple[list[str], list[str]]:
    """Copies the media's photos and videos to ``root`` unlabeled; their paths relative to ``root``."""
    images = [(f"{f['source']}__{f['file']}", f["path"]) for f in media.used() if f["role"] != "video"]
    videos = [(f["file"], f["path"]) for f in media.used("video")]
    imgs, vids = layouts.copy_unlabeled(root, sorted(images), sorted(videos))
    return [os.path.relpath(p, root) for p in imgs], [os.path.relpath(p, root) for p in vids]
