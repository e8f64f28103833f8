"""Loss terms of the in-the-wild model. Every batch-level term is a masked mean that is 0 (not 0/0) when
the mask is empty, so batches without labels or landmarks never produce NaN."""

from __future__ import annotations

import numpy as np
from keras import ops

from keras_au.distribute import global_mean
from keras_au.losses import bce_with_logits, weight_positives, weighted_mean
from keras_au.metrics import known_mask
from keras_au.models.wild.landmarks49 import inter_ocular


def masked_mean(values, mask):
    """sum(values * mask) / sum(mask), and 0 when the mask is empty; under a strategy the replica's share
    of the global-batch mean (``keras_au.losses.weighted_mean``: the global count divides)."""
    return weighted_mean(values, mask)


# --- AU detection -----------------------------------------------------------------------------------

def au_class_weights(labels: np.ndarray) -> np.ndarray:
    """Per-AU weights of the multi-label cross-entropy: proportional to 1 / positive rate over known labels,
    normalised to sum to the number of AUs. An AU without positives (or without known labels) is given the
    rate it would have with one positive, so its weight stays finite."""
    y = np.asarray(labels)
    known = known_mask(y)
    pos = np.sum((y == 1) & known, axis=0).astype(np.float64)
    n = np.sum(known, axis=0).astype(np.float64)
    rate = np.where(pos > 0, pos / np.maximum(n, 1), 1.0 / (n + 1))
    w = 1.0 / rate
    return (w * len(w) / w.sum()).astype(np.float32)


def weighted_bce(labels, logits, weights, pos_weight=None):
    """Weighted multi-label cross-entropy on logits, averaged over known labels (label < 0 is unknown).
    ``pos_weight`` (A,), optional and not in the paper, also scales each AU's positive terms."""
    y = ops.cast(labels, "float32")
    x = ops.cast(logits, "float32")
    known = ops.cast(y >= 0, "float32")
    target = ops.clip(y, 0.0, 1.0)
    bce = weight_positives(bce_with_logits(target, x), target, pos_weight)
    return masked_mean(bce * ops.cast(weights, "float32")[None, :], known)


# --- landmark branch (L_fl) -------------------------------------------------------------------------

def _landmark_mask(target, mask):
    d = inter_ocular(target)
    valid = ops.logical_and(ops.cast(mask, "float32") > 0, d > 1e-6)
    return d, ops.cast(valid, "float32")


def landmark_loss(pred, target, mask):
    """L_fl = (1 / 2d^2) * sum_i ||y_i - yhat_i||^2 per face, d = inter-ocular distance of the target (eye
    centres); averaged over faces with landmarks. ``pred``/``target`` (B, 49, 2) in the same units."""
    pred, target = ops.cast(pred, "float32"), ops.cast(target, "float32")
    d, valid = _landmark_mask(target, mask)
    per_face = ops.sum(ops.square(pred - target), axis=(1, 2)) / (2.0 * ops.square(ops.maximum(d, 1e-6)))
    return masked_mean(per_face, valid)


def landmark_nme(pred, target, mask):
    """Normalised mean error: mean over points of ||y_i - yhat_i|| / d, averaged over faces with landmarks."""
    pred, target = ops.cast(pred, "float32"), ops.cast(target, "float32")
    d, valid = _landmark_mask(target, mask)
    per_face = ops.mean(ops.sqrt(ops.sum(ops.square(pred - target), axis=-1)), axis=-1) / ops.maximum(d, 1e-6)
    return masked_mean(per_face, valid)


# --- E_l response maps (L_l) and the landmark discriminator (L_adl) ----------------------------------

def heatmap_indices(landmarks_px, crop_size: int, grid: int):
    """Landmarks in crop pixels (B, L, 2) -> flat index of their cell on a grid x grid map (B, L)."""
    cell = ops.floor(ops.cast(landmarks_px, "float32") * (grid / crop_size))
    cell = ops.clip(ops.cast(cell, "int32"), 0, grid - 1)
    return cell[..., 1] * grid + cell[..., 0]


def _flat_maps(maps):
    shape = ops.shape(maps)
    return ops.transpose(ops.reshape(ops.cast(maps, "float32"), (shape[0], -1, shape[3])), (0, 2, 1))  # (B, L, HW)


def heatmap_loss(logits, indices, mask):
    """ADLD's landmark loss: softmax cross-entropy over positions for each landmark map, mean over landmarks."""
    flat = _flat_maps(logits)
    logp = flat - ops.logsumexp(flat, axis=-1, keepdims=True)
    onehot = ops.one_hot(indices, ops.shape(flat)[-1])
    per_face = -ops.mean(ops.sum(onehot * logp, axis=-1), axis=-1)
    return masked_mean(per_face, mask)


def landmark_discriminator_loss(maps, indices, mask):
    """D_l's least-squares loss: raw maps regressed to one-hot landmark maps."""
    flat = _flat_maps(maps)
    onehot = ops.one_hot(indices, ops.shape(flat)[-1])
    return masked_mean(ops.mean(ops.square(flat - onehot), axis=(1, 2)), mask)


def landmark_adversarial_loss(maps):
    """G_b's loss against D_l (L_adl): D_l's maps regressed to the uniform map 1/(HW)."""
    flat = _flat_maps(maps)
    uniform = 1.0 / ops.cast(ops.shape(flat)[-1], "float32")
    return global_mean(ops.square(flat - uniform))


# --- domain discriminator (L_adf) and reconstruction --------------------------------------------------

def lsgan_loss(scores, real: bool):
    """Least-squares GAN loss: mean (s - 1)^2 for real targets, mean s^2 for fake."""
    s = ops.cast(scores, "float32")
    return global_mean(ops.square(s - 1.0)) if real else global_mean(ops.square(s))


def l1_loss(a, b):
    """Mean absolute difference (ADLD's reconstruction criterion)."""
    return global_mean(ops.abs(ops.cast(a, "float32") - ops.cast(b, "float32")))
