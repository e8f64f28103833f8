"""FACS appearance changes: the creases (wrinkles, furrows) that come with an AU.

Shape alone says little about a single frame of an unseen person: whether a brow is raised
depends on where that person's brow rests. FACS coders read the appearance changes as well
(forehead wrinkles for AU1/2, the glabellar furrow for AU4, crow's feet for AU6, a deepened
nasolabial furrow for AU10/12, dimples for AU14, chin-boss wrinkles for AU17 ...), and those
are identity-independent cues, so the sample paints them: each crease is a soft dark groove
with a faint highlight above it, anchored to the moved landmarks (it travels with the skin),
its opacity growing with the AU's intensity as its motion does (``facs_motion.motion_scale``). Creases are written for the image-left half of
the face in the face frame of ``facs_motion`` (``out`` = away from the midline, ``up`` =
towards the forehead, in eye-centre distances D) and mirrored to the other half.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from keras_au.geometry.alignment import transform_points
from keras_au.sample.facs_motion import MIRROR, NUM_LANDMARKS, face_frame, motion_scale

GROOVE_WIDTH = 0.04  # groove stroke width (D)
GROOVE_BLUR = 0.03  # Gaussian sigma of the groove (D)
HIGHLIGHT_SHIFT = 0.035  # highlight drawn this far above the groove (D)
HIGHLIGHT_GAIN = 0.45  # highlight brightening relative to the groove's darkening


@dataclass(frozen=True)
class Crease:
    """A polyline of (anchor landmarks, out, up) points on the image-left half; ``depth`` is the
    share of brightness the groove takes at intensity 5."""

    points: tuple[tuple[tuple[int, ...], float, float], ...]
    depth: float


def _c(depth: float, *points) -> Crease:
    pts = tuple((p[0] if isinstance(p[0], tuple) else (p[0],), float(p[1]), float(p[2])) for p in points)
    return Crease(pts, float(depth))


MID_BROW = (21, 22)  # glabella: its mirror is itself, so mirrored creases meet at the midline

CREASES: Mapping[int, tuple[Crease, ...]] = {
    # Inner brow raiser: horizontal wrinkles in the middle of the forehead.
    1: (_c(0.30, (MID_BROW, 0, 0.25), (21, 0, 0.25), (20, 0, 0.22)),
        _c(0.25, (MID_BROW, 0, 0.37), (21, 0, 0.36), (20, 0, 0.32))),
    # Outer brow raiser: wrinkles above the lateral brows, arched like them.
    2: (_c(0.30, (20, 0, 0.26), (19, 0, 0.27), (18, 0, 0.24), (17, 0.02, 0.18)),
        _c(0.22, (19, 0, 0.38), (18, 0, 0.35), (17, 0.01, 0.29))),
    # Brow lowerer: vertical furrows between the brows.
    4: (_c(0.32, (21, -0.05, 0.12), (21, -0.06, 0.0), (21, -0.05, -0.10)),),
    # Cheek raiser: crow's feet at the outer eye corner and the furrow under the lower lid.
    6: (_c(0.30, (36, 0.06, 0.03), (36, 0.17, 0.08)),
        _c(0.30, (36, 0.07, -0.01), (36, 0.19, -0.02)),
        _c(0.30, (36, 0.06, -0.05), (36, 0.16, -0.12)),
        _c(0.25, (36, 0.02, -0.10), (41, 0, -0.12), (40, 0, -0.11), (39, -0.02, -0.08))),
    # Lid tightener: a bulge line just under the lower lid.
    7: (_c(0.22, (41, 0, -0.06), (40, 0, -0.06)),),
    # Nose wrinkler: horizontal wrinkles across the nose root.
    9: (_c(0.35, (27, 0, -0.02), (27, 0.10, 0.0)), _c(0.30, (28, 0, 0.0), (28, 0.11, 0.02))),
    # Upper lip raiser: the upper nasolabial furrow deepens beside the nose wing.
    10: (_c(0.35, (31, 0.06, 0.04), (31, 0.11, -0.04), (48, 0.08, 0.08)),),
    # Lip corner puller: the nasolabial furrow deepens down past the mouth corner.
    12: (_c(0.40, (31, 0.08, 0.05), (48, 0.11, 0.14), (48, 0.14, -0.02), (48, 0.11, -0.12)),),
    # Dimpler: the dimple, a short curved pit right beside the tightened corner (AU12's furrow runs further out,
    # from the nose wing down past the corner).
    14: (_c(0.45, (48, 0.03, 0.035), (48, 0.045, 0.0), (48, 0.035, -0.035)),),
    # Lip corner depressor: a line running down from the mouth corner.
    15: (_c(0.35, (48, 0.02, -0.04), (48, 0.05, -0.12), (48, 0.06, -0.20)),),
    # Chin raiser: the mentolabial furrow deepens, the chin boss wrinkles.
    17: (_c(0.35, (57, 0, -0.08), (58, 0.03, -0.07), (59, 0.04, -0.05)),
         _c(0.20, (8, 0.04, 0.14), (8, 0.09, 0.10))),
    # Lip tightener: fine vertical lines over the upper lip.
    23: (_c(0.22, (50, 0, 0.03), (50, 0, 0.10)), _c(0.22, (49, 0, 0.03), (49, 0.01, 0.09))),
    # Lip pressor: the skin bulges above the upper lip and below the lower lip.
    24: (_c(0.25, (51, 0, 0.09), (50, 0, 0.08), (49, 0.02, 0.06)),
         _c(0.22, (57, 0, -0.06), (58, 0.02, -0.05))),
}


def crease_polylines(
    neutral: np.ndarray, moved: np.ndarray, intensities: Mapping[int, float]
) -> list[tuple[np.ndarray, float]]:
    """(points (N, 2) in image pixels, opacity) of every visible crease, both halves.

    ``neutral`` gives the face frame (so creases do not tilt with the motion); ``moved`` holds the
    68 landmarks after the AU motion, which anchor the creases."""
    f = face_frame(np.asarray(neutral, np.float64)[:NUM_LANDMARKS])
    lm = np.asarray(moved, np.float64)[:NUM_LANDMARKS]
    up = -f.y_axis * f.scale
    out: list[tuple[np.ndarray, float]] = []
    for au, creases in CREASES.items():
        k = motion_scale(float(intensities.get(au, 0.0)))
        if k <= 0:
            continue
        for crease in creases:
            for side in (-1.0, 1.0):  # image-left: out = -x; image-right: mirrored anchors, out = +x
                pts = [lm[[a if side < 0 else int(MIRROR[a]) for a in anchor]].mean(0)
                       + side * o * f.scale * f.x_axis + u * up for anchor, o, u in crease.points]
                out.append((np.asarray(pts), crease.depth * k))
    return out


def paint_creases(
    frame: np.ndarray, neutral: np.ndarray, moved: np.ndarray, intensities: Mapping[int, float],
    out_m: np.ndarray,
) -> np.ndarray:
    """``frame`` with a darkened groove along each visible crease (and a thin lighter band above it);
    landmarks are in the frame before ``out_m``, the frame's 2x3 output transform (head motion)."""
    import cv2

    polylines = crease_polylines(neutral, moved, intensities)
    if not polylines:
        return frame
    f = face_frame(np.asarray(neutral, np.float64)[:NUM_LANDMARKS])
    scale, up_axis = f.scale, -f.y_axis
    h, w = frame.shape[:2]
    groove = np.zeros((h, w), np.float32)
    light = np.zeros((h, w), np.float32)
    width = max(1, int(round(GROOVE_WIDTH * scale)))
    shift = HIGHLIGHT_SHIFT * scale * np.asarray(up_axis, np.float64)
    for pts, alpha in polylines:
        for canvas, offset in ((groove, 0.0), (light, shift)):
            p = np.round(transform_points(pts + offset, out_m) * 16).astype(np.int32)
            cv2.polylines(canvas, [p], False, float(alpha), width, lineType=cv2.LINE_AA, shift=4)
    sigma = max(0.5, GROOVE_BLUR * scale)
    groove = cv2.GaussianBlur(groove, (0, 0), sigma)
    light = cv2.GaussianBlur(light, (0, 0), sigma) * HIGHLIGHT_GAIN
    img = frame.astype(np.float32)
    img = img * (1.0 - np.clip(groove, 0, 0.9))[:, :, None]
    img = img + (255.0 - img) * np.clip(light, 0, 0.5)[:, :, None]
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)
