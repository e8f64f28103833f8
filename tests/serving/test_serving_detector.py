"""``keras_au.Detector``: DataFrames on real faces (files, folders, videos, arrays, aligned faces), the same
rows as the ``keras-au predict`` CSV."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from keras_au.cli import main

AU_NAMES = [f"AU{a:02d}" for a in (1, 2, 4, 6, 7, 10, 12, 14, 15, 17, 23, 24)]
P_COLS = [f"{a}_p" for a in AU_NAMES]


@pytest.fixture(scope="module")
def detector(version_dir):
    import keras_au

    return keras_au.Detector(version_dir, batch_size=4)


def test_import_keras_au_stays_light_and_detector_resolves_lazily():
    code = ("import sys, keras_au; assert 'serving' not in sys.modules and 'tensorflow' not in sys.modules; "
            "from keras_au.inference.detector import Detector; assert keras_au.Detector is Detector; "
            "assert 'serving' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])
    import keras_au

    with pytest.raises(AttributeError):
        keras_au.NoSuchThing  # noqa: B018


def test_serving_keeps_no_alias_of_the_moved_inference_modules():
    """The inference stack lives in ``keras_au.inference`` only: no second import name for the same module."""
    import importlib.util

    import keras_au
    from keras_au.inference.detector import Detector

    assert keras_au.Detector is Detector
    for name in ("predict", "detector", "savedmodel", "tflite", "media", "backends"):
        assert importlib.util.find_spec(f"serving.{name}") is None, name


def test_dataframe_has_the_csv_rows_of_keras_au_predict(detector, version_dir, media, tmp_path):
    inputs = [media["images"], media["video"]]
    df = detector.predict(inputs)
    out = str(tmp_path / "cli.csv")
    assert main(["predict", *inputs, "--model", version_dir, "--out", out, "--quiet"]) == 0
    csv = pd.read_csv(out, keep_default_na=False)
    assert list(df.columns) == list(csv.columns) == detector.columns
    assert len(df) == len(csv) and df["source"].tolist() == csv["source"].tolist()
    for col in ("frame", "face_id", "success"):
        assert df[col].tolist() == csv[col].tolist(), col
    assert df["reason"].tolist() == csv["reason"].tolist()
    ok = df["success"] == 1
    np.testing.assert_allclose(df.loc[ok, P_COLS].to_numpy(), csv.loc[ok, P_COLS].to_numpy(float), atol=6e-5)
    # success = 0 rows: NaN box/AU cells, nullable classes, the reason
    bad = df[~ok]
    assert set(bad["reason"]) == {"no_face", "undecodable", "empty"}
    assert bad[P_COLS].isna().all().all() and bad["bbox_x0"].isna().all() and bad["AU12_c"].isna().all()
    assert str(df["AU12_c"].dtype) == "Int64" and df.loc[ok, "AU12_c"].tolist() == (df.loc[ok, "AU12_p"] >= 0.5
                                                                                     ).astype(int).tolist()
    assert detector.last_summary.skipped_files == [os.path.join(media["images"], "notes.txt")]


def test_numpy_arrays_images_and_clips(detector, astronaut, media, tmp_path):
    from skimage import data

    from keras_au.inference.media import frames

    by_file = detector.predict(os.path.join(media["images"], "astronaut.png"))
    clip = np.stack([f.image for f in frames(media["video"])][:12])  # the astronaut segment
    nan_image = np.full((64, 64, 3), np.nan, np.float32)
    df = detector.predict([astronaut, data.coffee(), nan_image, clip])
    assert df["source"].tolist()[:3] == ["array[0]", "array[1]", "array[2]"]
    first = df.iloc[0]
    assert first["success"] == 1 and first["frame"] == 0 and first["timestamp"] == 0.0
    # the same pixels as the lossless PNG: the same face and probabilities
    np.testing.assert_allclose(first[P_COLS].to_numpy(float), by_file.iloc[0][P_COLS].to_numpy(float), atol=1e-6)
    assert (df.iloc[1]["success"], df.iloc[1]["reason"]) == (0, "no_face")
    assert df.iloc[2]["success"] == 0 and df.iloc[2]["reason"] == "bad_image"
    video = df[df["source"] == "array[3]"]
    assert video["frame"].tolist() == list(range(12)) and (video["success"] == 1).all()
    np.testing.assert_allclose(video["timestamp"].to_numpy(), np.arange(12) / detector.fps)


def test_predict_aligned_matches_detection_then_alignment(detector, astronaut):
    from keras_au.geometry import FaceDetector, align_face

    aligned = align_face(astronaut, FaceDetector().detect(astronaut).largest.landmarks)
    from_image = detector.predict(astronaut)
    lm_bad = aligned.landmarks.copy()
    lm_bad[0, 0] = np.nan
    df = detector.predict_aligned(np.stack([aligned.image] * 2), np.stack([aligned.landmarks, lm_bad]))
    assert list(df.columns) == detector.columns and len(df) == 2
    np.testing.assert_allclose(df.iloc[0][P_COLS].to_numpy(float), from_image.iloc[0][P_COLS].to_numpy(float),
                               atol=1e-5)
    assert (df.iloc[1]["success"], df.iloc[1]["reason"]) == (0, "nonfinite_input") and pd.isna(df.iloc[1]["AU01_p"])
    mean_shape = detector.predict_aligned(aligned.image)  # one face, the model's mean landmarks
    assert len(mean_shape) == 1 and mean_shape.iloc[0]["success"] == 1
    with pytest.raises(ValueError, match=r"\(N, 200, 200, 3\)"):
        detector.predict_aligned(np.zeros((2, 128, 128, 3)))
    with pytest.raises(ValueError, match="2 faces but 1 landmark sets"):
        detector.predict_aligned(np.zeros((2, 200, 200, 3)), aligned.landmarks)


def test_bad_model_path_and_empty_input_are_clear_errors(detector, tmp_path):
    import keras_au

    with pytest.raises(FileNotFoundError, match="no such model"):
        keras_au.Detector(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no images, videos or arrays"):
        detector.predict(str(tmp_path / "empty"))


def test_calibrate_removes_each_face_tracks_offset(detector, media):
    from keras_au.inference.media import frames
    from keras_au.person_calibration import calibrate_dataframe, logit

    clip = np.stack([f.image for f in frames(media["video"])][:12])
    raw = detector.predict([media["video"], clip, os.path.join(media["images"], "astronaut.png")])
    assert detector.predict([media["video"], clip], calibrate=True)[P_COLS].equals(
        detector.predict([media["video"], clip])[P_COLS])  # tracks under 30 frames keep their scores
    cal = calibrate_dataframe(raw, detector.au_names, min_frames=2)
    ok = (raw["success"] == 1).to_numpy()
    tracks = raw.loc[ok, "source"].to_numpy()
    assert len(set(tracks)) == 3
    medians = [np.median(logit(cal.loc[ok, P_COLS].to_numpy()[tracks == t]), axis=0)
               for t in set(tracks) if (tracks == t).sum() >= 2]
    np.testing.assert_allclose(medians, np.repeat(medians[:1], len(medians), axis=0), atol=1e-4)
    still = tracks == os.path.join(media["images"], "astronaut.png")  # one frame: nothing to calibrate with
    np.testing.assert_allclose(cal.loc[ok, P_COLS].to_numpy()[still], raw.loc[ok, P_COLS].to_numpy()[still], atol=1e-6)
    video = tracks == "array[1]"
    assert still.sum() == 1 and video.sum() == 12
    order = np.argsort(raw.loc[ok, "AU12_p"].to_numpy()[video], kind="stable")
    assert np.array_equal(order, np.argsort(cal.loc[ok, "AU12_p"].to_numpy()[video], kind="stable"))
    assert cal.loc[ok, "AU12_c"].tolist() == (cal.loc[ok, "AU12_p"] >= 0.5).astype(int).tolist()
    assert cal.loc[~ok, P_COLS].isna().all().all()
