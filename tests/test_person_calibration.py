"""Person-specific calibration: per-person offsets removed in logit space, rankings within a person kept."""

from __future__ import annotations

import numpy as np
import pytest

from keras_au.metrics import au_auc, detection_report
from keras_au.person_calibration import logit, person_calibrate, reference_logits


def _offset_people(seed: int = 0, people: int = 6, frames: int = 200):
    """Each person: AU present in ~20 % of frames, detected with a margin, plus a person-wide score offset."""
    rng = np.random.default_rng(seed)
    labels, z, groups = [], [], []
    offsets = np.stack([rng.permutation(np.linspace(-4.0, 4.0, people)) for _ in range(2)], axis=1)
    for p in range(people):
        y = (rng.random((frames, 2)) < 0.2).astype(int)
        offset = offsets[p]
        labels.append(y)
        z.append(offset + 1.5 * (2 * y - 1) + rng.normal(0.0, 0.5, size=(frames, 2)))
        groups += [f"P{p}"] * frames
    z = np.concatenate(z)
    return np.concatenate(labels), 1 / (1 + np.exp(-z)), np.array(groups)


def test_person_offsets_are_removed_and_within_person_order_kept():
    labels, probs, groups = _offset_people()
    cal = person_calibrate(probs, groups)
    raw_auc, cal_auc = au_auc(labels, probs), au_auc(labels, cal)
    assert np.all(cal_auc > raw_auc + 0.1) and np.all(cal_auc > 0.95), (raw_auc, cal_auc)
    for g in np.unique(groups):
        k = groups == g
        assert np.array_equal(np.argsort(probs[k, 0], kind="stable"), np.argsort(cal[k, 0], kind="stable"))
    medians = np.stack([np.median(logit(cal[groups == g]), axis=0) for g in np.unique(groups)])
    assert np.allclose(medians, medians[0], atol=1e-4)  # every person's neutral level is the same


def test_one_persons_video_is_calibrated_against_a_population_reference():
    labels, probs, groups = _offset_people(seed=2)
    reference = reference_logits(probs)  # the population: every person's frames
    one = groups == groups[0]
    alone = person_calibrate(probs[one], groups[one])
    assert np.allclose(alone, probs[one], atol=1e-6)  # alone, a person is their own population: unchanged
    cal = person_calibrate(probs[one], groups[one], reference=reference)
    assert np.allclose(np.median(logit(cal), axis=0), reference, atol=1e-4)  # neutral level = the population's
    assert np.array_equal(np.argsort(probs[one, 0], kind="stable"), np.argsort(cal[:, 0], kind="stable"))
    with pytest.raises(ValueError, match="reference has 3 values for 2 AUs"):
        person_calibrate(probs[one], groups[one], reference=np.zeros(3))
    with pytest.raises(ValueError, match="reference needs"):
        reference_logits(np.zeros((0, 2)))


def test_single_frame_groups_keep_their_scores_and_lengths_must_match():
    probs = np.array([[0.9, 0.1], [0.2, 0.3], [0.4, 0.8]], np.float32)
    assert np.allclose(person_calibrate(probs, ["a", "b", "c"]), probs, atol=1e-6)
    with pytest.raises(ValueError, match="2 group names for 3 score rows"):
        person_calibrate(probs, ["a", "b"])


def test_detection_report_adds_the_calibrated_scores_beside_the_frame_level_ones():
    labels, probs, groups = _offset_people(seed=1)
    plain = detection_report(labels, probs, aus=(1, 2))
    rep = detection_report(labels, probs, aus=(1, 2), groups=groups)
    assert "person_calibrated" not in plain and rep["mean_auc"] == plain["mean_auc"]
    cal = rep["person_calibrated"]
    assert cal["groups"] == 6 and cal["mean_auc"] > rep["mean_auc"] + 0.1
    assert set(cal["per_au"]) == {"AU01", "AU02"} and cal["mean_f1"] > rep["mean_f1"]
    # ranking within each person is what calibration keeps: within-person AUC is the same before and after
    within = [v["within_person_auc"] for v in cal["per_au"].values()]
    assert all(w > 0.95 for w in within) and cal["mean_within_person_auc"] == pytest.approx(np.mean(within))
    assert cal["mean_auc"] == pytest.approx(np.mean(within), abs=0.03)
