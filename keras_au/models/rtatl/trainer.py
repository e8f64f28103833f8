"""Joint RTATL training: backbone + RoI inpainting GAN + optical-flow head in one ``keras.Model``.

Each ``train_step`` (one forward pass of the backbone on the blanked images):

1. pick one AU per example (stateless RNG keyed on (seed, step): resumable), blank its two P x P patches;
2. backbone forward -> L_sup on the AUs whose RoIs stay intact; G(attended RoI feature) -> patches;
3. D/C update (critic optimizer) on real vs. generated patches (generated ones held constant);
4. G + backbone (+ flow head) update (main optimizer) on L_sup + L_G + lambda_f L_F, with the updated D/C.

Examples without landmarks use the mean shape for RoIs and are left out of the inpainting terms and not
blanked; unknown labels are masked; every skipped item is counted in a metric (``n_no_landmarks`` ...).
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_au.au_f1_metric import AUF1Score
from keras_au.models.rtatl import losses as L
from keras_au.models.rtatl.backbone import FEATURE_STRIDE, RTATLBackbone
from keras_au.models.rtatl.config import RTATLConfig
from keras_au.models.rtatl.flow_head import FlowHead
from keras_au.models.rtatl.roi_extract import blanked_fraction, box_mask, crop_bilinear
from keras_au.models.rtatl.roi_inpainting import PatchClassifier, PatchDiscriminator, PatchGenerator

MEAN_METRICS = ("loss", "l_sup", "l_d", "l_c", "l_adv_g", "l_rec", "l_cg", "l_g", "l_flow", "sup_label_share")
COUNT_METRICS = ("n_no_landmarks", "n_unlabeled", "n_no_flow")


@keras.saving.register_keras_serializable(package="keras_au")
class RTATLTrainer(keras.Model):
    """Training model of one RTATL variant (``RTATLConfig.model_name``); ``call`` = backbone probabilities."""

    def __init__(self, config: dict, weights_path: Optional[str] = None, **kwargs):
        kwargs.setdefault("name", "rtatl_trainer")
        super().__init__(**kwargs)
        self.config_dict = config
        cfg = RTATLConfig.from_dict(config)
        self.cfg = cfg
        m = cfg.model
        self.roii, self.ofe = cfg.roii, cfg.ofe
        self.backbone = RTATLBackbone(weights_path=weights_path, **dataclasses.asdict(m))
        if self.roii:
            self.generator = PatchGenerator(m.patch_size, m.g_widths, name="generator")
            self.discriminator = PatchDiscriminator(m.patch_size, m.d_widths, outputs=1, name="discriminator")
            self.au_classifier = PatchClassifier(m.num_aus, m.patch_size, m.c_widths, name="au_classifier")
        if self.ofe:
            self.flow_head = FlowHead(m.flow_channels, name="flow_head")
        unused = set() if self.roii else {"l_d", "l_c", "l_adv_g", "l_rec", "l_cg", "l_g"}
        unused |= set() if self.ofe else {"l_flow", "n_no_flow"}
        self.trackers = {n: keras.metrics.Mean(name=n) for n in MEAN_METRICS if n not in unused}
        self.trackers.update({n: keras.metrics.Sum(name=n) for n in COUNT_METRICS if n not in unused})
        self.f1 = AUF1Score(m.num_aus, aus=m.aus, name="au_f1")
        self.critic_optimizer = None

    # -- variables ------------------------------------------------------------------------------
    @property
    def main_variables(self) -> list:
        """Backbone + G + flow head: updated by ``optimizer``."""
        out = list(self.backbone.trainable_variables)
        if self.roii:
            out += self.generator.trainable_variables
        if self.ofe:
            out += self.flow_head.trainable_variables
        return out

    @property
    def critic_variables(self) -> list:
        """D + C: updated by ``critic_optimizer``."""
        return self.discriminator.trainable_variables + self.au_classifier.trainable_variables if self.roii else []

    @property
    def metrics(self) -> list:
        return [*self.trackers.values(), self.f1]

    # -- building -------------------------------------------------------------------------------
    def dummy_batch(self, batch_size: int = 2) -> dict:
        m = self.cfg.model
        s = m.input_size
        lm = np.tile(m.resolved_mean_landmarks()[None], (batch_size, 1, 1))
        batch = {"image": np.full((batch_size, s, s, 3), 128.0, np.float32), "landmarks": lm,
                 "au_labels": np.zeros((batch_size, m.num_aus), np.int32)}
        if self.ofe:
            batch["flow"] = np.zeros((batch_size, m.flow_size, m.flow_size, 2), np.float32)
            batch["has_flow"] = np.zeros((batch_size,), np.float32)
        return batch

    def build_all(self) -> None:
        """Creates every variable (by tracing the training forward on a dummy batch) and builds the optimizers."""
        if not self.built:
            # Tracing (not running) the full training graph creates every variable cheaply.
            specs = {k: tf.TensorSpec(v.shape, v.dtype) for k, v in self.dummy_batch().items()}
            tf.function(lambda d: self.training_forward(d, training=False)).get_concrete_function(specs)
            self.built = True
        if getattr(self, "optimizer", None) is not None and not self.optimizer.built:
            self.optimizer.build(self.main_variables)
        if self.critic_optimizer is not None and not self.critic_optimizer.built:
            self.critic_optimizer.build(self.critic_variables)

    def compile(self, optimizer=None, critic_optimizer=None, jit_compile=False, **kwargs):
        t = self.cfg.train
        optimizer = optimizer or keras.optimizers.Adam(t.learning_rate)
        super().compile(optimizer=optimizer, jit_compile=jit_compile, **kwargs)
        if self.roii:
            critic = critic_optimizer or keras.optimizers.Adam(t.critic_learning_rate)
            if self.dtype_policy.name == "mixed_float16":
                critic = keras.optimizers.LossScaleOptimizer(critic)
            self.critic_optimizer = critic
        self.build_all()

    def call(self, inputs, training=None):
        return self.backbone(inputs, training=training)

    # -- the shared forward pieces ----------------------------------------------------------------
    def prepare(self, data: dict, step) -> dict:
        """Normalise, sanitise landmarks and (RoII) blank one random AU's patches per example."""
        m, t = self.cfg.model, self.cfg.train
        landmarks = tf.convert_to_tensor(data["landmarks"], tf.float32)
        if "has_landmarks" in data:  # the pipeline's flag; all-zero landmarks mean "missing" to the backbone
            landmarks = tf.where(tf.cast(data["has_landmarks"], tf.float32)[:, None, None] > 0, landmarks, 0.0)
        normed, unit, lm, valid = self.backbone.preprocess(data["image"], landmarks)
        centers = self.backbone.au_centers(lm)  # (B, A, 2, 2)
        b = tf.shape(normed)[0]
        prep = {"normed": normed, "landmarks": lm, "valid": valid, "intact": tf.ones((b, m.num_aus))}
        if not self.roii:
            return prep
        seed = tf.stack([tf.constant(t.seed, tf.int32), tf.cast(step, tf.int32)])
        chosen = tf.random.stateless_uniform((b,), seed, 0, m.num_aus, dtype=tf.int32)
        blanks = tf.gather(centers, chosen, batch_dims=1)  # (B, 2, 2)
        half = m.patch_size / 2.0
        mask = box_mask(blanks, half, m.image_size) * valid[:, None, None, None]
        roi_half = m.roi_size * FEATURE_STRIDE / 2.0
        frac = blanked_fraction(tf.reshape(centers, (b, -1, 2)), roi_half, blanks, half)  # (B, 2A)
        frac = tf.reduce_max(tf.reshape(frac, (b, m.num_aus, 2)), axis=-1)
        intact = tf.logical_or(frac <= t.intact_max_blanked, valid[:, None] <= 0)
        real = crop_bilinear(unit, blanks, m.patch_size)  # stride 1: pixel coords are map coords
        prep.update(normed=normed * (1.0 - mask), blank_mask=mask, chosen=chosen, intact=tf.cast(intact, tf.float32),
                    real=tf.reshape(real, (-1, m.patch_size, m.patch_size, 3)))
        return prep

    def _chosen_features(self, attended, chosen):
        idx = tf.stack([2 * chosen, 2 * chosen + 1], axis=1)  # the AU's two RoI tokens
        return tf.reshape(tf.gather(attended, idx, batch_dims=1), (-1, self.cfg.model.dim))

    def _patch_targets(self, labels, probs, chosen):
        """Label of the blanked AU; the backbone's thresholded prediction where unknown (pseudo-label)."""
        lab = tf.gather(labels, chosen, batch_dims=1)
        pseudo = tf.cast(tf.stop_gradient(tf.gather(probs, chosen, batch_dims=1)) >= self.cfg.train.pseudo_threshold,
                         tf.float32)
        return tf.where(lab >= 0, tf.cast(lab, tf.float32), pseudo)

    def flow_target(self, data):
        """TV-L1 target of the batch in model-image pixels (the pipeline gives input-crop pixels)."""
        m = self.cfg.model
        return tf.cast(data["flow"], tf.float32) * (m.image_size / float(m.input_size))

    def training_forward(self, data: dict, training: bool = False, step=0) -> dict:
        """Every module of the training graph once (no updates): used to build variables and count FLOPs."""
        prep = self.prepare(data, step)
        out = self.backbone.forward(prep["normed"], prep["landmarks"], training=training)
        res = {"probs": out["probs"], "intact": prep["intact"]}
        if self.roii:
            fake = self.generator(self._chosen_features(out["attended"], prep["chosen"]), training=training)
            res.update(fake=fake, real=prep["real"], blank_mask=prep["blank_mask"],
                       d_real=self.discriminator(prep["real"]), d_fake=self.discriminator(fake),
                       c_real=self.au_classifier(prep["real"]), c_fake=self.au_classifier(fake))
        if self.ofe:
            res["flow"] = self.flow_head(out["global_maps"], training=training)
        return res

    # -- training -------------------------------------------------------------------------------
    def _critic_step(self, real, fake, au, targets, weights):
        with tf.GradientTape() as tape:
            l_d = L.discriminator_loss(self.discriminator(real, training=True),
                                       self.discriminator(fake, training=True), weights)
            l_c = L.patch_classification_loss(self.au_classifier(real, training=True), au, targets, weights)
            scaled = self.critic_optimizer.scale_loss(l_d + l_c)
        variables = self.critic_variables
        self.critic_optimizer.apply_gradients(zip(tape.gradient(scaled, variables), variables))
        return l_d, l_c

    def train_step(self, data):
        t = self.cfg.train
        labels = tf.cast(data["au_labels"], tf.int32)
        prep = self.prepare(data, self.optimizer.iterations)
        variables = self.main_variables
        logs = {}
        with tf.GradientTape() as tape:
            out = self.backbone.forward(prep["normed"], prep["landmarks"], training=True)
            l_sup = L.supervised_loss(labels, out["logits"], prep["intact"], t.sup_pos_weight)
            total, reported = l_sup, l_sup
            logs["l_sup"] = l_sup
            if self.roii:
                fake = self.generator(self._chosen_features(out["attended"], prep["chosen"]), training=True)
                au2 = tf.repeat(prep["chosen"], 2)
                y2 = tf.repeat(self._patch_targets(labels, out["probs"], prep["chosen"]), 2)
                w2 = tf.repeat(prep["valid"], 2)
                with tape.stop_recording():
                    l_d, l_c = self._critic_step(prep["real"], tf.stop_gradient(fake), au2, y2, w2)
                l_adv_g = L.generator_adversarial_loss(self.discriminator(fake, training=True), w2)
                l_rec = L.reconstruction_loss(prep["real"], fake, w2)
                l_cg = L.patch_classification_loss(self.au_classifier(fake, training=True), au2, y2, w2)
                l_g = t.lambda_adv * l_adv_g + (1.0 - t.lambda_adv) * l_rec + t.lambda_cls * l_cg
                total = total + l_g
                reported = reported + l_d + l_g
                logs.update(l_d=l_d, l_c=l_c, l_adv_g=l_adv_g, l_rec=l_rec, l_cg=l_cg, l_g=l_g)
            if self.ofe:
                pred = self.flow_head(out["global_maps"], training=True)
                l_flow = L.flow_loss(pred, self.flow_target(data), data["has_flow"])
                total = total + t.lambda_flow * l_flow
                reported = reported + t.lambda_flow * l_flow
                logs["l_flow"] = l_flow
            scaled = self.optimizer.scale_loss(total)
        self.optimizer.apply_gradients(zip(tape.gradient(scaled, variables), variables))

        logs["loss"] = reported  # L = L_sup + L_D + L_G + lambda_f L_F (paper's total)
        known = ops.cast(labels >= 0, "float32")
        logs["sup_label_share"] = ops.sum(known * prep["intact"]) / ops.maximum(ops.sum(known), 1.0)
        for name, value in logs.items():
            self.trackers[name].update_state(value)
        self.trackers["n_no_landmarks"].update_state(ops.sum(1.0 - prep["valid"]))
        self.trackers["n_unlabeled"].update_state(ops.sum(1.0 - ops.max(known, axis=-1)))
        if self.ofe:
            self.trackers["n_no_flow"].update_state(ops.sum(1.0 - ops.cast(data["has_flow"], "float32")))
        self.f1.update_state(labels, out["probs"])
        return {m.name: m.result() for m in self.metrics}

    def test_step(self, data):
        labels = tf.cast(data["au_labels"], tf.int32)
        normed, _, lm, _ = self.backbone.preprocess(data["image"], data["landmarks"])
        out = self.backbone.forward(normed, lm, training=False)
        l_sup = L.supervised_loss(labels, out["logits"], pos_weight=self.cfg.train.sup_pos_weight)
        self.trackers["l_sup"].update_state(l_sup)
        self.trackers["loss"].update_state(l_sup)
        self.f1.update_state(labels, out["probs"])
        return {n: self.trackers[n].result() for n in ("loss", "l_sup")} | {"au_f1": self.f1.result()}

    # -- state for checkpoints ------------------------------------------------------------------
    def state_variables(self) -> dict:
        """Everything a resumed run needs, by group: model (incl. RNG seed states) and both optimizers."""
        groups = {"model": list(self.variables)}
        if getattr(self, "optimizer", None) is not None:
            groups["optimizer"] = list(self.optimizer.variables)
        if self.critic_optimizer is not None:
            groups["critic_optimizer"] = list(self.critic_optimizer.variables)
        return groups

    def get_config(self) -> dict:
        return {"config": self.config_dict, "name": self.name}
