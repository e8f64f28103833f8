"""Tiny raw datasets for the TFX pipeline tests: real faces in BP4D layout, one subject per fold part."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest

# One subject from each standard BP4D part (keras_au.datasets.folds), so every fold gets faces.
SUBJECTS = {"F001": "astronaut", "F003": "grace_hopper", "F007": "astronaut"}
FRAMES = 5  # flow pairs (t, t+3) exist for the first two frames of each sequence


def _photo(name: str) -> np.ndarray:
    import matplotlib
    from skimage import data

    from keras_au.geometry import load_image

    if name == "astronaut":
        img = data.astronaut()
    else:
        img = load_image(os.path.join(matplotlib.get_data_path(), "sample_data", "grace_hopper.jpg"))
    scale = 256 / max(img.shape[:2])  # small frames keep detection and TV-L1 quick
    return cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)


def write_tiny_bp4d(base: str, frames: int = FRAMES, seed: int = 0) -> str:
    """BP4D layout under ``<base>/BP4D`` (``<subject>/T1/<frame>.jpg`` + ``AUCoding/AU_OCC``), a slowly moving
    real face per subject; returns the BP4D root."""
    from keras_au.au import dataset_aus
    from keras_au.sample.layouts import BP4D_DIR, write_bp4d_sequence

    rng = np.random.default_rng(seed)
    aus = dataset_aus("bp4d")
    for subject, face in SUBJECTS.items():
        img = _photo(face)
        clip = [np.roll(img, shift=i, axis=1) for i in range(frames)]  # 1 px/frame: real, small flow
        occurrence = rng.integers(0, 2, size=(frames, len(aus)))
        occurrence[-1, rng.integers(0, len(aus))] = 9  # an unknown label
        write_bp4d_sequence(base, subject, "T1", clip, 1, aus, occurrence)
    return os.path.join(base, BP4D_DIR)


def write_tiny_unlabeled(root: str) -> str:
    """Folder layout: two real stills (no labels)."""
    os.makedirs(os.path.join(root, "images"), exist_ok=True)
    for name in ("astronaut", "grace_hopper"):
        cv2.imwrite(os.path.join(root, "images", f"{name}.jpg"), _photo(name)[:, :, ::-1])
    return root


@pytest.fixture(scope="session")
def tiny_raw(tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("tiny_raw")
    return {"bp4d": write_tiny_bp4d(str(base)), "unlabeled": write_tiny_unlabeled(str(base / "unlabeled"))}
