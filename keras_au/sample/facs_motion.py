"""FACS motion model: how each AU moves the 68 landmarks and a few extra skin points.

Displacements are written for the image-left half of the face (the subject's right) in a
face frame: ``out`` = away from the face midline, ``up`` = towards the forehead, in units of
the eye-centre distance D, at intensity 5 (FACS level E). The other half is mirrored. Each AU
scales with ``motion_scale(intensity)`` (level A is a visible trace: ``VISIBILITY_FLOOR``) and active AUs add up. Only geometry moves here; creases
are shaded by ``facs_appearance`` and a dark mouth cavity is painted where lips part (``synth``).

Extra control points (after the 68 landmarks) carry skin the landmarks do not cover: a
forehead row above the brows (follows the brows half-way, so the forehead stretches instead of
the whole image moving), cheek and nasolabial points (moved by AU6/9/10/12/15), and a row
below the jaw line (follows the jaw half-way, so the neck absorbs a jaw drop).

This module combines the parts: ``motion`` sums the AUs' apex moves (``facs_au_moves``) scaled by
the FACS intensity scale (``facs_intensity``) on the control points (``facs_points``), lets the
forehead and neck follow, keeps lids and lips from crossing (``CLOSURE_MAX``) and reports the
intensity each AU shows after these limits. The names of those modules are importable from here too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

# Re-exported: the motion model's names stay importable from ``facs_motion``.
from keras_au.sample.facs_au_moves import AU_MOTION, CH, INTERACTIONS, MOTION_AUS, NL, Interaction, Move
from keras_au.sample.facs_intensity import (
    INTENSITY_KNOTS,
    SCALE_KNOTS,
    VISIBILITY_FLOOR,
    intensity_of_scale,
    motion_scale,
)
from keras_au.sample.facs_points import (
    BELOW_JAW,
    CHEEK,
    FOREHEAD,
    MIRROR,
    NASOLABIAL,
    NUM_CONTROL,
    NUM_LANDMARKS,
    SIDE,
    TEETH,
    TEETH_BELOW,
    TEETH_OFFSET_PX,
    FaceFrame,
    control_points,
    face_frame,
    tidy_landmarks,
)

__all__ = [  # this module's names, then the re-exported ones
    "FOREHEAD_FOLLOW", "BELOW_JAW_FOLLOW", "CLOSING_PAIRS", "CLOSURE_MAX", "RenderedMotion", "motion",
    "shape_displacement", "displacement", "moved_points",
    "AU_MOTION", "CH", "INTERACTIONS", "MOTION_AUS", "NL", "Interaction", "Move", "INTENSITY_KNOTS", "SCALE_KNOTS",
    "VISIBILITY_FLOOR", "intensity_of_scale", "motion_scale", "BELOW_JAW", "CHEEK", "FOREHEAD", "MIRROR",
    "NASOLABIAL", "NUM_CONTROL", "NUM_LANDMARKS", "SIDE", "TEETH", "TEETH_BELOW", "TEETH_OFFSET_PX", "FaceFrame",
    "control_points", "face_frame", "tidy_landmarks",
]

FOREHEAD_FOLLOW = 0.45  # share of the brow's motion the forehead point takes
BELOW_JAW_FOLLOW = 0.5  # share of the jaw's motion the point below it takes

# (upper, lower) contour points of an eye opening or a lip's red: they must not cross.
CLOSING_PAIRS = (
    (37, 41), (38, 40), (44, 46), (43, 47),  # upper lid / lower lid
    (50, 61), (51, 62), (52, 63),  # upper lip: outer / inner contour
    (67, 58), (66, 57), (65, 56),  # lower lip: inner / outer contour
)  # fmt: skip
CLOSURE_MAX = 0.7  # share of the neutral opening / lip height that motions may take away


@dataclass(frozen=True)
class RenderedMotion:
    """Pixel displacement of the control points and the intensity each AU shows after the limits.

    ``rendered`` maps each AU to the intensity (0-5) whose unlimited motion equals what is drawn: the border
    taper and the closure limit shrink motion, and labels must follow what is drawn, not what was asked for.
    """

    pixels: np.ndarray  # (NUM_CONTROL, 2)
    rendered: dict


def motion(landmarks: np.ndarray, intensities: Mapping[int, float], taper: np.ndarray | None = None
           ) -> RenderedMotion:
    """AU motion of the control points for intensities 0-5, weighted per point by ``taper`` (1 = full motion)."""
    f = face_frame(landmarks)
    k = {int(a): motion_scale(float(v)) for a, v in intensities.items()}
    unknown = sorted(a for a in k if a not in AU_MOTION)
    if unknown:
        raise ValueError(f"no motion model for AU(s) {unknown}; known: {list(MOTION_AUS)}")
    parts: dict[int, np.ndarray] = {}
    for au, scale in k.items():
        if scale > 0:
            parts[au] = np.zeros((NUM_CONTROL, 2), dtype=np.float64)
            _apply(parts[au], AU_MOTION[au], scale)
    for inter in INTERACTIONS:
        scale = k.get(inter.au, 0.0) * min(1.0, 2.0 * k.get(inter.gate, 0.0))
        if scale > 0:
            _apply(parts[inter.au], inter.moves, scale)
    out_up = sum(parts.values()) if parts else np.zeros((NUM_CONTROL, 2), dtype=np.float64)
    _skin_follows(out_up)
    for u, v in TEETH.items():
        # Teeth belong to the skull: they stay put unless a rising lower lip pushes them up or a
        # lowering upper lip pushes them down (the mesh cannot let a lip slide over them).
        lo, hi = out_up[TEETH_BELOW[u], 1], out_up[u, 1]
        out_up[v, 0] += out_up[TEETH_BELOW[u], 0]
        out_up[v, 1] += min(max(0.0, lo), hi) if lo <= hi else 0.5 * (lo + hi)
    shrink = _limit_closure(f, landmarks, out_up)
    weight = np.ones(NUM_CONTROL) if taper is None else np.asarray(taper, dtype=np.float64)
    rendered = {}
    for au, part in parts.items():
        drawn = part * weight[:, None]
        drawn[:, 1] *= shrink
        asked = float(np.abs(part).sum())
        share = float(np.abs(drawn).sum()) / asked if asked > 0 else 1.0
        rendered[au] = intensity_of_scale(k[au] * share)
    # out (away from the midline) -> face x: negative on the image-left half.
    out_up[:, 0] *= SIDE
    return RenderedMotion(f.to_image(out_up) * weight[:, None], rendered)


def shape_displacement(landmarks: np.ndarray, moves: Sequence[Move]) -> np.ndarray:
    """(NUM_CONTROL, 2) pixel displacement of a resting-shape change given as image-left ``moves`` (mirrored,
    forehead and neck following as they do for AU motion)."""
    f = face_frame(landmarks)
    out_up = np.zeros((NUM_CONTROL, 2), dtype=np.float64)
    _apply(out_up, moves, 1.0)
    _skin_follows(out_up)
    out_up[:, 0] *= SIDE
    return f.to_image(out_up)


def displacement(landmarks: np.ndarray, intensities: Mapping[int, float]) -> np.ndarray:
    """(NUM_CONTROL, 2) pixel displacement of the control points for AU intensities (0-5)."""
    return motion(landmarks, intensities).pixels


def moved_points(landmarks: np.ndarray, intensities: Mapping[int, float]) -> np.ndarray:
    """Control points after the AU motion."""
    return control_points(landmarks) + displacement(landmarks, intensities)


def _skin_follows(out_up: np.ndarray) -> None:
    """The forehead and the skin below the jaw take a share of the brows' and the jaw's motion."""
    for b, v in FOREHEAD.items():
        out_up[v] += FOREHEAD_FOLLOW * out_up[b]
    for j, v in BELOW_JAW.items():
        out_up[v] += BELOW_JAW_FOLLOW * out_up[j]


def _limit_closure(f: FaceFrame, landmarks: np.ndarray, out_up: np.ndarray) -> np.ndarray:
    """Soft tissue saturates: when several AUs together would close an eye or thin a lip by more
    than CLOSURE_MAX of its neutral size, both contours' vertical motions are scaled back.
    Returns the factor applied to each point's vertical motion."""
    lm = np.asarray(landmarks, dtype=np.float64)
    factor = np.ones(len(out_up))
    for top, bottom in CLOSING_PAIRS:
        size = float((lm[bottom] - lm[top]) @ f.y_axis) / f.scale
        closure = out_up[bottom, 1] - out_up[top, 1]
        limit = CLOSURE_MAX * max(size, 0.0)
        if closure > limit:
            shrink = limit / closure
            out_up[top, 1] *= shrink
            out_up[bottom, 1] *= shrink
            factor[top] *= shrink
            factor[bottom] *= shrink
    return factor


def _apply(out_up: np.ndarray, moves: Sequence[Move], scale: float) -> None:
    for move in moves:
        for p in move.points:
            q = int(MIRROR[p])
            out_up[p] += scale * np.array([move.out, move.up])
            if q != p:
                out_up[q] += scale * np.array([move.out, move.up])
