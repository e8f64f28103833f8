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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

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

FOREHEAD_FOLLOW = 0.45  # share of the brow's motion the forehead point takes
BELOW_JAW_FOLLOW = 0.5  # share of the jaw's motion the point below it takes
TEETH_OFFSET_PX = 2.0  # above the mesh's 1.5 px minimum spacing, so an open mouth keeps them
# (upper, lower) contour points of an eye opening or a lip's red: they must not cross.
CLOSING_PAIRS = (
    (37, 41), (38, 40), (44, 46), (43, 47),  # upper lid / lower lid
    (50, 61), (51, 62), (52, 63),  # upper lip: outer / inner contour
    (67, 58), (66, 57), (65, 56),  # lower lip: inner / outer contour
)  # fmt: skip
CLOSURE_MAX = 0.7  # share of the neutral opening / lip height that motions may take away


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
class Move:
    """Points of the image-left half (mirrored automatically) and their (out, up) shift in D."""

    points: tuple[int, ...]
    out: float
    up: float


def _m(points, out, up) -> Move:
    return Move(tuple(points) if not isinstance(points, int) else (points,), float(out), float(up))


CH, NL = CHEEK[0], NASOLABIAL[0]

# Apex (intensity 5) motion per AU. Numbers are in eye-centre distances (D ~ 6 cm on an adult,
# so 0.1 D ~ 6 mm); chosen from FACS descriptions and checked visually on the preview sheet.
AU_MOTION: Mapping[int, tuple[Move, ...]] = {
    # Inner brow raiser: inner brow corners up (brows become oblique). Apex 0.14 D ~ 8.8 mm, inside the measured
    # maximum voluntary brow raise of 7.6-10.6 mm (Cruz & Cruz 2004; Vicon study), not above it.
    1: (_m(21, -0.01, 0.14), _m(20, 0, 0.105), _m(19, 0, 0.055), _m(18, 0, 0.02)),
    # Outer brow raiser: lateral brows up (arched); apex 0.13 D ~ 8.2 mm (same measurements).
    2: (_m(17, 0.01, 0.13), _m(18, 0, 0.125), _m(19, 0, 0.08), _m(20, 0, 0.03), _m(37, 0, 0.01)),
    # Brow lowerer: brows down and drawn together, upper lids pressed down a little.
    4: (
        _m(21, -0.09, -0.11),
        _m(20, -0.06, -0.10),
        _m(19, -0.03, -0.07),
        _m(18, -0.01, -0.04),
        _m(17, 0, -0.02),
        _m((37, 38), 0, -0.025),
    ),
    # Cheek raiser: cheeks lifted, lower lids pushed up, lateral brow pulled down slightly.
    6: (
        _m(CH, 0, 0.08),
        _m(NL, 0.0, 0.05),
        _m((40, 41), 0, 0.045),
        _m(36, 0, 0.015),
        _m(17, 0, -0.02),
        _m(18, 0, -0.01),
    ),
    # Lid tightener: lower lid raised and straightened, upper lid slightly lowered.
    7: (_m((40, 41), 0, 0.06), _m(39, 0, 0.01), _m((37, 38), 0, -0.025)),
    # Nose wrinkler: nose wings and upper lip pulled up, inner brows pulled down.
    9: (
        _m(31, 0.015, 0.08),
        _m(32, 0, 0.07),
        _m(33, 0, 0.06),
        _m(30, 0, 0.03),
        _m(29, 0, 0.015),
        _m(49, 0, 0.05),
        _m((50, 51), 0, 0.06),
        _m((61, 62), 0, 0.045),
        _m(48, 0, 0.02),
        _m(21, -0.01, -0.05),
        _m(20, 0, -0.03),
        _m(NL, 0, 0.04),
        _m((40, 41), 0, 0.02),
    ),
    # Upper lip raiser: upper lip lifted (centre most), lips part above, nose wings up a bit.
    10: (
        _m(50, 0, 0.09),
        _m(51, 0, 0.08),
        _m(49, 0, 0.07),
        _m((61, 62), 0, 0.08),
        _m(48, 0, 0.03),
        _m(60, 0, 0.04),
        _m(31, 0.01, 0.03),
        _m(32, 0, 0.02),
        _m(NL, 0, 0.03),
    ),
    # Lip corner puller: corners up and out along the zygomatic line, cheeks bulge up.
    12: (
        _m(48, 0.11, 0.10),
        _m(60, 0.09, 0.08),
        _m(49, 0.05, 0.05),
        _m(59, 0.05, 0.06),
        _m(61, 0.03, 0.03),
        _m(67, 0.03, 0.04),
        _m(50, 0.015, 0.02),
        _m(58, 0.015, 0.025),
        _m(NL, 0.03, 0.05),
        _m(CH, 0, 0.03),
    ),
    # Dimpler (buccinator): the corners tighten and are drawn inward/back into the cheek, with no lift: in a
    # frontal view they move slightly towards the midline and the lips narrow at the corners; the dimple beside
    # the corner is a crease (facs_appearance). AU12 pulls the same corners out and up: opposite directions.
    14: (
        _m(48, -0.03, 0.0),
        _m(60, -0.02, 0.0),
        _m(49, -0.01, -0.012),
        _m(59, -0.01, 0.012),
        _m(61, 0, -0.006),
        _m(67, 0, 0.006),
    ),
    # Lip corner depressor: corners pulled down (and a little out).
    15: (
        _m(48, 0.02, -0.10),
        _m(60, 0.015, -0.08),
        _m(59, 0.01, -0.05),
        _m(49, 0, -0.03),
        _m(67, 0, -0.03),
        _m(58, 0, -0.02),
        _m(NL, 0, -0.02),
    ),
    # Chin raiser: chin boss and lower lip pushed up; closed lips stay together.
    17: (
        _m(8, 0, 0.07),
        _m(7, 0, 0.065),
        _m(6, 0, 0.04),
        _m(5, 0, 0.015),
        _m(57, 0, 0.06),
        _m(58, 0, 0.055),
        _m(59, 0, 0.03),
        _m((66, 67), 0, 0.025),
        _m((61, 62), 0, 0.025),
        _m((50, 51), 0, 0.015),
        _m(48, 0, -0.015),
    ),
    # Lip tightener: the red of the lips narrows (up to about a third of its ~0.13 D height at apex) and the
    # mouth becomes slightly narrower.
    23: (
        _m((50, 51), 0, -0.035),
        _m(49, 0, -0.02),
        _m((57, 58), 0, 0.035),
        _m(59, 0, 0.02),
        _m(48, -0.03, 0),
        _m(60, -0.025, 0),
    ),
    # Lip pressor: lips pressed together (thinner), corners in a little, chin bulges.
    24: (
        _m((50, 51), 0, -0.03),
        _m(49, 0, -0.02),
        _m((57, 58), 0, 0.035),
        _m(59, 0, 0.02),
        _m(48, -0.015, 0),
        _m(60, -0.01, 0),
        _m(8, 0, 0.01),
    ),
    # Lips part: lower lip (inner and outer) down, upper inner lip up a little.
    25: (
        _m(66, 0, -0.09),
        _m(67, 0, -0.08),
        _m(57, 0, -0.09),
        _m(58, 0, -0.08),
        _m(59, 0, -0.045),
        _m((61, 62), 0, 0.02),
        _m(60, 0, -0.005),
        _m((7, 8), 0, -0.02),
        _m(6, 0, -0.01),
    ),
    # Jaw drop: mandible lowered; without AU25 the lips stay together and follow down.
    26: (
        _m(8, 0, -0.20),
        _m(7, 0, -0.19),
        _m(6, -0.005, -0.15),
        _m(5, -0.01, -0.10),
        _m(4, -0.01, -0.05),
        _m(3, 0, -0.015),
        _m(57, 0, -0.10),
        _m(58, 0, -0.095),
        _m(59, 0, -0.07),
        _m((66, 67), 0, -0.055),
        _m((61, 62), 0, -0.05),
        _m(60, 0, -0.045),
        _m(48, 0, -0.05),
        _m((50, 51), 0, -0.03),
        _m(49, 0, -0.025),
        _m(NL, 0, -0.04),
    ),
    # Blink (unlabeled in BP4D; people blink while they talk): upper lid down onto the lower one, which rises a
    # little; the closure limit keeps a sliver open (the mesh cannot fold the lid).
    45: (_m((37, 38), 0, -0.16), _m((36, 39), 0, -0.01), _m((40, 41), 0, 0.015)),
}


# FACS intensity -> share of the apex motion (and crease depth). FACS level A is the weakest *visible* trace,
# not a tenth of the apex: a frame is labeled A once its rounded intensity reaches 1 (continuous 0.5), so the
# motion there is already VISIBILITY_FLOOR of the apex. The bands widen from A to C/D and narrow again at E
# (the FACS manual's uneven A-E ranges). Knots: continuous intensity -> scale, piecewise linear.
VISIBILITY_FLOOR = 0.35
INTENSITY_KNOTS = (0.0, 0.5, 1.5, 2.5, 3.5, 4.5, 5.0)
SCALE_KNOTS = (0.0, VISIBILITY_FLOOR, 0.45, 0.6, 0.75, 0.92, 1.0)


def motion_scale(intensity) -> np.ndarray | float:
    """Share of the apex motion shown at a continuous FACS intensity 0-5 (monotone, 0 -> 0, 5 -> 1)."""
    out = np.interp(np.clip(intensity, 0.0, 5.0), INTENSITY_KNOTS, SCALE_KNOTS)
    return float(out) if np.ndim(out) == 0 else out


def intensity_of_scale(scale) -> np.ndarray | float:
    """Inverse of ``motion_scale``: the intensity whose motion a rendered share of the apex shows."""
    out = np.interp(np.clip(scale, 0.0, 1.0), SCALE_KNOTS, INTENSITY_KNOTS)
    return float(out) if np.ndim(out) == 0 else out


@dataclass(frozen=True)
class Interaction:
    """Extra motion of ``au`` gated by another AU: scale = k(au) * min(1, 2 * k(gate))."""

    au: int
    gate: int
    moves: tuple[Move, ...]


# With the lips parted (25), a dropping jaw (26) takes the lower lip with it: the mouth opens.
INTERACTIONS: tuple[Interaction, ...] = (
    Interaction(26, 25, (_m((66, 67, 57, 58), 0, -0.10), _m(59, 0, -0.07), _m(60, 0, -0.02))),
)

MOTION_AUS: tuple[int, ...] = tuple(sorted(AU_MOTION))


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


def _check(landmarks: np.ndarray) -> np.ndarray:
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape != (NUM_LANDMARKS, 2):
        raise ValueError(f"landmarks must have shape (68, 2), got {lm.shape}")
    if not np.all(np.isfinite(lm)):
        raise ValueError("landmarks contain NaN or inf")
    return lm
