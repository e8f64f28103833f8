"""Records for the in-the-wild model tests, built from the real faces the packages ship.

Source (BP4D-style, 12 AUs in BP4D order): labels are a fixed pattern per face, so a short run can
overfit them; every 4th record has no landmarks (has_landmarks = 0); a few labels are unknown.
Target (EmotioNet-style, the 6 AUs): a different "domain" (low-contrast, bluish), fold-0 labeled for
evaluation, folds 1-2 unlabeled; every other record has no landmarks.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from keras_au.au import dataset_aus
from keras_au.data import schema

POSITIVE = {"astronaut": {1, 2, 12, 7, 14}, "hopper": {4, 6, 17, 10, 23}}


def _labels(name: str, aus) -> np.ndarray:
    return np.array([int(a in POSITIVE[name]) for a in aus])


def write_wild_records(out_dir: str, domain: str, per_fold: int) -> str:
    from record_fixtures import aligned_real_faces

    aus = dataset_aus("bp4d") if domain == "source" else dataset_aus("emotionet")
    faces = aligned_real_faces()
    rng = np.random.default_rng(7 if domain == "source" else 8)
    for fold in range(3):
        os.makedirs(os.path.join(out_dir, f"fold-{fold}"), exist_ok=True)
        recs = []
        for i in range(per_fold):
            name, img, lm = faces[i % len(faces)]
            shift = rng.integers(-3, 4, size=2)
            img = np.roll(img, shift=(shift[1], shift[0]), axis=(0, 1))
            if domain == "target":  # a visibly different domain: low contrast, blue cast
                img = np.clip(img.astype(np.float32) * [0.5, 0.6, 0.8] + [50, 50, 70], 0, 255).astype(np.uint8)
            labels = _labels(name, aus)
            if domain == "source" and i % 4 == 1:
                labels[rng.integers(0, len(aus))] = -1
            if domain == "target" and fold > 0:
                labels = np.full(len(aus), -1)
            no_lm = (i % 4 == 3) if domain == "source" else (i % 2 == 1)
            recs.append(schema.FaceRecord(
                image=img, au_ids=aus, au_labels=labels, subject=f"{name}-{fold}", frame=i,
                dataset="bp4d" if domain == "source" else "emotionet", fold=fold,
                landmarks=None if no_lm else lm + shift,
            ))
        schema.write_tfrecord(os.path.join(out_dir, f"fold-{fold}", f"{domain}-00000-of-00001.tfrecord.gz"), recs)
    return out_dir


@pytest.fixture(scope="session")
def wild_source(tmp_path_factory) -> str:
    return write_wild_records(str(tmp_path_factory.mktemp("wild_source")), "source", per_fold=8)


@pytest.fixture(scope="session")
def wild_target(tmp_path_factory) -> str:
    return write_wild_records(str(tmp_path_factory.mktemp("wild_target")), "target", per_fold=6)
