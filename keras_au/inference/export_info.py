"""``export.json``: what serving needs to know about an exported inference model.

The exported-model contract (written by ``keras-au export``):

* ``<dir>/model.keras``: inputs ``{"image": float32 (B, S, S, 3) RGB in [0, 255],
  "landmarks": float32 (B, 68, 2) in the same S-pixel frame}``, output AU probabilities (B, A).
* ``<dir>/export.json``: at least the model name, the AU list, the input size S and
  ``mean_landmarks`` (the mean aligned 68-point shape in the centre-cropped S frame).

Key names are read leniently (``input_size``/``crop_size``/``image_size``; AUs as numbers or
``"AU01"`` strings) so both model families' writers are accepted; anything missing that cannot be
derived raises a ``ValueError`` naming the key.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from keras_au.au import au_label
from keras_au.data.schema import IMAGE_SIZE, NUM_LANDMARKS

EXPORT_JSON = "export.json"
MODEL_FILE = "model.keras"
SIZE_KEYS = ("input_size", "crop_size", "image_size", "size")


def _au_number(value: Any) -> int:
    if isinstance(value, str):
        return int(value.upper().removeprefix("AU"))
    return int(value)


@dataclass(frozen=True)
class ExportInfo:
    """Parsed ``export.json`` of an exported model."""

    model: str
    aus: tuple[int, ...]
    input_size: int
    mean_landmarks: np.ndarray  # (68, 2) float32, centre-cropped S-pixel frame
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def au_names(self) -> list[str]:
        return [au_label(a) for a in self.aus]

    @property
    def crop_offset(self) -> int:
        """Pixels cut from each side of the 200x200 aligned face (same as the evaluation centre crop)."""
        return (IMAGE_SIZE - self.input_size) // 2

    @property
    def mean_landmarks_200(self) -> np.ndarray:
        """``mean_landmarks`` in the 200x200 aligned frame."""
        return (self.mean_landmarks + self.crop_offset).astype(np.float32)

    def to_dict(self) -> dict:
        out = dict(self.raw)
        out.update(model=self.model, aus=list(self.aus), input_size=self.input_size,
                   mean_landmarks=np.round(self.mean_landmarks, 3).tolist())
        return out

    @classmethod
    def from_dict(cls, d: dict, input_size: Optional[int] = None) -> "ExportInfo":
        missing = [k for k in ("aus", "mean_landmarks") if k not in d]
        if missing:
            raise ValueError(f"export.json lacks {', '.join(missing)}")
        size = next((d[k] for k in SIZE_KEYS if k in d), input_size)
        if isinstance(size, (list, tuple)):  # e.g. [192, 192]
            size = size[0]
        if size is None:
            raise ValueError(f"export.json names no input size (one of {', '.join(SIZE_KEYS)})")
        size = int(size)
        if not 0 < size <= IMAGE_SIZE:
            raise ValueError(f"input size {size} must be in 1..{IMAGE_SIZE} (a crop of the aligned face)")
        lm = np.asarray(d["mean_landmarks"], dtype=np.float32).reshape(-1, 2)
        if lm.shape != (NUM_LANDMARKS, 2) or not np.all(np.isfinite(lm)):
            raise ValueError(f"mean_landmarks must be {NUM_LANDMARKS} finite (x, y) pairs, got shape {lm.shape}")
        aus = tuple(_au_number(a) for a in d["aus"])
        if not aus:
            raise ValueError("export.json lists no AUs")
        return cls(model=str(d.get("model", "unknown")), aus=aus, input_size=size, mean_landmarks=lm, raw=dict(d))

    @classmethod
    def load(cls, path: str, input_size: Optional[int] = None) -> "ExportInfo":
        """Reads ``export.json`` from a file or a directory holding one."""
        if os.path.isdir(path):
            path = os.path.join(path, EXPORT_JSON)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path}: no export.json (is this a `keras-au export` directory?)")
        with open(path) as f:
            try:
                d = json.load(f)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}: not valid JSON ({e})") from e
        return cls.from_dict(d, input_size)

    def write(self, directory: str) -> str:
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, EXPORT_JSON)
        with open(path, "w") as f:
            json.dump(self.to_dict(), f, indent=2)
        return path
