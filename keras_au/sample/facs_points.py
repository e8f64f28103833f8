"""FACS control points: the 68 dlib landmarks, the extra skin points and the face's own frame.

``control_points`` gives the 68 landmarks followed by extra points that carry skin the landmarks do
not cover: a forehead row above the brows, cheek and nasolabial points, a row below the jaw line and
the lower edge of what shows between the lips (teeth). ``MIRROR``/``SIDE`` pair each point with its
mirror image (image-left <-> image-right), so motion written for one half applies to both.
``face_frame`` gives the eye-centre distance D and the face's axes, the units and directions the AU
motion (``facs_au_moves``, ``facs_motion``) is written in; ``tidy_landmarks`` closes crossed inner lips.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NUM_LANDMARKS = 68

# Mirror index of each of the 68 dlib landmarks (image-left <-> image-right).
_MIRROR68 = np.array(
    list(range(16, -1, -1))  # jaw
    + list(range(26, 16, -1))  # brows
    + [27, 28, 29, 30]  # nose bridge
    + [35, 34, 33, 32, 31]  # nostrils
    + [45, 44, 43, 42, 47, 46]  # image-left eye -> image-right eye
    + [39, 38, 37, 36, 41, 40]
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55]  # outer lips
    + [64, 63, 62, 61, 60, 67, 66, 65]  # inner lips
)
_CENTRE68 = {8, 27, 28, 29, 30, 33, 51, 57, 62, 66}
_LEFT68 = set(range(0, 8)) | set(range(17, 22)) | {31, 32} | set(range(36, 42)) | {48, 49, 50, 58, 59, 60, 61, 67}

# Extra control points: 68..77 forehead above brow points 17..26, 78/79 cheek (left/right),
# 80/81 nasolabial (left/right), 82..90 below jaw points 4..12, 91..93 the lower edge of what
# shows between the lips in the photo (teeth): fixed, unless the upper lip 61..63 pushes them down.
FOREHEAD = {b: 68 + (b - 17) for b in range(17, 27)}
CHEEK = (78, 79)
NASOLABIAL = (80, 81)
BELOW_JAW = {j: 82 + (j - 4) for j in range(4, 13)}
TEETH = {61: 91, 62: 92, 63: 93}  # upper inner lip point -> point above the lower inner lip
TEETH_BELOW = {61: 67, 62: 66, 63: 65}
NUM_CONTROL = 94
TEETH_OFFSET_PX = 2.0  # above the mesh's 1.5 px minimum spacing, so an open mouth keeps them


def _mirror_table() -> tuple[np.ndarray, np.ndarray]:
    mirror = np.empty(NUM_CONTROL, dtype=np.int64)
    side = np.zeros(NUM_CONTROL, dtype=np.float64)  # -1 image-left, +1 image-right, 0 centre
    mirror[:NUM_LANDMARKS] = _MIRROR68
    for i in range(NUM_LANDMARKS):
        side[i] = 0.0 if i in _CENTRE68 else (-1.0 if i in _LEFT68 else 1.0)
    for b, v in FOREHEAD.items():
        mirror[v] = FOREHEAD[int(_MIRROR68[b])]
        side[v] = side[b]
    for j, v in BELOW_JAW.items():
        mirror[v] = BELOW_JAW[int(_MIRROR68[j])]
        side[v] = side[j]
    for u, v in TEETH.items():
        mirror[v] = TEETH[int(_MIRROR68[u])]
        side[v] = side[u]
    for pair in (CHEEK, NASOLABIAL):
        mirror[pair[0]], mirror[pair[1]] = pair[1], pair[0]
        side[pair[0]], side[pair[1]] = -1.0, 1.0
    return mirror, side


MIRROR, SIDE = _mirror_table()


@dataclass(frozen=True)
class FaceFrame:
    """Eye-centre distance and the face's axes in the image (x: towards image-right eye, y: down)."""

    scale: float
    x_axis: np.ndarray
    y_axis: np.ndarray

    def to_image(self, out_up: np.ndarray) -> np.ndarray:
        """(N, 2) face-frame (x, up) vectors in D -> image pixel vectors."""
        v = np.asarray(out_up, dtype=np.float64)
        return self.scale * (v[:, :1] * self.x_axis + (-v[:, 1:2]) * self.y_axis)


def face_frame(landmarks: np.ndarray) -> FaceFrame:
    lm = _check(landmarks)
    left, right = lm[36:42].mean(0), lm[42:48].mean(0)
    v = right - left
    d = float(np.hypot(*v))
    if d < 1e-6:
        raise ValueError("degenerate landmarks: the eye centres coincide")
    x = v / d
    return FaceFrame(scale=d, x_axis=x, y_axis=np.array([-x[1], x[0]]))


def tidy_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """Landmarks with crossed inner lips closed: on a closed mouth dlib sometimes puts the lower
    inner lip above the upper one; both then go to their midpoint, so parting the lips opens
    the mouth instead of folding it."""
    lm = _check(landmarks).copy()
    f = face_frame(lm)
    for upper, lower in ((61, 67), (62, 66), (63, 65)):
        if float((lm[lower] - lm[upper]) @ f.y_axis) < 0:
            lm[upper] = lm[lower] = 0.5 * (lm[upper] + lm[lower])
    return lm


def control_points(landmarks: np.ndarray) -> np.ndarray:
    """(NUM_CONTROL, 2): the 68 landmarks followed by the extra skin points, in image pixels."""
    lm = _check(landmarks)
    f = face_frame(lm)
    up, x = -f.y_axis * f.scale, f.x_axis * f.scale
    pts = np.zeros((NUM_CONTROL, 2), dtype=np.float64)
    pts[:NUM_LANDMARKS] = lm
    for b, v in FOREHEAD.items():
        pts[v] = lm[b] + 0.5 * up
    for k, (eye, corner, s) in enumerate((((40, 41), 48, -1.0), ((46, 47), 54, 1.0))):
        lid = lm[list(eye)].mean(0)
        pts[CHEEK[k]] = lid - 0.55 * up + s * 0.05 * x
        pts[NASOLABIAL[k]] = lm[corner] + s * 0.28 * x + 0.25 * up
    centre = lm[30]
    for j, v in BELOW_JAW.items():
        d = lm[j] - centre
        pts[v] = lm[j] + 0.35 * f.scale * d / max(float(np.hypot(*d)), 1e-6)
    for u, v in TEETH.items():
        lower, upper = lm[TEETH_BELOW[u]], lm[u]
        gap = upper - lower
        n = float(np.hypot(*gap))
        # Just above the lower inner lip; on a closed mouth it coincides with it (and the mesh drops it).
        pts[v] = lower + gap * min(1.0, TEETH_OFFSET_PX / n) if n > 1e-6 else lower
    return pts


def _check(landmarks: np.ndarray) -> np.ndarray:
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape != (NUM_LANDMARKS, 2):
        raise ValueError(f"landmarks must have shape (68, 2), got {lm.shape}")
    if not np.all(np.isfinite(lm)):
        raise ValueError("landmarks contain NaN or inf")
    return lm
