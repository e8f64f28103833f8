"""Fixtures for the serving tests: a stand-in exported model (the contract, not a family), its
serving SavedModel, the protocol test double, and real-face media (images, a corrupt file, a video)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from serving_media import AUS, VIDEO_FPS, video_frames


@pytest.fixture(scope="session")
def stand_in_export(tmp_path_factory) -> str:
    from serving.stand_in import write_stand_in_export

    return write_stand_in_export(str(tmp_path_factory.mktemp("export")), aus=AUS, input_size=192)


@pytest.fixture(scope="session")
def serving_root(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("serving"))


@pytest.fixture(scope="session")
def version_dir(stand_in_export, serving_root) -> str:
    from keras_au.inference.savedmodel import export_serving

    return export_serving(stand_in_export, serving_root)


@pytest.fixture(scope="session")
def keras_model(stand_in_export):
    from keras_au.inference.savedmodel import load_keras_export

    return load_keras_export(stand_in_export)


@pytest.fixture(scope="session")
def double(version_dir):
    from serving.testing import ServingDouble

    d = ServingDouble(os.path.dirname(version_dir)).start()
    yield d
    d.stop()


@pytest.fixture
def fresh_double(double):
    """The session double with faults/delay reset before and after a test."""
    double.fail_next(0)
    double.delay_s = 0.0
    yield double
    double.fail_next(0)
    double.delay_s = 0.0


@pytest.fixture(scope="session")
def faces():
    """Real aligned faces (astronaut, Grace Hopper) with small shifts: FaceArrays of 8."""
    from keras_au.inference.tflite import FaceArrays
    from serving.faces import packaged_faces

    images, landmarks = packaged_faces(copies=4)
    return FaceArrays(images, landmarks)


@pytest.fixture(scope="session")
def media(tmp_path_factory, astronaut, grace_hopper) -> dict:
    """Real media: two face images, a faceless image, a corrupt JPEG, an empty file, a text file, a video."""
    import cv2
    from skimage import data

    root = tmp_path_factory.mktemp("media")
    images = root / "images"
    images.mkdir()
    cv2.imwrite(str(images / "astronaut.png"), astronaut[:, :, ::-1])
    cv2.imwrite(str(images / "hopper.jpg"), grace_hopper[:, :, ::-1])
    cv2.imwrite(str(images / "coffee.jpg"), data.coffee()[:, :, ::-1])
    import matplotlib

    good = open(os.path.join(matplotlib.get_data_path(), "sample_data", "grace_hopper.jpg"), "rb").read()
    (images / "corrupt.jpg").write_bytes(good[:200] + b"\x00garbage" * 50)  # header, then garbage
    (images / "empty.png").write_bytes(b"")
    (images / "notes.txt").write_text("not media")
    video = str(root / "clip.avi")
    writer = cv2.VideoWriter(video, cv2.VideoWriter_fourcc(*"MJPG"), VIDEO_FPS, (320, 240))
    assert writer.isOpened(), "OpenCV cannot write MJPG .avi"
    for frame in video_frames(astronaut, grace_hopper):
        writer.write(np.ascontiguousarray(frame[:, :, ::-1]))
    writer.release()
    bad_video = root / "broken.mp4"
    bad_video.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(512))
    data_bytes = open(video, "rb").read()
    truncated = root / "truncated.avi"
    truncated.write_bytes(data_bytes[: len(data_bytes) // 2])
    return {"images": str(images), "video": str(video), "bad_video": str(bad_video), "truncated": str(truncated),
            "root": str(root)}


@pytest.fixture(scope="session")
def two_face_run(tmp_path_factory, stand_in_export, astronaut, grace_hopper) -> dict:
    """``keras-au predict --all-faces --calibrate --overlay --html`` on a real two-face clip (MJPG .avi, which
    Chromium cannot play: the page gets an H.264 overlay): the paths of everything it wrote."""
    import cv2
    from serving_media import TWO_FACE_SIZE, two_face_frames

    from keras_au.cli import main

    root = tmp_path_factory.mktemp("two_faces")
    video = str(root / "two.avi")
    writer = cv2.VideoWriter(video, cv2.VideoWriter_fourcc(*"MJPG"), VIDEO_FPS, TWO_FACE_SIZE)
    for frame in two_face_frames(astronaut, grace_hopper):
        writer.write(np.ascontiguousarray(frame[:, :, ::-1]))
    writer.release()
    out = root / "out"
    paths = {"video": video, "csv": str(out / "results.csv"), "calibrated": str(out / "results_calibrated.csv"),
             "overlay": str(out / "overlay.mp4"), "html": str(out / "report.html")}
    assert main(["predict", video, "--model", stand_in_export, "--out", paths["csv"], "--all-faces", "--calibrate",
                 "--overlay", paths["overlay"], "--html", paths["html"], "--quiet"]) == 0
    return paths
