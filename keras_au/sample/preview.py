"""Contact sheet of the synthetic AUs: rows = AUs, columns = neutral / apex per identity."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from keras_au.au import FACS_NAMES
from keras_au.sample.facs_motion import MOTION_AUS
from keras_au.sample.synth import PreparedStill

# Rows after the single AUs: common combinations (smile, surprise brows, open mouth).
COMBINATIONS: tuple[tuple[int, ...], ...] = ((6, 12), (1, 2), (25, 26))
TILE = 144
LABEL_WIDTH = 170


def face_tile(still: PreparedStill, frame: np.ndarray, tile: int = TILE) -> np.ndarray:
    """The face region of a rendered frame, at about its native resolution."""
    import cv2

    lm = still.frame_landmarks
    size = frame.shape[0]
    half = min(1.45 * still.eye_distance * still.to_frame[0, 0], size / 2)
    x0, y0 = (int(round(np.clip(c - half, 0, size - 2 * half))) for c in lm.mean(0))
    m = np.array([[1.0, 0.0, -x0], [0.0, 1.0, -y0]]) * (tile / (2 * half))
    return cv2.warpAffine(frame, m, (tile, tile), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)


def contact_sheet(stills: Sequence[PreparedStill], names: Sequence[str]) -> np.ndarray:
    """RGB uint8 sheet: one row per AU (apex = intensity 5) and per combination."""
    import cv2

    rows = [(f"AU{a}", FACS_NAMES.get(a, ""), (a,)) for a in MOTION_AUS]
    rows += [("+".join(f"AU{a}" for a in combo), "combination", combo) for combo in COMBINATIONS]
    header = np.full((28, LABEL_WIDTH + 2 * TILE * len(stills), 3), 255, np.uint8)
    for i, name in enumerate(names):
        x = LABEL_WIDTH + 2 * TILE * i + 4
        text = f"{name}: neutral | apex"
        cv2.putText(header, text, (x, 19), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    neutral = [face_tile(s, s.render({})) for s in stills]
    out = [header]
    for title, subtitle, aus in rows:
        label = np.full((TILE, LABEL_WIDTH, 3), 255, np.uint8)
        cv2.putText(label, title, (6, TILE // 2 - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
        cv2.putText(label, subtitle, (6, TILE // 2 + 18), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (60, 60, 60), 1, cv2.LINE_AA)
        tiles = [label]
        for s, n in zip(stills, neutral):
            tiles += [n, face_tile(s, s.render({a: 5.0 for a in aus}))]
        out.append(np.hstack(tiles))
    return np.vstack(out)


def write_preview(path: str, stills: Sequence[PreparedStill], names: Sequence[str]) -> str:
    import cv2

    sheet = contact_sheet(stills, names)
    if not cv2.imwrite(path, np.ascontiguousarray(sheet[:, :, ::-1])):
        raise OSError(f"cannot write {path}")
    return path
