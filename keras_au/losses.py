"""Masked losses shared by the model families (Keras ops, any backend).

Every loss returns a scalar that is exactly 0 — never NaN — when nothing is selected (a batch with
no labeled example, no flow target, no usable landmarks), so mixed labeled/unlabeled training is safe.
Under a ``tf.distribute`` strategy each replica returns its share of the global-batch loss: masked means
divide by the global count of selected entries (see ``keras_au.distribute``).
"""

from __future__ import annotations

import numpy as np
from keras import ops

from keras_au.distribute import global_sum


def known_label_mask(labels):
    """1.0 where an AU label is 0/1, 0.0 where it is unknown (negative)."""
    return ops.cast(ops.greater_equal(labels, 0), "float32")


def weighted_mean(values, weights):
    """sum(values * weights) / max(sum(weights), 1): the mean over selected entries, 0 if none.

    The denominator is summed over replicas, so under a strategy this is the replica's share of the
    global-batch mean (a per-replica mean would weight replicas equally, not items).
    """
    values = ops.cast(values, "float32")
    weights = ops.cast(weights, "float32")
    return ops.sum(values * weights) / ops.maximum(global_sum(ops.sum(weights)), 1.0)


def bce_with_logits(targets, logits):
    """Element-wise stable binary cross-entropy on logits."""
    x = ops.cast(logits, "float32")
    y = ops.cast(targets, "float32")
    return ops.softplus(x) - x * y  # d/dx = sigmoid(x) - y everywhere (no kink at 0)


def masked_bce(labels, logits, mask=None, pos_weight=None):
    """Mean BCE over entries whose label is known (and ``mask`` is set); labels < 0 are unknown.

    ``pos_weight`` (A,) scales the loss of positive labels per AU (class balancing); the mean is still
    taken over the known entries, so weights of 1 give plain BCE.
    """
    known = known_label_mask(labels)
    if mask is not None:
        known = known * ops.cast(mask, "float32")
    targets = ops.where(known > 0, ops.cast(labels, "float32"), 0.0)
    return weighted_mean(weight_positives(bce_with_logits(targets, logits), targets, pos_weight), known)


def weight_positives(loss, targets, pos_weight=None):
    """``loss`` (B, A) with each AU's positive terms scaled by ``pos_weight`` (A,); unchanged when None."""
    if pos_weight is None:
        return loss
    return loss * (1.0 + (ops.cast(pos_weight, "float32") - 1.0) * ops.cast(targets, "float32"))


POS_WEIGHT_RULES = ("neg_over_pos", "inverse_rate")


def balanced_pos_weight(labels, max_weight: float = 10.0, rule: str = "neg_over_pos") -> np.ndarray:
    """Per-AU positive weight from the known labels (N, A); 1 without positives.

    ``neg_over_pos`` = negatives / positives: at a 0.5 threshold the weighted-BCE optimum calls an AU when its
    calibrated probability exceeds the rate p (the balanced-error point). ``inverse_rate`` = known / positives
    = 1/p: the call moves to p / (1 + p), the lowest F1-optimal threshold there is (the optimum is F*/2,
    Lipton et al. 2014, and F* is at least the all-positive 2p / (1 + p)), so an uninformative score falls
    back to predicting the AU everywhere instead of flipping at random around 0.5. Clipped to [1, max_weight]
    (``inverse_rate``: max_weight + 1, one above the other rule's cap, so that it stays above it)."""
    if rule not in POS_WEIGHT_RULES:
        raise ValueError(f"pos-weight rule must be one of {POS_WEIGHT_RULES}, got {rule!r}")
    y = np.asarray(labels)
    known = y >= 0
    pos = ((y == 1) & known).sum(0).astype(np.float64)
    other = ((y == 0) & known).sum(0).astype(np.float64) + (pos if rule == "inverse_rate" else 0.0)
    ratio = np.divide(other, pos, out=np.ones_like(pos), where=pos > 0)
    return np.clip(ratio, 1.0, max_weight + (1.0 if rule == "inverse_rate" else 0.0))


def masked_l1(pred, target, example_weights):
    """Mean absolute error per example, averaged over examples with weight > 0 (weights (B,))."""
    pred = ops.cast(pred, "float32")
    target = ops.cast(target, "float32")
    per_example = ops.mean(ops.reshape(ops.abs(pred - target), (ops.shape(pred)[0], -1)), axis=-1)
    return weighted_mean(per_example, example_weights)
