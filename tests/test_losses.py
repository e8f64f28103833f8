"""Shared masked losses: class-balanced BCE against hand-computed values."""

import numpy as np
import pytest

from keras_au.losses import balanced_pos_weight, masked_bce


def _bce(y, x):
    return np.log1p(np.exp(x)) - x * y


def test_balanced_pos_weight_counts_known_labels_only():
    y = np.array([[1, 0, -1], [0, 0, -1], [0, 0, -1], [0, 1, 0]])
    np.testing.assert_allclose(balanced_pos_weight(y), [3.0, 3.0, 1.0])  # AU3 has no positive -> 1
    many = np.zeros((50, 1), int)
    many[0] = 1
    assert balanced_pos_weight(many, max_weight=10.0)[0] == 10.0


def test_masked_bce_with_pos_weight_matches_hand_computation():
    y = np.array([[1, 0], [0, -1], [1, 1]])
    x = np.array([[0.3, -1.0], [2.0, 5.0], [-0.5, 0.7]], np.float32)
    w = np.array([2.0, 4.0])
    known = y >= 0
    t = np.where(known, y, 0)
    per = _bce(t, x) * (1 + (w - 1) * t)
    want = per[known].sum() / known.sum()
    assert float(masked_bce(y, x, pos_weight=w)) == pytest.approx(want, rel=1e-5)
    plain = _bce(t, x)[known].mean()
    assert float(masked_bce(y, x)) == pytest.approx(plain, rel=1e-5)
    assert float(masked_bce(y, x, pos_weight=np.ones(2))) == pytest.approx(plain, rel=1e-5)
    assert float(masked_bce(np.full((2, 2), -1), x[:2])) == 0.0  # nothing known: 0, not NaN


def test_inverse_rate_weight_is_known_over_positives():
    y = np.array([[1, 0, -1], [0, 0, -1], [0, 0, -1], [0, 1, 0]])
    np.testing.assert_allclose(balanced_pos_weight(y, rule="inverse_rate"), [4.0, 4.0, 1.0])
    with pytest.raises(ValueError, match="inverse_rate"):
        balanced_pos_weight(y, rule="sqrt")


@pytest.mark.parametrize("rate", [0.05, 0.1, 0.3, 0.5, 0.7])
def test_an_uninformative_score_falls_back_to_all_positive_under_inverse_rate(rate):
    """A score that knows nothing (one logit for every frame) settles where the weighted BCE is smallest: at the
    balanced-error point (logit 0, a coin flip at 0.5) with negatives/positives, above 0 with 1/rate, i.e.
    the AU is called on every frame and F1 is the all-positive F1."""
    from scipy.optimize import minimize_scalar

    y = (np.arange(1000) < rate * 1000).astype(int)[:, None]

    def best_logit(rule):
        w = balanced_pos_weight(y, rule=rule)
        loss = lambda b: float(masked_bce(y, np.full(y.shape, b, np.float32), pos_weight=w))  # noqa: E731
        return minimize_scalar(loss, bounds=(-3, 3), method="bounded", options={"xatol": 1e-3}).x

    if 0.1 <= rate <= 0.5:  # negatives/positives is clipped to [1, 10]: plain BCE above half the frames
        assert abs(best_logit("neg_over_pos")) < 0.02
    w = min(1 / rate, 11.0)
    assert best_logit("inverse_rate") == pytest.approx(np.log(w * rate / (1 - rate)), abs=0.02)
    if rate >= 1 / 11:  # below, the cap of 11 holds the call under 0.5, still above the other rule's
        assert best_logit("inverse_rate") > 0.05
    assert best_logit("inverse_rate") > best_logit("neg_over_pos")
