import numpy as np
import pytest

from keras_au.metrics import all_positive_baseline, au_auc, au_scores, detection_report, known_mask


def test_hand_computed_case_with_unknown_labels():
    # AU A: labels 1,1,0,0,9 ; preds .9,.2,.7,.1,.9  -> tp1 fn1 fp1 tn1 (the 9 is ignored)
    # AU B: labels 1,-1,1,999,0 ; preds .6,.9,.4,.1,.3 -> tp1 fn1 tn1 (the -1 and 999 are ignored)
    y = np.array([[1, 1], [1, -1], [0, 1], [0, 999], [9, 0]])
    p = np.array([[0.9, 0.6], [0.2, 0.9], [0.7, 0.4], [0.1, 0.1], [0.9, 0.3]])
    s = au_scores(y, p, aus=(1, 2))
    np.testing.assert_allclose(s.precision, [0.5, 1.0])
    np.testing.assert_allclose(s.recall, [0.5, 0.5])
    np.testing.assert_allclose(s.f1, [0.5, 2 / 3])
    np.testing.assert_allclose(s.accuracy, [0.5, 2 / 3])
    np.testing.assert_array_equal(s.support, [4, 3])
    assert s.mean_f1 == pytest.approx((0.5 + 2 / 3) / 2)
    assert s.as_dict()["per_au"]["AU02"]["support"] == 3


def test_threshold_is_inclusive_and_no_positive_gives_zero_f1():
    y = np.array([[1, 0], [0, 0]])
    p = np.array([[0.5, 0.1], [0.49, 0.2]])
    s = au_scores(y, p)
    assert s.f1[0] == 1.0
    assert s.f1[1] == 0.0 and s.accuracy[1] == 1.0


def test_known_mask():
    np.testing.assert_array_equal(known_mask(np.array([0, 1, -1, 9, 999, -5])), [1, 1, 0, 0, 0, 0])


def test_shape_mismatch_raises():
    with pytest.raises(ValueError):
        au_scores(np.zeros((3, 2)), np.zeros((3, 3)))


def test_streaming_keras_metric_agrees_with_numpy():
    from keras_au.au_f1_metric import AUF1Score

    rng = np.random.default_rng(0)
    y = rng.choice([0, 1, -1, 9, 999], size=(257, 5), p=[0.45, 0.35, 0.1, 0.05, 0.05])
    p = rng.random((257, 5))
    m = AUF1Score(num_aus=5, aus=(1, 2, 4, 6, 12))
    for i in range(0, 257, 64):  # several batches, the last one short
        m.update_state(y[i : i + 64], p[i : i + 64])
    ref = au_scores(y, p, aus=(1, 2, 4, 6, 12))
    assert float(m.result()) == pytest.approx(ref.mean_f1, abs=1e-6)
    got = m.scores()
    np.testing.assert_allclose(got.f1, ref.f1, atol=1e-6)
    np.testing.assert_allclose(got.precision, ref.precision, atol=1e-6)
    np.testing.assert_array_equal(got.support, ref.support)
    m.reset_state()
    assert float(m.result()) == 0.0
    y[:, 4] = -1  # an AU this data never labels stays out of both means
    m.update_state(y, p)
    assert float(m.result()) == pytest.approx(au_scores(y, p).mean_f1, abs=1e-6)
    m.reset_state()
    assert AUF1Score.from_config(m.get_config()).aus == (1, 2, 4, 6, 12)


def test_auc_counts_pairs_with_ties_half_and_skips_unknowns():
    labels = np.array([[1, 0], [0, 0], [1, 1], [0, -1], [-1, 0]])
    probs = np.array([[0.9, 0.2], [0.4, 0.1], [0.4, 0.3], [0.2, 0.9], [0.99, 0.5]])
    auc = au_auc(labels, probs)
    # AU 1: positives {0.9, 0.4} vs negatives {0.4, 0.2}: pairs 1 + 1 + 0.5 (tie) + 1 = 3.5 of 4
    assert auc[0] == pytest.approx(3.5 / 4)
    # AU 2: one positive 0.3 vs negatives {0.2, 0.1, 0.5}: 2 of 3
    assert auc[1] == pytest.approx(2 / 3)
    assert np.isnan(au_auc(np.array([[1], [1]]), np.array([[0.2], [0.8]])))[0]


def test_baseline_and_report():
    labels = np.array([[1, 0], [0, 0], [1, 1], [0, -1]])
    base = all_positive_baseline(labels, aus=(1, 2))
    np.testing.assert_allclose(base.recall, [1, 1])
    np.testing.assert_allclose(base.f1, [2 * 2 / (2 * 2 + 2), 2 * 1 / (2 * 1 + 2)])
    rep = detection_report(labels, np.array([[0.9, 0.1], [0.1, 0.2], [0.8, 0.7], [0.3, 0.0]]), (1, 2))
    assert rep["mean_f1"] == pytest.approx(1.0) and rep["mean_auc"] == pytest.approx(1.0)
    assert rep["baseline"]["mean_f1"] == pytest.approx(base.mean_f1)
    assert rep["per_au"]["AU02"]["auc"] == pytest.approx(1.0)
    # calibration at 0.5: AU02's one unknown label is left out of both rates
    assert rep["per_au"]["AU01"]["positive_rate"] == pytest.approx(0.5)
    assert rep["per_au"]["AU01"]["predicted_rate"] == pytest.approx(0.5)
    assert rep["per_au"]["AU02"]["positive_rate"] == pytest.approx(1 / 3)
    # scores that rank perfectly but all sit above 0.5: AUC 1, yet every frame is called positive
    high = detection_report(labels, np.array([[0.9, 0.6], [0.6, 0.7], [0.8, 0.9], [0.7, 0.1]]), (1, 2))
    assert high["per_au"]["AU01"]["auc"] == pytest.approx(1.0)
    assert high["per_au"]["AU01"]["predicted_rate"] == pytest.approx(1.0)
    assert high["per_au"]["AU01"]["f1"] == pytest.approx(base.f1[0])
    assert detection_report(-np.ones((2, 1)), np.ones((2, 1)), (1,))["per_au"]["AU01"]["positive_rate"] is None


def test_means_skip_aus_without_any_known_label():
    labels = np.array([[1, -1], [0, -1], [1, 9]])
    probs = np.array([[0.9, 0.9], [0.1, 0.9], [0.2, 0.1]])
    s = au_scores(labels, probs)
    assert s.support.tolist() == [3, 0] and s.scored.tolist() == [True, False]
    assert s.mean_f1 == pytest.approx(s.f1[0]) and s.mean_accuracy == pytest.approx(s.accuracy[0])
    assert au_scores(-np.ones((2, 2)), np.ones((2, 2))).mean_f1 == 0.0
