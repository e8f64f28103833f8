"""Person-specific calibration of AU scores: each person's per-AU offset removed in logit space.

A detector trained on few people learns AU cues *and* a per-identity bias: on the embedded sample Backbone^T
ranks one held-out person's frames almost perfectly (within-person AU01 AUC 0.89-0.96 for 5 of 6 people) while
its mean AU01 score ranges from 0.02 to 0.81 between people, so the pooled AUC is 0.67 (docs/rtatl.md).
OpenFace's video mode removes this by person-specific normalisation (Baltrusaitis et al., FG 2015): most
frames of a person show no given AU, so the person's median score is their neutral level. Here every group's
(person's, or video's) per-AU median logit is moved to the median over all groups' medians, which keeps the
scores on the population's scale (so a 0.5 threshold still means what it meant) and only removes offsets.
For one person's video the population is given as a ``reference`` (the median logit over many people's
faces, e.g. a held-out fold's): with itself as the population a single track would not move.
Needs many frames per person; meaningless for single photos.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

EPS = 1e-6


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, np.float64), EPS, 1.0 - EPS)
    return np.log(p) - np.log1p(-p)


def person_calibrate(probs: np.ndarray, groups: Sequence, min_frames: int = 2,
                     reference: Optional[np.ndarray] = None) -> np.ndarray:
    """(N, A) probabilities -> calibrated probabilities; ``groups`` names each row's person (or video).
    Groups with fewer than ``min_frames`` rows keep their scores (a median of one frame is that frame).

    Each group's median logit is moved to ``reference`` (A,): the median logit of a population of people,
    e.g. ``reference_logits`` of held-out faces. Without it the target is the median over the groups given,
    which leaves a single person's video unchanged (one person is their own population)."""
    z = logit(probs)
    groups = np.asarray([str(g) for g in groups])
    if len(groups) != len(z):
        raise ValueError(f"{len(groups)} group names for {len(z)} score rows")
    names, index = np.unique(groups, return_inverse=True)
    medians = np.stack([np.median(z[index == i], axis=0) for i in range(len(names))])
    counts = np.bincount(index, minlength=len(names))
    if reference is not None:
        target = np.asarray(reference, np.float64).reshape(-1)
        if target.shape != (z.shape[1],):
            raise ValueError(f"reference has {target.size} values for {z.shape[1]} AUs")
    else:
        target = np.median(medians[counts >= min_frames], axis=0) if np.any(counts >= min_frames) else 0.0
    shift = np.where((counts >= min_frames)[:, None], medians - target, 0.0)
    return (1.0 / (1.0 + np.exp(-(z - shift[index])))).astype(np.float32)


def reference_logits(probs: np.ndarray) -> np.ndarray:
    """(N, A) probabilities of many people's faces -> (A,) median logit: the population ``reference``."""
    probs = np.asarray(probs, np.float64)
    if probs.ndim != 2 or not len(probs):
        raise ValueError(f"reference needs (N, A) probabilities of N > 0 faces, got shape {probs.shape}")
    return np.median(logit(probs), axis=0)


def calibrate_dataframe(df, au_names: Sequence[str], by: Sequence[str] = ("source", "face_id"),
                        threshold: float = 0.5, min_frames: int = 30, reference: Optional[np.ndarray] = None):
    """A ``Detector.predict`` frame with ``AUxx_p``/``AUxx_c`` person-calibrated per face track (``by``); rows
    without a face, and tracks shorter than ``min_frames`` (photos, short clips), keep their scores.
    ``reference``: see ``person_calibrate``."""
    out = df.copy()
    ok = (out["success"] == 1).to_numpy()
    if not ok.any():
        return out
    cols = [f"{a}_p" for a in au_names]
    keys = out.loc[ok, list(by)].astype(str).agg("/".join, axis=1).to_numpy()
    probs = out.loc[ok, cols].to_numpy(np.float64)
    cal = person_calibrate(probs, keys, min_frames=min_frames, reference=reference)
    out.loc[ok, cols] = cal.astype(np.float64)
    for a, c in zip(au_names, cal.T):
        out.loc[ok, f"{a}_c"] = (c >= threshold).astype(int)
    return out
