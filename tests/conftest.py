"""Shared fixtures: real faces that installed packages ship (no downloads)."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Tests read videos with imageio-ffmpeg directly too: start ffmpeg without a fork (keras_au.media.imageio_ffmpeg).
os.environ.setdefault("IMAGEIO_FFMPEG_NO_PREVENT_SIGINT", "1")


def grace_hopper_path() -> str:
    import matplotlib

    return os.path.join(matplotlib.get_data_path(), "sample_data", "grace_hopper.jpg")


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut()


@pytest.fixture(scope="session")
def grace_hopper() -> np.ndarray:
    from keras_au.geometry import load_image

    return load_image(grace_hopper_path())


@pytest.fixture(scope="session")
def detector():
    from keras_au.geometry import FaceDetector

    return FaceDetector()


@pytest.fixture(scope="session", params=["astronaut", "grace_hopper"])
def real_face(request) -> np.ndarray:
    return request.getfixturevalue(request.param)


@pytest.fixture(scope="session")
def tiny_records(tmp_path_factory) -> str:
    """Labeled BP4D-style records from real faces in ``fold-{0,1,2}/`` (see record_fixtures.py)."""
    from record_fixtures import write_tiny_records

    return write_tiny_records(str(tmp_path_factory.mktemp("tiny_records")))


@pytest.fixture(scope="session")
def tiny_unlabeled_records(tmp_path_factory) -> str:
    from record_fixtures import write_tiny_records

    return write_tiny_records(
        str(tmp_path_factory.mktemp("tiny_unlabeled")), per_fold=4, seed=1, dataset="emotionet", labeled=False
    )
