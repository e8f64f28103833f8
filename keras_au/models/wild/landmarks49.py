"""The 49-point landmark set (68-point iBUG order without the 17 contour points and inner-mouth corners 60, 64).

49-point index i is 68-point index i + 17 for i < 43, then 43..48 -> 61, 62, 63, 65, 66, 67 (REFERENCE.md).
Eyes in the 49 set: 19..24 (68-pt 36..41) and 25..30 (68-pt 42..47).
"""

from __future__ import annotations

import numpy as np
from keras import ops

INDEX_68 = np.array([i + 17 for i in range(43)] + [61, 62, 63, 65, 66, 67], dtype=np.int32)
LEFT_EYE = np.arange(19, 25)
RIGHT_EYE = np.arange(25, 31)


def to_49(landmarks68):
    """(..., 68, 2) -> (..., 49, 2); works on NumPy arrays and tensors."""
    if isinstance(landmarks68, np.ndarray):
        return landmarks68[..., INDEX_68, :]
    return ops.take(landmarks68, INDEX_68, axis=-2)


def inter_ocular(landmarks49):
    """Distance between the two eye centres (mean of each eye's 6 points), shape (...,)."""
    left = ops.mean(ops.take(landmarks49, LEFT_EYE, axis=-2), axis=-2)
    right = ops.mean(ops.take(landmarks49, RIGHT_EYE, axis=-2), axis=-2)
    return ops.sqrt(ops.sum(ops.square(left - right), axis=-1))


def targets49(landmarks68, crop_size: int):
    """Batch landmarks from the input pipeline (B, 68, 2) in crop pixels -> (B, 49, 2) in crop units."""
    return to_49(ops.cast(landmarks68, "float32")) / float(crop_size)


# ADLD's AU-centre refinement of the heat-map targets: (49-point indices, y shift in units of r), where
# r = |x22 - x25| is the inner-eye-corner distance (68-pt 39, 42). Pairs are the AU centres of
# REFERENCE.md: AU1 (4, 5), AU2 (1, 8), AU4 (2, 7), AU6 (24, 29), AU9 (15, 17), AU17 (39, 41).
AU_CENTRE_SHIFTS = (((4, 5), -1 / 2), ((1, 8), -1 / 3), ((2, 7), 1 / 3), ((24, 29), 1.0), ((15, 17), -1 / 2),
                    ((39, 41), 1 / 2))


def au_centre_shift() -> np.ndarray:
    """(49,) y shift of each point in units of r (0 for the 37 points that stay)."""
    shift = np.zeros(49, np.float32)
    for idx, k in AU_CENTRE_SHIFTS:
        shift[list(idx)] = k
    return shift


def au_centre_targets(landmarks49):
    """(..., 49, 2) -> the same with 12 points moved in y onto AU centres (ADLD's heat-map targets).

    Any unit (pixels or crop fractions): r is measured in the same unit. Only y moves: faces are aligned upright.
    """
    lm = ops.cast(landmarks49, "float32")
    r = ops.abs(lm[..., 22, 0] - lm[..., 25, 0])  # (...,)
    dy = ops.expand_dims(r, -1) * au_centre_shift()  # (..., 49)
    return ops.stack([lm[..., 0], lm[..., 1] + dy], axis=-1)
