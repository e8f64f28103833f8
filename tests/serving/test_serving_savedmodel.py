"""The serving SavedModel: signatures, parity with the Keras model, versions, extras, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf
from serving_media import AUS

from keras_au.inference import savedmodel
from keras_au.inference.export_info import ExportInfo


def _keras_probs(keras_model, images, landmarks_200):
    model, info = keras_model
    off = (200 - info.input_size) // 2
    s = info.input_size
    return model({"image": images[:, off : off + s, off : off + s], "landmarks": landmarks_200 - off},
                 training=False).numpy()


def test_signatures_give_the_keras_models_probabilities(version_dir, keras_model, faces):
    loaded = tf.saved_model.load(version_dir)
    assert set(loaded.signatures) == {"serving_default", "predict_landmarks", "serve_bytes"}
    _, info = keras_model

    out = loaded.signatures["predict_landmarks"](images=tf.constant(faces.images), landmarks=tf.constant(faces.landmarks))
    np.testing.assert_allclose(out["au_probs"].numpy(), _keras_probs(keras_model, faces.images, faces.landmarks),
                               atol=1e-5)
    assert out["au_names"].numpy()[0].astype(str).tolist() == [f"AU{a:02d}" for a in AUS]
    np.testing.assert_array_equal(out["au_present"].numpy(), out["au_probs"].numpy() >= 0.5)

    mean = np.repeat(info.mean_landmarks_200[None], len(faces), 0)
    default = loaded.signatures["serving_default"](images=tf.constant(faces.images))["au_probs"].numpy()
    np.testing.assert_allclose(default, _keras_probs(keras_model, faces.images, mean), atol=1e-5)
    # the stand-in's landmarks matter, so the two signatures must differ on real (non-mean) landmarks
    assert np.abs(default - out["au_probs"].numpy()).max() > 1e-4

    # encoded bytes: lossless PNG of uint8 faces decodes to the same pixels; a 100x100 JPEG is resized
    uint8 = np.round(faces.images).astype(np.uint8)
    pngs = [tf.io.encode_png(f).numpy() for f in uint8]
    by_bytes = loaded.signatures["serve_bytes"](image_bytes=tf.constant(pngs))["au_probs"].numpy()
    np.testing.assert_allclose(by_bytes, _keras_probs(keras_model, uint8.astype(np.float32), mean), atol=1e-5)
    small = tf.io.encode_jpeg(tf.image.resize(uint8[:1], (100, 100)).numpy().astype(np.uint8)[0]).numpy()
    assert loaded.signatures["serve_bytes"](image_bytes=tf.constant([small]))["au_probs"].shape == (1, len(AUS))


def test_saved_model_runs_without_keras_au(version_dir, faces, tmp_path):
    """What TF Serving does: load and run with TensorFlow alone (no keras_au, no custom objects)."""
    np.save(tmp_path / "images.npy", faces.images[:2])
    np.save(tmp_path / "landmarks.npy", faces.landmarks[:2])
    script = textwrap.dedent(f"""
        import json, sys
        import numpy as np, tensorflow as tf
        m = tf.saved_model.load({version_dir!r})
        out = m.signatures["predict_landmarks"](images=tf.constant(np.load("images.npy")),
                                                landmarks=tf.constant(np.load("landmarks.npy")))
        sigs = {{k: sorted(v.structured_input_signature[1]) for k, v in m.signatures.items()}}
        print(json.dumps({{"probs": out["au_probs"].numpy().tolist(), "sigs": sigs,
                          "keras_au": any(k.startswith(("keras_au", "serving")) for k in sys.modules)}}))
    """)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    res = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=240)
    assert res.returncode == 0, res.stderr[-2000:]
    got = json.loads(res.stdout.strip().splitlines()[-1])
    assert got["keras_au"] is False
    assert got["sigs"] == {"serving_default": ["images"], "predict_landmarks": ["images", "landmarks"],
                           "serve_bytes": ["image_bytes"]}
    ref = tf.saved_model.load(version_dir).signatures["predict_landmarks"](
        images=tf.constant(faces.images[:2]), landmarks=tf.constant(faces.landmarks[:2]))["au_probs"].numpy()
    np.testing.assert_allclose(np.array(got["probs"]), ref, atol=1e-6)


def test_versions_increase_and_resolve_to_the_latest(stand_in_export, tmp_path):
    root = str(tmp_path)
    v1 = savedmodel.export_serving(stand_in_export, root, warmup=False)
    v2 = savedmodel.export_serving(stand_in_export, root, warmup=False)
    assert [os.path.basename(v) for v in (v1, v2)] == ["1", "2"]
    os.makedirs(os.path.join(root, "keras_au", "7"))  # an empty/partial integer dir still reserves its number
    os.makedirs(os.path.join(root, "keras_au", ".tmp-8-x"))  # TF Serving ignores non-integer names; so do we
    assert savedmodel.next_version(os.path.join(root, "keras_au")) == 8
    assert savedmodel.resolve_version_dir(root) == v2  # latest complete version
    assert savedmodel.resolve_version_dir(os.path.join(root, "keras_au")) == v2
    assert savedmodel.resolve_version_dir(v1) == v1
    with pytest.raises(FileExistsError, match="immutable"):
        savedmodel.export_serving(stand_in_export, root, version=2, warmup=False)
    v5 = savedmodel.export_serving(stand_in_export, root, version=5, warmup=False)
    assert os.path.basename(v5) == "5" and not any(n.startswith(".tmp") and n != ".tmp-8-x"
                                                   for n in os.listdir(os.path.join(root, "keras_au")))
    with pytest.raises(FileNotFoundError):
        savedmodel.resolve_version_dir(str(tmp_path / "nothing"))


def test_extras_name_the_aus_and_carry_a_warmup_request(version_dir):
    extra = os.path.join(version_dir, "assets.extra")
    names = open(os.path.join(extra, "au_names.txt")).read().split()
    assert names == [f"AU{a:02d}" for a in AUS]
    info = savedmodel.read_serving_info(version_dir)
    assert info.aus == AUS and info.input_size == 192 and info.model == "stand_in"
    from tensorflow_serving.apis import prediction_log_pb2

    records = [prediction_log_pb2.PredictionLog.FromString(r.numpy())
               for r in tf.data.TFRecordDataset(os.path.join(extra, "tf_serving_warmup_requests"))]
    assert len(records) == 1
    req = records[0].predict_log.request
    assert req.model_spec.signature_name == "predict_landmarks" and set(req.inputs) == {"images", "landmarks"}


@pytest.mark.parametrize("kwargs, message", [
    ({"images": np.zeros((1, 100, 100, 3), np.float32), "landmarks": np.zeros((1, 68, 2), np.float32)},
     "not compatible with expected shape"),
    ({"images": np.zeros((2, 200, 200, 3), np.float32), "landmarks": np.zeros((1, 68, 2), np.float32)},
     "batch sizes differ"),
    ({"images": np.zeros((1, 200, 200, 3), np.float32), "landmarks": np.full((1, 68, 2), np.nan, np.float32)},
     "landmarks contain NaN"),
])
def test_signatures_reject_malformed_tensors(version_dir, kwargs, message):
    fn = tf.saved_model.load(version_dir).signatures["predict_landmarks"]
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        fn(**{k: tf.constant(v) for k, v in kwargs.items()})


def test_undecodable_bytes_are_an_invalid_argument(version_dir):
    fn = tf.saved_model.load(version_dir).signatures["serve_bytes"]
    with pytest.raises(tf.errors.InvalidArgumentError, match="Unknown image file format"):
        fn(image_bytes=tf.constant([b"definitely not an image"]))


def test_export_info_is_read_leniently_and_checked(tmp_path):
    lm = np.zeros((68, 2)).tolist()
    info = ExportInfo.from_dict({"model": "wild", "aus": ["AU01", "AU12"], "crop_size": 176, "mean_landmarks": lm})
    assert info.aus == (1, 12) and info.input_size == 176 and info.crop_offset == 12
    assert np.all(info.mean_landmarks_200 == 12)
    with pytest.raises(ValueError, match="mean_landmarks"):
        ExportInfo.from_dict({"aus": [1], "input_size": 192})
    with pytest.raises(ValueError, match="input size"):
        ExportInfo.from_dict({"aus": [1], "mean_landmarks": lm})
    with pytest.raises(ValueError, match="68"):
        ExportInfo.from_dict({"aus": [1], "input_size": 192, "mean_landmarks": [[0, 0]]})
    (tmp_path / "export.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        ExportInfo.load(str(tmp_path))


def test_a_176_pixel_model_is_cropped_by_12_pixels(tmp_path, faces):
    """The in-the-wild family's input size: the same signatures, a different centre crop."""
    from serving.stand_in import write_stand_in_export

    mean = faces.landmarks.mean(0) - 12
    export = write_stand_in_export(str(tmp_path / "export"), aus=(1, 2, 4, 6, 12, 17), input_size=176,
                                   mean_landmarks=mean)
    version = savedmodel.export_serving(export, str(tmp_path / "serving"), warmup=False)
    model, info = savedmodel.load_keras_export(export)
    assert info.input_size == 176 and info.crop_offset == 12
    out = tf.saved_model.load(version).signatures["predict_landmarks"](
        images=tf.constant(faces.images), landmarks=tf.constant(faces.landmarks))["au_probs"].numpy()
    want = model({"image": faces.images[:, 12:188, 12:188], "landmarks": faces.landmarks - 12}).numpy()
    np.testing.assert_allclose(out, want, atol=1e-5)
    assert out.shape == (len(faces), 6)
