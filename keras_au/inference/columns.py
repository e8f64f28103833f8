"""The ``predict`` CSV's columns (apart from ``inference.predict``, so readers of the CSV need no TensorFlow)."""

from __future__ import annotations

import os
from typing import Sequence

BASE_COLUMNS = ("frame", "timestamp", "face_id", "success", "confidence", "bbox_x0", "bbox_y0", "bbox_x1", "bbox_y1")
EXTRA_COLUMNS = ("source", "reason")


def columns(au_names: Sequence[str]) -> list[str]:
    return [*BASE_COLUMNS, *(f"{a}_p" for a in au_names), *(f"{a}_c" for a in au_names), *EXTRA_COLUMNS]


def calibrated_path(out_csv: str) -> str:
    """Where ``predict --calibrate`` writes the person-calibrated rows: ``<stem>_calibrated.csv`` beside the CSV."""
    stem, ext = os.path.splitext(out_csv)
    return f"{stem}_calibrated{ext or '.csv'}"
