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
