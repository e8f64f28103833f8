"""FACS intensity scale: how much of an AU's apex motion a continuous intensity 0-5 shows.

Level A is a visible trace, not a tenth of the apex: ``VISIBILITY_FLOOR`` is the share of the apex
shown where a frame is first labeled A. ``motion_scale`` maps intensity to that share (it also sets
crease depth, ``facs_appearance``); ``intensity_of_scale`` is its inverse, used to label what is drawn.
"""

from __future__ import annotations

import numpy as np

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
