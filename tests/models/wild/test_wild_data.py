"""Source/target streams: AU selection by ``au_ids``, splits, record statistics, landmark-less faces."""

from __future__ import annotations

import numpy as np

from keras_au.data import schema
from keras_au.models.wild import data as wild_data

EMOTIONET6 = (1, 2, 4, 6, 12, 17)


def test_bp4d_labels_are_mapped_to_the_six_shared_aus(tiny_records):
    train, held_out, self_eval = wild_data.split_files(tiny_records, 0)
    assert not self_eval and all("fold-0" in f for f in held_out) and not any("fold-0" in f for f in train)
    ids = wild_data.record_au_ids(held_out)
    pos = wild_data.au_positions(ids, EMOTIONET6)
    assert pos == [0, 1, 2, 3, 6, 9]  # BP4D order 1 2 4 6 7 10 12 14 15 17 23 24
    records = schema.read_examples(held_out[0])
    ds = wild_data.domain_stream(held_out, pos, batch_size=len(records), crop_size=176, training=False)
    batch = next(iter(ds))
    expected = np.array([[r["au_labels"][p] for p in pos] for r in records])
    np.testing.assert_array_equal(batch["au_labels"].numpy(), expected)
    assert batch["image"].shape[1:] == (176, 176, 3) and batch["landmarks"].shape[1:] == (68, 2)


def test_missing_aus_become_unknown(tiny_unlabeled_records):
    assert wild_data.au_positions((1, 2, 4), EMOTIONET6) == [0, 1, 2, -1, -1, -1]
    labels = np.array([[1, 0, 1]])
    out = wild_data.select_aus(labels, [0, 1, 2, -1, -1, -1]).numpy()
    assert out.tolist() == [[1, 0, 1, -1, -1, -1]]


def test_scan_counts_labels_and_landmarks(wild_source):
    train, _, _ = wild_data.split_files(wild_source, 0)
    pos = wild_data.au_positions(wild_data.record_au_ids(train), EMOTIONET6)
    stats = wild_data.scan_records(train, pos, 176, progress=False)
    assert stats.count == 16 and stats.with_landmarks == 12  # every 4th source face has no landmarks
    assert stats.labels.shape == (16, 6) and set(np.unique(stats.labels)) <= {-1, 0, 1}
    assert stats.mean_landmarks.shape == (68, 2)
    # The aligned template puts the eyes about 60 px apart, level, in the centre-crop frame.
    left, right = stats.mean_landmarks[36:42].mean(0), stats.mean_landmarks[42:48].mean(0)
    assert 50 < right[0] - left[0] < 70 and abs(right[1] - left[1]) < 3


def test_paired_batches_carry_both_domains(wild_source, wild_target):
    s_train, _, _ = wild_data.split_files(wild_source, 0)
    t_train, _, _ = wild_data.split_files(wild_target, 0)
    s_pos = wild_data.au_positions(wild_data.record_au_ids(s_train), EMOTIONET6)
    t_pos = wild_data.au_positions(wild_data.record_au_ids(t_train), EMOTIONET6)
    batch = next(iter(wild_data.paired_dataset(s_train, t_train, s_pos, t_pos, 4, 176, seed=0)))
    assert set(batch) == {"source", "target"}
    for dom in ("source", "target"):
        assert batch[dom]["image"].shape == (4, 176, 176, 3)
        assert batch[dom]["au_labels"].shape == (4, 6)
    assert np.all(batch["target"]["au_labels"].numpy() == -1)  # target training folds are unlabeled
    has = batch["target"]["has_landmarks"].numpy()
    assert set(np.unique(has)) <= {0.0, 1.0} and np.all(np.isfinite(batch["target"]["landmarks"].numpy()))
