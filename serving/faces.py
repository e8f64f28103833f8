"""Aligned faces for TFLite calibration/parity and benchmarks when no TFRecords are at hand."""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from keras_au.geometry import FaceDetector, align_face, load_image
from keras_au.inference.media import IMAGE_EXTENSIONS, expand_inputs


def _align_all(images: Sequence[np.ndarray], detector: FaceDetector) -> tuple[list, list]:
    faces, landmarks = [], []
    for img in images:
        det = detector.detect(img, all_faces=True)
        for face in det.faces:
            a = align_face(img, face.landmarks)
            faces.append(a.image)
            landmarks.append(a.landmarks)
    return faces, landmarks


def aligned_faces_from_files(paths: Sequence[str], max_faces: int = 128):
    """Every detected face in the given images/folders, aligned (unreadable/faceless files are skipped)."""
    from keras_au.geometry import ImageError
    from keras_au.inference.tflite import FaceArrays

    files, _ = expand_inputs(paths)
    detector, images = FaceDetector(), []
    for path in files:
        if os.path.splitext(path)[1].lower() not in IMAGE_EXTENSIONS:
            continue
        try:
            images.append(load_image(path))
        except ImageError:
            continue
    faces, landmarks = _align_all(images, detector)
    if not faces:
        raise ValueError(f"no faces found in {', '.join(paths)}")
    return FaceArrays(np.stack(faces[:max_faces]), np.stack(landmarks[:max_faces]))


def packaged_faces(copies: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The real faces scikit-image and matplotlib ship (astronaut, Grace Hopper), aligned, each in
    ``copies`` small shifts/brightness changes: (N, 200, 200, 3) float32 and (N, 68, 2)."""
    import matplotlib
    from skimage import data

    rng = np.random.default_rng(seed)
    faces, landmarks = _align_all(
        [data.astronaut(), load_image(os.path.join(matplotlib.get_data_path(), "sample_data", "grace_hopper.jpg"))],
        FaceDetector(),
    )
    out_i, out_l = [], []
    for img, lm in zip(faces, landmarks):
        for _ in range(copies):
            dx, dy = rng.integers(-4, 5, size=2)
            gain = rng.uniform(0.8, 1.2)
            out_i.append(np.clip(np.roll(img, (dy, dx), axis=(0, 1)).astype(np.float32) * gain, 0, 255))
            out_l.append(lm + np.array([dx, dy], np.float32))
    return np.stack(out_i).astype(np.float32), np.stack(out_l).astype(np.float32)
