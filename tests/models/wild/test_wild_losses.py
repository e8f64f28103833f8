"""Loss terms on hand-made cases: AU weights, weighted CE masking, inter-ocular normalisation, empty masks."""

from __future__ import annotations

import numpy as np
import pytest

from keras_au.models.wild import losses


def test_au_weights_from_positive_rates_with_unknowns():
    labels = np.array([
        [1, 0, 1, -1],
        [0, 0, 1, 1],
        [1, 1, -1, 0],
        [0, 0, 1, 0],
        [-1, 0, 1, 999],  # 999 (EmotioNet's unknown) is masked too
    ])
    w = losses.au_class_weights(labels)
    rates = np.array([2 / 4, 1 / 5, 4 / 4, 1 / 3])  # positives / known labels per AU
    expected = (1 / rates) * 4 / np.sum(1 / rates)
    np.testing.assert_allclose(w, expected, rtol=1e-6)
    assert w.sum() == pytest.approx(4.0)
    assert w[1] > w[0] > w[2]  # rarer AU -> larger weight


def test_au_weights_stay_finite_without_positives():
    w = losses.au_class_weights(np.array([[0, 1], [0, 1], [-1, 0]]))
    assert np.all(np.isfinite(w)) and w.sum() == pytest.approx(2.0)
    assert w[0] > w[1]  # never-positive AU treated as the rarest


def test_weighted_bce_masks_unknowns_and_is_zero_when_nothing_is_known():
    logits = np.array([[2.0, -1.0], [0.5, 3.0]], np.float32)
    labels = np.array([[1, -1], [0, 1]])
    weights = np.array([2.0, 0.5], np.float32)

    def bce(x, y):
        return -(y * np.log(1 / (1 + np.exp(-x))) + (1 - y) * np.log(1 - 1 / (1 + np.exp(-x))))

    expected = (2.0 * bce(2.0, 1) + 2.0 * bce(0.5, 0) + 0.5 * bce(3.0, 1)) / 3  # 3 known labels
    assert float(losses.weighted_bce(labels, logits, weights)) == pytest.approx(expected, rel=1e-5)
    empty = float(losses.weighted_bce(-np.ones((2, 2)), logits, weights))
    assert empty == 0.0
    # optional positive weights (demo preset) scale only the positive terms
    pos = np.array([3.0, 4.0], np.float32)
    balanced = (3.0 * 2.0 * bce(2.0, 1) + 2.0 * bce(0.5, 0) + 4.0 * 0.5 * bce(3.0, 1)) / 3
    assert float(losses.weighted_bce(labels, logits, weights, pos)) == pytest.approx(balanced, rel=1e-5)
    assert float(losses.weighted_bce(labels, logits, weights, np.ones(2))) == pytest.approx(expected, rel=1e-5)


def _face49(scale: float, offset=(0.0, 0.0)) -> np.ndarray:
    """A 49-point layout whose eye centres are ``scale`` apart (other points arbitrary)."""
    rng = np.random.default_rng(3)
    lm = rng.uniform(0, 1, size=(49, 2))
    lm[19:25] = [0.0, 0.0]
    lm[25:31] = [1.0, 0.0]
    return (lm * scale + offset).astype(np.float32)


def test_landmark_loss_normalised_by_inter_ocular_distance():
    target = _face49(40.0, (10, 20))
    pred = target.copy()
    pred[0] += [3.0, 4.0]  # one point off by 5 px
    pred[10] += [0.0, 2.0]  # another by 2 px
    d = 40.0
    expected = (25.0 + 4.0) / (2 * d ** 2)
    got = float(losses.landmark_loss(pred[None], target[None], np.ones(1)))
    assert got == pytest.approx(expected, rel=1e-5)
    # Scale invariance: the same face at half the size gives the same normalised loss.
    half = float(losses.landmark_loss(pred[None] / 2, target[None] / 2, np.ones(1)))
    assert half == pytest.approx(expected, rel=1e-5)
    nme = float(losses.landmark_nme(pred[None], target[None], np.ones(1)))
    assert nme == pytest.approx((5.0 + 2.0) / 49 / d, rel=1e-5)


def test_landmark_losses_skip_faces_without_landmarks():
    target = np.stack([_face49(40.0), np.zeros((49, 2), np.float32)])  # 2nd face: no landmarks (zeros)
    pred = target + 1.0
    mask = np.array([1.0, 0.0])
    one = float(losses.landmark_loss(pred[:1], target[:1], mask[:1]))
    assert float(losses.landmark_loss(pred, target, mask)) == pytest.approx(one)
    # All masked (or degenerate d = 0): 0, not NaN.
    assert float(losses.landmark_loss(pred, target, np.zeros(2))) == 0.0
    assert float(losses.landmark_loss(pred[1:], target[1:], np.ones(1))) == 0.0


def test_heatmap_terms():
    grid = 4
    lm = np.array([[[0.1, 0.1], [0.9, 0.6]]], np.float32)  # crop units
    idx = np.asarray(losses.heatmap_indices(lm, 1, grid))
    assert idx.tolist() == [[0, 2 * grid + 3]]
    logits = np.zeros((1, grid, grid, 2), np.float32)
    assert float(losses.heatmap_loss(logits, idx, np.ones(1))) == pytest.approx(np.log(grid * grid), rel=1e-5)
    sharp = logits.copy()
    sharp[0, 0, 0, 0] = sharp[0, 2, 3, 1] = 20.0
    assert float(losses.heatmap_loss(sharp, idx, np.ones(1))) < 1e-6
    assert float(losses.heatmap_loss(sharp, idx, np.zeros(1))) == 0.0
    # D_l regresses one-hot maps; G_b's adversarial target is the uniform map.
    onehot = np.zeros((1, grid, grid, 2), np.float32)
    onehot[0, 0, 0, 0] = onehot[0, 2, 3, 1] = 1.0
    assert float(losses.landmark_discriminator_loss(onehot, idx, np.ones(1))) == 0.0
    assert float(losses.landmark_adversarial_loss(np.full((1, grid, grid, 2), 1 / 16, np.float32))) == 0.0


def test_lsgan_and_contrastive():
    from keras_au.models.wild.contrastive import PAIRS, contrastive_loss

    assert float(losses.lsgan_loss(np.ones((2, 1)), True)) == 0.0
    assert float(losses.lsgan_loss(np.ones((2, 1)), False)) == 1.0
    x = {k: np.full((1, 2, 2, 3), 0.5, np.float32) for k in PAIRS}
    total, terms = contrastive_loss(x, x)
    assert float(total) == 0.0 and set(terms) == set(PAIRS)
    y = {k: v + (0.25 if k == "sl" else 0.0) for k, v in x.items()}
    total, terms = contrastive_loss(y, x)
    assert float(terms["sl"]) == pytest.approx(0.25) and float(total) == pytest.approx(0.25)
