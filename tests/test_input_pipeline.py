"""tf.data input: parsing, crop/flip consistency of image, landmarks and flow, domain mixing."""

import numpy as np
import pytest
import tensorflow as tf

from keras_au.data import schema
from keras_au.data.flip import FLIP_PERMUTATION
from keras_au.data.input_pipeline import InputConfig, build_dataset, fold_files, mix_datasets



def test_eval_batch_keys_shapes_and_centre_crop(tiny_records):
    cfg = InputConfig(fold_files(tiny_records, [0]), batch_size=4, training=False, flow_size=24)
    b = next(iter(build_dataset(cfg)))
    assert b["image"].shape == (4, 192, 192, 3) and b["image"].dtype == tf.float32
    assert float(tf.reduce_max(b["image"])) > 100.0  # raw [0, 255] pixels
    assert b["landmarks"].shape == (4, 68, 2)
    assert b["au_labels"].shape == (4, 12) and b["au_labels"].dtype == tf.int32
    assert b["flow"].shape == (4, 24, 24, 2)
    np.testing.assert_array_equal(b["has_flow"].numpy(), [1, 0, 1, 0])
    # centre crop shifts landmarks by 4 px and flow values are unchanged (crop pixels = 200-frame pixels)
    ex = schema.read_examples(fold_files(tiny_records, [0])[0])[0]
    np.testing.assert_allclose(b["landmarks"][0].numpy(), np.reshape(ex["landmarks"], (68, 2)) - 4.0, atol=1e-4)
    np.testing.assert_allclose(b["flow"][0, 2, 5].numpy(), [2.0, -1.0], atol=1e-2)
    np.testing.assert_allclose(b["flow"][0, -2, 5].numpy(), [0.0, 0.0], atol=1e-2)


def test_flip_mirrors_image_landmarks_and_flow_consistently(tiny_records):
    # With a fixed seed, find one flipped and one unflipped draw of the same record and compare.
    cfg = InputConfig(fold_files(tiny_records, [0]), batch_size=1, flow_size=24, seed=3, shuffle_buffer=1)
    ds = build_dataset(cfg, batched=False).take(64)
    ex = schema.read_examples(fold_files(tiny_records, [0])[0])[0]
    lm0 = np.reshape(ex["landmarks"], (68, 2))
    seen = set()
    for e in ds:
        if e["has_flow"] == 0 or e["subject"].numpy() != ex["subject"]:
            continue
        lm = e["landmarks"].numpy()
        left_eye, right_eye = lm[36:42].mean(0), lm[42:48].mean(0)
        assert left_eye[0] < right_eye[0]  # index order is mirrored too: "left" stays on the image left
        flipped = float(e["flow"][2, 5, 0]) < 0
        seen.add(flipped)
        if flipped:
            # x mirrored around the crop, indices permuted: a mirrored point set of the original.
            mirrored = lm[FLIP_PERMUTATION]
            spread = (191 - mirrored[:, 0]) - lm0[:, 0]
            assert np.ptp(spread) < 8.0  # only the crop offset + roll jitter remain
    assert seen == {True, False}


def test_mixing_ratio_and_selection(tiny_records, tiny_unlabeled_records):
    lab = build_dataset(InputConfig(tiny_records, select="labeled", seed=0), batched=False)
    unl = build_dataset(InputConfig(tiny_unlabeled_records, seed=0), batched=False)
    mixed = mix_datasets(lab, unl, 0.25, batch_size=32, seed=0)
    frac = np.mean([float(tf.reduce_mean(1.0 - b["labeled"])) for b in mixed.take(8)])
    assert 0.15 < frac < 0.35
    with pytest.raises(ValueError):
        mix_datasets(lab, unl, 1.0, 8)


def test_missing_files_raise(tmp_path):
    with pytest.raises(FileNotFoundError):
        build_dataset(InputConfig(str(tmp_path / "*.tfrecord.gz")))


def test_missing_or_nan_landmarks_are_zero_and_flagged(tmp_path):
    from record_fixtures import aligned_real_faces

    _, img, lm = aligned_real_faces()[0]
    bad = lm.copy()
    bad[5, 0] = np.nan
    recs = [
        schema.FaceRecord(image=img, au_ids=(1, 2), au_labels=(1, 0), subject="a", landmarks=None),
        schema.FaceRecord(image=img, au_ids=(1, 2), au_labels=(-1, 9), subject="a", landmarks=bad),
        schema.FaceRecord(image=img, au_ids=(1, 2), au_labels=(0, 1), subject="a", landmarks=lm),
    ]
    schema.write_tfrecord(str(tmp_path / "x.tfrecord.gz"), recs)
    for training in (False, True):
        cfg = InputConfig(str(tmp_path / "*.gz"), batch_size=3, training=training, seed=0, shuffle_buffer=1)
        b = next(iter(build_dataset(cfg)))
        np.testing.assert_array_equal(b["has_landmarks"].numpy(), [0, 0, 1])
        assert np.all(b["landmarks"][:2].numpy() == 0.0)
        assert np.all(np.isfinite(b["landmarks"].numpy()))
        np.testing.assert_array_equal(b["labeled"].numpy(), [1, 0, 1])
        np.testing.assert_array_equal(b["au_labels"][1].numpy(), [-1, -1])
