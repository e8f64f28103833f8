"""AU centres from 68 dlib landmarks (JAA-Net convention, REFERENCE.md table).

Each AU has two centres, one per landmark of its pair, shifted only along y by a
multiple of r = |x39 - x42| (the inner eye-corner distance); the face is assumed
upright (aligned), so y is "down" in the given pixel frame.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

# AU -> (first landmark, second landmark, y shift in units of r)
AU_CENTER_TABLE: Mapping[int, tuple[int, int, float]] = {
    1: (21, 22, -1 / 2),
    2: (18, 25, -1 / 3),
    4: (19, 24, +1 / 3),
    6: (41, 46, +1.0),
    7: (38, 43, 0.0),
    9: (32, 34, -1 / 2),
    10: (61, 63, 0.0),
    12: (48, 54, 0.0),
    14: (48, 54, 0.0),
    15: (48, 54, 0.0),
    17: (56, 58, +1 / 2),
    23: (51, 57, 0.0),
    24: (51, 57, 0.0),
    25: (51, 57, 0.0),
    26: (56, 58, +1 / 2),
}


def au_centers(landmarks: np.ndarray, aus: Sequence[int]) -> np.ndarray:
    """Two centres per AU: float array (len(aus), 2, 2) of (x, y).

    ``landmarks`` is a (68, 2) array of x, y in any pixel frame; ``aus`` AU numbers
    from the table (1-26). The first centre comes from the first landmark of the pair.
    """
    pts = np.asarray(landmarks, dtype=np.float64)
    if pts.shape != (68, 2):
        raise ValueError(f"landmarks must have shape (68, 2), got {pts.shape}")
    if not np.all(np.isfinite(pts)):
        raise ValueError("landmarks contain NaN or inf")
    unknown = [a for a in aus if int(a) not in AU_CENTER_TABLE]
    if unknown:
        raise ValueError(f"no AU centre rule for AU(s) {unknown}; known: {sorted(AU_CENTER_TABLE)}")
    r = abs(pts[39, 0] - pts[42, 0])
    out = np.empty((len(aus), 2, 2), dtype=np.float64)
    for i, au in enumerate(aus):
        a, b, shift = AU_CENTER_TABLE[int(au)]
        out[i, 0] = pts[a]
        out[i, 1] = pts[b]
        out[i, :, 1] += shift * r
    return out
