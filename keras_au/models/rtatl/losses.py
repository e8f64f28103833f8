"""RTATL loss terms (paper Sec. 3): L_sup, the RoI-inpainting GAN terms and the flow loss.

Names follow the paper: L_adv = E[log D(p)] + E[log(1 - D(G(x)))] and L_D = -L_adv (here the BCE form);
L_adv^g = -E[log D(G(x))]; L_rec = E|p - G(x)|_1; L_C = CE(C(p), y); L_c^g = CE(C(G(x)), y);
L_G = lambda1 L_adv^g + (1 - lambda1) L_rec + lambda2 L_c^g; L_F = |f_g - f_p|_1 where flow exists.
All terms take per-example weights so examples without landmarks/flow/labels drop out, never NaN.
"""

from __future__ import annotations

from keras import ops

from keras_au.losses import bce_with_logits, masked_bce, masked_l1, weighted_mean


def supervised_loss(labels, logits, intact=None, pos_weight=None):
    """L_sup: BCE over known labels, restricted to AUs whose RoIs are intact (``intact`` (B, A)).

    ``pos_weight`` (A,) optionally balances positives per AU (not in the paper; see TrainConfig.balance_sup).
    """
    return masked_bce(labels, logits, intact, pos_weight)


def discriminator_loss(real_logits, fake_logits, weights):
    """L_D = -L_adv: D scores real patches 1 and generated ones 0."""
    real = bce_with_logits(ops.ones_like(real_logits), real_logits)[:, 0]
    fake = bce_with_logits(ops.zeros_like(fake_logits), fake_logits)[:, 0]
    return weighted_mean(real, weights) + weighted_mean(fake, weights)


def generator_adversarial_loss(fake_logits, weights):
    """L_adv^g = -E[log D(G(x))] (non-saturating)."""
    return weighted_mean(bce_with_logits(ops.ones_like(fake_logits), fake_logits)[:, 0], weights)


def reconstruction_loss(real, fake, weights):
    """L_rec = E|p - G(x)|_1 per patch, averaged over patches with weight."""
    return masked_l1(fake, real, weights)


def patch_classification_loss(logits, au_index, targets, weights):
    """CE(C(patch), y) on the logit of the patch's own AU: logits (N, A), au_index (N,), targets (N,)."""
    own = ops.take_along_axis(ops.cast(logits, "float32"), ops.expand_dims(au_index, -1), axis=-1)[:, 0]
    return weighted_mean(bce_with_logits(targets, own), weights)


def flow_loss(pred, target, has_flow):
    """L_F: L1 between predicted and TV-L1 flow, only for examples that have a flow target."""
    return masked_l1(pred, target, has_flow)
