"""Flow targets as the model sees them: what is compared when TV-L1 runs at a lower resolution.

The input pipeline (``keras_au.data.input_pipeline``) decodes a stored target (a ``FLOW_SIZE`` grid
over the 200x200 aligned face, in its pixels), resizes it bilinearly to 200x200, crops the model
input (192 centred at test time) and resizes bilinearly to the flow head's grid (``input // 4`` =
48). ``model_view`` does the same with OpenCV, so two TV-L1 settings can be compared where it
matters: on the 48x48 targets the flow head is trained on.
"""

from __future__ import annotations

import numpy as np

from keras_au.data.schema import IMAGE_SIZE

MODEL_CROP = 192  # RTATL's input (paper preset)
MODEL_GRID = MODEL_CROP // 4  # its flow head's grid


def model_view(target: np.ndarray, crop: int = MODEL_CROP, grid: int = MODEL_GRID) -> np.ndarray:
    """(S, S, 2) stored target (200-px units) -> (grid, grid, 2) as the input pipeline feeds it (centre crop)."""
    import cv2

    full = cv2.resize(np.asarray(target, np.float32), (IMAGE_SIZE, IMAGE_SIZE), interpolation=cv2.INTER_LINEAR)
    o = (IMAGE_SIZE - crop) // 2
    return cv2.resize(full[o : o + crop, o : o + crop], (grid, grid), interpolation=cv2.INTER_LINEAR)


def epe(a: np.ndarray, b: np.ndarray) -> float:
    """Mean end-point error between two flow fields of the same shape, in their unit (px)."""
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    if a.shape != b.shape:
        raise ValueError(f"flow fields differ in shape: {a.shape} vs {b.shape}")
    return float(np.linalg.norm(a - b, axis=-1).mean())
