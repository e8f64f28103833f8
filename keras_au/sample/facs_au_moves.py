"""FACS apex motion per AU: which landmarks and skin points each action unit moves, and how far.

``AU_MOTION`` lists, per AU, the displacements at intensity 5 (FACS level E) of points of the
image-left half (the subject's right) in the face frame of ``facs_points``: ``out`` = away from the
face midline, ``up`` = towards the forehead, in eye-centre distances D; the other half is mirrored.
``INTERACTIONS`` add motion of one AU gated by another (AU26 with AU25 opens the mouth).
``MOTION_AUS`` are the AUs that have a motion model. ``facs_motion`` turns these into pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from keras_au.sample.facs_points import CHEEK, NASOLABIAL


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
