"""Tiny BP4D / DISFA / folder layouts built from real faces (skimage's astronaut, matplotlib's Grace Hopper).

Sequences are the real face with a smooth local warp that moves the mouth region down a little
more in every frame (the rest of the face stays still), so TV-L1 must find flow at the mouth
and none on the forehead; "static" sequences repeat the same frame.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

MOUTH_STEP_PX = 0.5  # downward motion of the mouth centre per frame, source pixels


def _write_rgb(path: str, rgb: np.ndarray) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    assert cv2.imwrite(path, np.ascontiguousarray(rgb[:, :, ::-1]))
    return path


@pytest.fixture(scope="session")
def write_rgb():
    """``write_rgb(path, rgb)``: writes an RGB array with OpenCV, creating folders."""
    return _write_rgb


@pytest.fixture(scope="session")
def talking_frames(astronaut, detector):
    """``talking_frames(n, moving=True)`` -> n RGB frames of the astronaut, mouth moving down."""
    lm = detector.detect(astronaut).largest.landmarks
    cx, cy = lm[48:68].mean(0)
    sigma = 0.8 * float(np.ptp(lm[48:68, 0]))
    h, w = astronaut.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    bump = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma**2)).astype(np.float32)

    def make(n: int, moving: bool = True) -> list[np.ndarray]:
        step = MOUTH_STEP_PX if moving else 0.0
        return [
            cv2.remap(astronaut, xx, yy - i * step * bump, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
            for i in range(n)
        ]

    make.mouth = (float(cx), float(cy))
    return make


@pytest.fixture(scope="session")
def bp4d_layout(talking_frames):
    """``bp4d_layout(root, {"F001": (n, moving, first_frame)}, labels={"F001": rows})`` -> root.

    ``rows`` are CSV lines after the header ``0,1,2,4,6,7,10,12,14,15,17,23,24,27``.
    """

    def make(root, sequences: dict, labels: dict | None = None, prefix: str = "") -> str:
        root = str(root)
        for subject, (n, moving, first) in sequences.items():
            for i, frame in enumerate(talking_frames(n, moving)):
                _write_rgb(os.path.join(root, prefix, subject, "T1", f"{first + i:04d}.jpg"), frame)
        occ = os.path.join(root, "AUCoding", "AU_OCC")
        os.makedirs(occ, exist_ok=True)
        for subject, rows in (labels or {}).items():
            with open(os.path.join(occ, f"{subject}_T1.csv"), "w") as f:
                f.write("0,1,2,4,6,7,10,12,14,15,17,23,24,27\n" + "".join(r + "\n" for r in rows))
        return root

    return make


@pytest.fixture(scope="session")
def disfa_layout(talking_frames):
    """``disfa_layout(root, {"SN001": n_frames}, labels={"SN001": {au: [(frame, intensity), ...]}})`` -> root."""

    def make(root, videos: dict, labels: dict | None = None) -> str:
        root = Path(root)
        vdir = root / "Videos_LeftCamera"
        vdir.mkdir(parents=True, exist_ok=True)
        for subject, n in videos.items():
            frames = talking_frames(n)
            h, w = frames[0].shape[:2]
            path = str(vdir / f"LeftVideo{subject}_comp.avi")
            writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), 20, (w, h))
            assert writer.isOpened()
            for f in frames:
                writer.write(np.ascontiguousarray(f[:, :, ::-1]))
            writer.release()
        for subject, per_au in (labels or {}).items():
            ldir = root / "ActionUnit_Labels" / subject
            ldir.mkdir(parents=True, exist_ok=True)
            for au, rows in per_au.items():
                (ldir / f"{subject}_au{au}.txt").write_text("".join(f"{fr},{v}\n" for fr, v in rows))
        return str(root)

    return make
