"""TFLite variants converted from the serving SavedModel: parity, calibration from TFRecords, runner."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from keras_au.inference.tflite import (
    VARIANTS,
    FaceArrays,
    TFLiteRunner,
    export_tflite,
    faces_from_records,
    format_report,
)

# (max |p_tflite - p_savedmodel|, minimum decision agreement at 0.5): tight for float, loose for int8
TOLERANCE = {"fp32": (1e-5, 1.0), "fp16": (5e-3, 0.95), "dynamic_int8": (0.05, 0.9), "int8": (0.1, 0.85)}


@pytest.fixture(scope="module")
def tflite_report(version_dir, tiny_records, tmp_path_factory):
    from keras_au.inference.savedmodel import read_serving_info

    info = read_serving_info(version_dir)
    faces = faces_from_records(tiny_records, info, max_samples=24)  # keras_au.data.input_pipeline, training=False
    out = str(tmp_path_factory.mktemp("tflite"))
    return export_tflite(version_dir, out, VARIANTS, faces), out, faces


def test_records_give_whole_aligned_faces(tflite_report):
    _, _, faces = tflite_report
    assert faces.images.shape == (24, 200, 200, 3) and faces.landmarks.shape == (24, 68, 2)
    assert 0 <= faces.images.min() and faces.images.max() <= 255 and faces.images.std() > 20  # real pixels
    # aligned faces: the eye centres sit near the 200x200 template's (70, 72) and (130, 72)
    eyes = faces.landmarks[:, 36:42].mean(1)
    assert np.all(np.abs(eyes - [70, 72]) < 8)


def test_all_variants_match_the_saved_model(tflite_report):
    report, out, _ = tflite_report
    assert set(report["variants"]) == set(VARIANTS)
    for name, (max_diff, min_agree) in TOLERANCE.items():
        v = report["variants"][name]
        assert os.path.isfile(v["path"]) and v["bytes"] > 0
        assert v["max_abs_diff"] <= max_diff, (name, v["max_abs_diff"])
        assert v["agreement"] >= min_agree, (name, v["agreement"])
        assert set(v["per_au_agreement"]) == set(report["aus"])
    sizes = {k: v["bytes"] for k, v in report["variants"].items()}
    assert sizes["int8"] < sizes["fp16"] < sizes["fp32"] and sizes["dynamic_int8"] < sizes["fp16"]
    assert report["variants"]["int8"]["calibration_faces"] == 24
    saved = json.load(open(os.path.join(out, "parity.json")))
    assert saved["variants"]["fp32"]["max_abs_diff"] == report["variants"]["fp32"]["max_abs_diff"]
    table = format_report(report)
    assert all(name in table for name in VARIANTS)


def test_runner_takes_any_batch_and_aligned_frame_landmarks(tflite_report, version_dir, faces):
    import tensorflow as tf

    report, _, _ = tflite_report
    runner = TFLiteRunner(report["variants"]["fp32"]["path"], num_threads=2)
    ref = tf.saved_model.load(version_dir).signatures["predict_landmarks"](
        images=tf.constant(faces.images), landmarks=tf.constant(faces.landmarks))["au_probs"].numpy()
    np.testing.assert_allclose(runner(faces.images[:1], faces.landmarks[:1]), ref[:1], atol=1e-5)
    np.testing.assert_allclose(runner(faces.images, faces.landmarks), ref, atol=1e-5)  # resized to batch 8


def test_int8_calibrates_from_given_arrays(version_dir, faces, tmp_path):
    report = export_tflite(version_dir, str(tmp_path), ["int8"], faces)
    v = report["variants"]["int8"]
    assert v["calibration_faces"] == len(faces) and v["max_abs_diff"] <= TOLERANCE["int8"][0]


def test_bad_inputs_are_refused(version_dir, tmp_path):
    from keras_au.inference.tflite import convert

    with pytest.raises(ValueError, match="representative"):
        convert(version_dir, "int8")
    with pytest.raises(ValueError, match="unknown TFLite variant"):
        convert(version_dir, "int4")
    with pytest.raises(ValueError, match=r"\(N, 200, 200, 3\)"):
        FaceArrays(np.zeros((2, 192, 192, 3)), np.zeros((2, 68, 2)))
    with pytest.raises(FileNotFoundError):
        faces_from_records(str(tmp_path / "*.tfrecord"), None)


def test_unconvertible_ops_are_named_in_a_short_error(tmp_path):
    """A graph with an op TFLite has no builtin kernel for (a 6-D strided slice) fails with the op named."""
    import tensorflow as tf

    from keras_au.inference.signatures import IMAGES_SPEC, LANDMARKS_SPEC
    from keras_au.inference.tflite import convert

    class SixD(tf.Module):
        @tf.function(input_signature=[IMAGES_SPEC, LANDMARKS_SPEC])
        def predict_landmarks(self, images, landmarks):
            x = tf.reshape(images[:, :16, :16, :], (-1, 2, 2, 4, 16, 3))[:, 1]  # StridedSlice on 6-D
            return {"au_probs": tf.sigmoid(tf.reduce_mean(x, axis=[1, 2, 3, 4])[:, None]) + 0 * landmarks[:, :1, 0]}

    module = SixD()
    tf.saved_model.save(module, str(tmp_path), signatures={"predict_landmarks": module.predict_landmarks})
    with pytest.raises(ValueError, match="StridedSlice") as e:
        convert(str(tmp_path), "fp32")
    assert len(str(e.value)) < 1500  # not the converter's pages of MLIR locations
