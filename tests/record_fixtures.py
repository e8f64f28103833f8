"""Tiny TFRecord sets built from real faces (astronaut, Grace Hopper) for model and pipeline tests.

Used until/alongside the Beam preprocessing output: same schema, same ``fold-<k>`` layout.
Labels are drawn at random (with some unknowns); flow targets are a known smooth field so
flow code can be checked.
"""

from __future__ import annotations

import os

import numpy as np

from keras_au.data import schema


def aligned_real_faces() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(subject, aligned 200x200 RGB, aligned landmarks) for the real faces shipped by packages."""
    import matplotlib
    from skimage import data

    from keras_au.geometry import FaceDetector, align_face, load_image

    det = FaceDetector()
    out = []
    imgs = {
        "astronaut": data.astronaut(),
        "hopper": load_image(os.path.join(matplotlib.get_data_path(), "sample_data", "grace_hopper.jpg")),
    }
    for name, img in imgs.items():
        a = align_face(img, det.detect(img).largest.landmarks)
        out.append((name, a.image, a.landmarks))
    return out


def synthetic_flow(size: int = schema.FLOW_SIZE, dx: float = 2.0, dy: float = -1.0) -> np.ndarray:
    """A smooth field: (dx, dy) in the upper half of the face, zero in the lower half."""
    f = np.zeros((size, size, 2), np.float32)
    f[: size // 2, :, 0], f[: size // 2, :, 1] = dx, dy
    return f


def write_tiny_records(
    out_dir: str, aus=(1, 2, 4, 6, 7, 10, 12, 14, 15, 17, 23, 24), per_fold: int = 8, seed: int = 0,
    dataset: str = "bp4d", labeled: bool = True,
) -> str:
    """Writes ``fold-{0,1,2}/<dataset>-00000-of-00001.tfrecord.gz`` and returns ``out_dir``."""
    rng = np.random.default_rng(seed)
    faces = aligned_real_faces()
    for fold in range(3):
        os.makedirs(os.path.join(out_dir, f"fold-{fold}"), exist_ok=True)
        recs = []
        for i in range(per_fold):
            name, img, lm = faces[i % len(faces)]
            shift = rng.integers(-3, 4, size=2)
            img2 = np.roll(img, shift=(shift[1], shift[0]), axis=(0, 1))
            labels = rng.integers(0, 2, size=len(aus)) if labeled else np.full(len(aus), -1)
            if labeled and i % 4 == 3:
                labels[rng.integers(0, len(aus))] = -1
            recs.append(schema.FaceRecord(
                image=img2, au_ids=aus, au_labels=labels, subject=f"{name}-{fold}", sequence="s0", frame=i,
                dataset=dataset, landmarks=lm + shift, flow=synthetic_flow() if i % 2 == 0 else None, fold=fold,
            ))
        schema.write_tfrecord(os.path.join(out_dir, f"fold-{fold}", f"{dataset}-00000-of-00001.tfrecord.gz"), recs)
    return out_dir
