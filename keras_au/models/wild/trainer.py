"""Stage 2: joint training of E_f, landmark branch, separation/reconstruction, contrastive alignment and F_au.

One ``train_step`` per (source batch, target batch): first the discriminators (D_l, D_d source/target)
on detached features, then generators (G_b, G_st, P_ij) and task nets (E_f, E_l, F_au, landmark head)
against the updated discriminators. Three Adam optimizers as in ADLD's public code.
"""

from __future__ import annotations

from typing import Optional, Sequence

import keras
import tensorflow as tf
from keras import ops

from keras_au.au_f1_metric import AUF1Score
from keras_au.distribute import global_value, loss_scaled, rescale_gradients
from keras_au.models.wild.config import WildConfig
from keras_au.models.wild.contrastive import PAIRS, contrastive_loss
from keras_au.models.wild.landmarks49 import au_centre_targets, targets49
from keras_au.models.wild.network import split_domains, stack_domains
from keras_au.models.wild.losses import (
    heatmap_indices, heatmap_loss, l1_loss, landmark_adversarial_loss, landmark_discriminator_loss,
    landmark_loss, lsgan_loss, weighted_bce,
)
from keras_au.models.wild.tracking import make_trackers, skipped


class WildTrainer(keras.Model):
    """Wraps a ``WildNetwork``; ``compile(task_optimizer, generator_optimizer, discriminator_optimizer)``.

    Logged terms (unweighted): l_au, l_l (E_l landmark maps), l_fl (landmark branch), l_adl, l_adf,
    l_c and its six pairs (l_c_s ...), l_cycle, l_self (ADLD reconstruction, bl/ml), d_l, d_d, and the
    weighted totals ``loss`` (generator/task) and ``d_loss``; ``au_f1`` on source images; per-epoch counts of
    faces without landmarks (``lm_skipped_source``/``lm_skipped_target``), which are masked out.
    """

    def __init__(self, network, config: WildConfig, au_weights: Sequence[float],
                 pos_weight: Optional[Sequence[float]] = None, **kwargs):
        super().__init__(**kwargs)
        self.network, self.config = network, config
        self.au_weights = [float(w) for w in au_weights]
        self.pos_weight = None if pos_weight is None else [float(w) for w in pos_weight]
        for name, w in (("AU weights", self.au_weights), ("positive weights", self.pos_weight)):
            if w is not None and len(w) != len(config.aus):
                raise ValueError(f"{len(w)} {name} for {len(config.aus)} AUs")
        means = ["loss", "d_loss", "l_au", "l_l", "l_adl", "l_adf", "d_l", "d_d"]
        if config.use_landmark_branch:
            means.append("l_fl")
        if config.use_contrastive:
            means += ["l_c"] + [f"l_c_{p}" for p in PAIRS]
        if config.lambda_cycle:
            means.append("l_cycle")
        if config.lambda_self:
            means.append("l_self")
        self.trackers = make_trackers(means, ["lm_skipped_source", "lm_skipped_target"])
        self.au_f1 = AUF1Score(len(config.aus), aus=config.aus, name="au_f1")

    @property
    def metrics(self):
        return [*self.trackers.values(), self.au_f1]

    def compile(self, task_optimizer, generator_optimizer, discriminator_optimizer, **kwargs):
        super().compile(optimizer=task_optimizer, **kwargs)  # Keras loss-scales this one under mixed_float16
        self.generator_optimizer = loss_scaled(generator_optimizer, self.dtype_policy.name)
        self.discriminator_optimizer = loss_scaled(discriminator_optimizer, self.dtype_policy.name)

    def build(self, input_shape=None):
        if not self.network.built:
            self.network.build()
        self.built = True

    def build_optimizers(self) -> None:
        """Create optimizer slots up front (needed before restoring a checkpoint)."""
        net = self.network
        for opt, variables in ((self.optimizer, net.task_variables()),
                               (self.generator_optimizer, net.generator_variables()),
                               (self.discriminator_optimizer, net.discriminator_variables())):
            if not opt.built:
                opt.build(variables)

    def call(self, images, training=False):
        return self.network(images, training=training)

    # --- the step -------------------------------------------------------------------------------------

    def _targets(self, data) -> dict:
        cfg = self.config
        src, tgt = data["source"], data["target"]
        grid = cfg.feature_size
        t = {"y_s": src["au_labels"], "lm_s": targets49(src["landmarks"], cfg.crop_size),
             "lm_t": targets49(tgt["landmarks"], cfg.crop_size), "m_s": ops.cast(src["has_landmarks"], "float32")}
        t["m_t"] = ops.cast(tgt["has_landmarks"], "float32") * (1.0 if cfg.landmarks_on_target else 0.0)
        # ADLD moves 12 of the heat-map targets (L_l, D_l) onto AU centres, so E_l's attention, which G_st
        # recombines, peaks where the AUs are; the landmark branch (L_fl) keeps the plain points.
        refine = au_centre_targets if cfg.au_centre_landmarks else (lambda x: x)
        t["idx_s"] = heatmap_indices(refine(t["lm_s"]), 1, grid)
        t["idx_t"] = heatmap_indices(refine(t["lm_t"]), 1, grid)
        return t

    def _landmark_discriminator(self, o: dict, detach: bool) -> dict:
        """D_l on both domains' backgrounds in one call (instance norm: per-sample, so identical results)."""
        fb = stack_domains(o["Fb_s"], o["Fb_t"])
        maps = {}
        split_domains(maps, ("s", "t"), self.network.landmark_discriminator(ops.stop_gradient(fb) if detach else fb))
        return maps

    def _discriminator_loss(self, o: dict, t: dict) -> dict:
        net, sg = self.network, ops.stop_gradient
        maps = self._landmark_discriminator(o, detach=True)
        d_l = 0.5 * (landmark_discriminator_loss(maps["s"], t["idx_s"], t["m_s"])
                     + landmark_discriminator_loss(maps["t"], t["idx_t"], t["m_t"]))
        d_s = 0.5 * (lsgan_loss(net.source_discriminator(sg(o["F_s"])), True)
                     + lsgan_loss(net.source_discriminator(sg(o["F_tlsb"])), False))
        d_t = 0.5 * (lsgan_loss(net.target_discriminator(sg(o["F_t"])), True)
                     + lsgan_loss(net.target_discriminator(sg(o["F_sltb"])), False))
        d_d = 0.5 * (d_s + d_t)
        return {"d_l": d_l, "d_d": d_d, "d_loss": d_l + d_d}

    def _generator_loss(self, o: dict, t: dict) -> dict:
        cfg, net, sg = self.config, self.network, ops.stop_gradient
        terms = {}
        maps = self._landmark_discriminator(o, detach=False)
        terms["l_adl"] = 0.5 * (landmark_adversarial_loss(maps["s"]) + landmark_adversarial_loss(maps["t"]))
        terms["l_adf"] = 0.5 * (lsgan_loss(net.source_discriminator(o["F_tlsb"]), True)
                                + lsgan_loss(net.target_discriminator(o["F_sltb"]), True))
        terms["l_au"] = 0.5 * (weighted_bce(t["y_s"], o["au_s"], self.au_weights, self.pos_weight)
                               + weighted_bce(t["y_s"], o["au_sltb"], self.au_weights, self.pos_weight))
        terms["l_l"] = 0.5 * (heatmap_loss(o["R_s"], t["idx_s"], t["m_s"])
                              + heatmap_loss(o["R_t"], t["idx_t"], t["m_t"])
                              + heatmap_loss(o["R2_sl"], t["idx_s"], t["m_s"])
                              + heatmap_loss(o["R2_tl"], t["idx_t"], t["m_t"]))
        total = (cfg.lambda_adl * terms["l_adl"] + cfg.lambda_adf * terms["l_adf"] + cfg.lambda_au * terms["l_au"]
                 + cfg.lambda_l * terms["l_l"])
        if cfg.use_landmark_branch:
            stems = ops.concatenate([o["stem_s"], o["stem_t"]], axis=0)
            pred = net.landmarks_from_stem(stems, training=True)
            terms["l_fl"] = landmark_loss(pred, ops.concatenate([t["lm_s"], t["lm_t"]], axis=0),
                                          ops.concatenate([t["m_s"], t["m_t"]], axis=0))
            total += cfg.lambda_fl * terms["l_fl"]
        if cfg.use_contrastive:
            projected, originals = net.project(o)
            terms["l_c"], pairs = contrastive_loss(projected, originals, cfg.contrastive_stop_gradient)
            terms.update({f"l_c_{k}": v for k, v in pairs.items()})
            total += cfg.lambda_c * terms["l_c"]
        if cfg.lambda_cycle:
            terms["l_cycle"] = 0.5 * (l1_loss(o["F2_s"], sg(o["F_s"])) + l1_loss(o["F2_t"], sg(o["F_t"])))
            total += cfg.lambda_cycle * terms["l_cycle"]
        if cfg.lambda_self:
            terms["l_self"] = 0.5 * (l1_loss(o["F_ss"], sg(o["F_s"])) + l1_loss(o["F_tt"], sg(o["F_t"])))
            total += cfg.lambda_self * terms["l_self"]
        terms["loss"] = total
        return terms

    def training_forward(self, data) -> dict:
        """Stage 2's losses on one batch without an update: the discriminators' and the generators' terms
        (what ``keras-au summary`` counts as the training graph)."""
        o = self.network.translate(data["source"]["image"], data["target"]["image"], training=True,
                                   self_reconstruction=bool(self.config.lambda_self))
        t = self._targets(data)
        return {**self._discriminator_loss(o, t), **self._generator_loss(o, t)}

    def train_step(self, data):
        net, t = self.network, self._targets(data)
        d_vars = net.discriminator_variables()
        g_vars, task_vars = net.generator_variables(), net.task_variables()
        with tf.GradientTape() as tape:
            o = net.translate(data["source"]["image"], data["target"]["image"], training=True,
                              self_reconstruction=bool(self.config.lambda_self))
            if self.config.au_bn_all_domains:
                # ADLD also runs F_au in train mode on F_t and F_tlsb (outputs unused in its weak mode): its BN
                # moving statistics then cover target-domain features, which the target test path feeds it.
                with tape.stop_recording():
                    for f in (o["F_t"], o["F_tlsb"]):  # one call each, as ADLD (batch statistics per domain)
                        net.au_detector(ops.stop_gradient(f), training=True)
            with tape.stop_recording():
                # 1. discriminators on detached features
                with tf.GradientTape() as d_tape:
                    d_terms = self._discriminator_loss(o, t)
                    d_scaled = self.discriminator_optimizer.scale_loss(d_terms["d_loss"])
                _apply(self.discriminator_optimizer, d_tape.gradient(d_scaled, d_vars), d_vars)
            # 2. generators and task nets against the updated discriminators
            g_terms = self._generator_loss(o, t)
            g_scaled = self.generator_optimizer.scale_loss(g_terms["loss"])
        # One backward pass feeds two optimizers; the task optimizer's share is rescaled to its own loss scale.
        grads = tape.gradient(g_scaled, g_vars + task_vars)
        _apply(self.generator_optimizer, grads[: len(g_vars)], g_vars)
        _apply(self.optimizer, rescale_gradients(grads[len(g_vars):], self.generator_optimizer, self.optimizer),
               task_vars)

        for name, value in {**d_terms, **g_terms}.items():  # replica shares -> global-batch values
            self.trackers[name].update_state(global_value(value))
        self.trackers["lm_skipped_source"].update_state(skipped(data["source"]["has_landmarks"]))
        self.trackers["lm_skipped_target"].update_state(skipped(data["target"]["has_landmarks"]))
        self.au_f1.update_state(t["y_s"], ops.sigmoid(ops.cast(o["au_s"], "float32")))
        return {m.name: m.result() for m in self.metrics}


def _apply(optimizer, grads, variables) -> None:
    """Apply the gradients that exist (a module unused by the current variant gets none)."""
    pairs = [(g, v) for g, v in zip(grads, variables) if g is not None]
    if pairs:
        optimizer.apply([g for g, _ in pairs], [v for _, v in pairs])
