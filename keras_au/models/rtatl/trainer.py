"""Joint RTATL training: backbone + RoI inpainting GAN + optical-flow head (or one of Table 1's other
self-supervised heads) in one ``keras.Model``.

Each ``train_step`` (one forward pass of the backbone on the partly blanked images):

1. pick one AU per example and, for a ``blank_fraction`` share of the examples, blank its two P x P patches
   (stateless RNG keyed on (seed, step): resumable);
2. backbone forward -> L_sup on every known label except the blanked AU and the AUs sharing its centres;
   G(attended RoI feature) -> patches; an intact-image pass without gradient gives C's pseudo-labels;
3. D/C update (critic optimizer) on real vs. generated patches (generated ones held constant);
4. G + backbone (+ flow/pretext head) update (main optimizer) on L_sup + L_G + lambda_f L_F (+ the pretext
   loss), with the updated D/C.

Examples without landmarks use the mean shape for RoIs and are left out of the inpainting terms and not
blanked; unknown labels are masked; every skipped item is counted in a metric (``n_no_landmarks`` ...).
The logged ``au_f1`` is measured on intact faces in inference mode, on known labels only.

Under a ``tf.distribute`` strategy (``keras_au.distribute``) every term is the replica's share of the
global-batch value (masked terms over the global count), random draws are made for the global batch and
sliced per replica, and logged values are the all-reduced global ones: a mirrored step computes what one
device computes on the same global batch.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Optional

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_au.au_f1_metric import AUF1Score
from keras_au.distribute import global_mean, global_value, loss_scaled, replica_uniform
from keras_au.losses import weighted_mean
from keras_au.models.rtatl import losses as L
from keras_au.models.rtatl.backbone import FEATURE_STRIDE, RTATLBackbone
from keras_au.models.rtatl.config import RTATLConfig
from keras_au.models.rtatl.exemplar_head import ExemplarProjector, augment_view, info_nce
from keras_au.models.rtatl.flow_head import FlowHead
from keras_au.models.rtatl.jigsaw_head import JigsawHead, max_hamming_permutations, shuffled_tiles
from keras_au.models.rtatl.roi_extract import blanked_fraction, box_mask, crop_bilinear
from keras_au.models.rtatl.roi_inpainting import PatchClassifier, PatchDiscriminator, PatchGenerator
from keras_au.models.rtatl.rotation_head import NUM_ROTATIONS, RotationHead, rotate_batch
from keras_au.tasks.lr_cooldown import rate_schedule

MEAN_METRICS = ("loss", "l_sup", "l_d", "l_c", "l_adv_g", "l_rec", "l_cg", "l_g", "l_flow", "l_pretext",
                "pretext_acc", "sup_label_share", "pseudo_acc", "pseudo_acc_blanked")
COUNT_METRICS = ("n_no_landmarks", "n_unlabeled", "n_no_flow")
ROII_METRICS = {"l_d", "l_c", "l_adv_g", "l_rec", "l_cg", "l_g", "pseudo_acc", "pseudo_acc_blanked"}


@keras.saving.register_keras_serializable(package="keras_au")
class RTATLTrainer(keras.Model):
    """Training model of one RTATL variant (``RTATLConfig.model_name``); ``call`` = backbone probabilities."""

    # Checkpoints match variables by position: the layout names the order they are created in.
    checkpoint_layout = "rtatl-2: keras-hub ResNetBackbone"
    checkpoint_layout_help = ("RTATL's ResNet-18 became keras-hub's ResNetBackbone in session 14, which creates its "
                              "variables in another order; a run trained before cannot be resumed, evaluated or "
                              "exported by this version: train it again (keras-au train ... --no-resume).")

    def __init__(self, config: dict, weights_path: Optional[str] = None, **kwargs):
        kwargs.setdefault("name", "rtatl_trainer")
        super().__init__(**kwargs)
        self.config_dict = config
        cfg = RTATLConfig.from_dict(config)
        self.cfg = cfg
        m = cfg.model
        self.roii, self.ofe, self.pretext = cfg.roii, cfg.ofe, cfg.pretext
        self.backbone = RTATLBackbone(weights_path=weights_path, **dataclasses.asdict(m))
        if self.roii:
            self.generator = PatchGenerator(m.patch_size, m.g_widths, name="generator")
            self.discriminator = PatchDiscriminator(m.patch_size, m.d_widths, outputs=1, name="discriminator")
            self.au_classifier = PatchClassifier(m.num_aus, m.patch_size, m.c_widths, name="au_classifier")
        if self.ofe:
            self.flow_head = FlowHead(m.flow_channels, name="flow_head")
        self.pretext_head, self.permutations = None, None
        if self.pretext == "rotation":
            self.pretext_head = RotationHead(name="rotation_head")
        elif self.pretext == "exemplar":
            self.pretext_head = ExemplarProjector(m.dim, name="exemplar_projector")
        elif self.pretext == "jigsaw":
            self.permutations = max_hamming_permutations(cfg.train.jigsaw_permutations)
            self.pretext_head = JigsawHead(cfg.train.jigsaw_permutations, name="jigsaw_head")
        unused = set() if self.roii else set(ROII_METRICS)
        unused |= set() if self.roii and cfg.train.pseudo_source == "intact" else {"pseudo_acc_blanked"}
        unused |= set() if self.ofe else {"l_flow", "n_no_flow"}
        unused |= set() if self.pretext else {"l_pretext", "pretext_acc"}
        self.trackers = {n: keras.metrics.Mean(name=n) for n in MEAN_METRICS if n not in unused}
        self.trackers.update({n: keras.metrics.Sum(name=n) for n in COUNT_METRICS if n not in unused})
        self.f1 = AUF1Score(m.num_aus, aus=m.aus, name="au_f1")
        self.critic_optimizer = None
        self._grad_probe = None

    # -- variables ------------------------------------------------------------------------------
    @property
    def main_variables(self) -> list:
        """Backbone + G + flow head: updated by ``optimizer``."""
        out = list(self.backbone.trainable_variables)
        if self.roii:
            out += self.generator.trainable_variables
        if self.ofe:
            out += self.flow_head.trainable_variables
        if self.pretext_head is not None:
            out += self.pretext_head.trainable_variables
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
        """Creates every variable (one training forward on a dummy batch) and builds the optimizers."""
        if not self.built:
            # One eager forward on a dummy batch: 7x cheaper than tracing it (ci preset 1.9 vs 13.4 s, demo 2.0
            # vs 13.2 s), the same variables and seeded draws for every Table 1 row, and the only way under a
            # strategy (mirrored variables cannot be created inside a traced function).
            self.training_forward(self.dummy_batch(), training=False)
            self.built = True
        if getattr(self, "optimizer", None) is not None and not self.optimizer.built:
            self.optimizer.build(self.main_variables)
        if self.critic_optimizer is not None and not self.critic_optimizer.built:
            self.critic_optimizer.build(self.critic_variables)

    def compile(self, optimizer=None, critic_optimizer=None, jit_compile=False, **kwargs):
        t = self.cfg.train
        optimizer = optimizer or keras.optimizers.Adam(rate_schedule(t.learning_rate, t))
        super().compile(optimizer=optimizer, jit_compile=jit_compile, **kwargs)
        if self.roii:
            critic = critic_optimizer or keras.optimizers.Adam(rate_schedule(t.critic_learning_rate, t))
            # Keras wraps only the compiled optimizer; the critic's float16 gradients need their own scale.
            self.critic_optimizer = loss_scaled(critic, self.dtype_policy.name)
        self.build_all()

    def call(self, inputs, training=None):
        return self.backbone(inputs, training=training)

    # -- the shared forward pieces ----------------------------------------------------------------
    def _seed(self, step, stream: int):
        return tf.stack([tf.constant(self.cfg.train.seed, tf.int32) + stream, tf.cast(step, tf.int32)])

    def prepare(self, data: dict, step) -> dict:
        """Normalise, sanitise landmarks and (RoII) blank one random AU's patches in some examples."""
        m, t = self.cfg.model, self.cfg.train
        landmarks = tf.convert_to_tensor(data["landmarks"], tf.float32)
        if "has_landmarks" in data:  # the pipeline's flag; all-zero landmarks mean "missing" to the backbone
            landmarks = tf.where(tf.cast(data["has_landmarks"], tf.float32)[:, None, None] > 0, landmarks, 0.0)
        normed, unit, lm, valid = self.backbone.preprocess(data["image"], landmarks)
        b = tf.shape(normed)[0]
        prep = {"normed": normed, "landmarks": lm, "valid": valid, "intact": tf.ones((b, m.num_aus))}
        if not self.roii:
            return prep
        centers = self.backbone.au_centers(lm)  # (B, A, 2, 2)
        chosen = replica_uniform(b, self._seed(step, 0), 0, m.num_aus, dtype=tf.int32)
        blank = tf.cast(replica_uniform(b, self._seed(step, 1)) < t.blank_fraction, tf.float32)
        blank = blank * valid  # no landmarks: no reliable patch location, nothing blanked
        blanks = tf.gather(centers, chosen, batch_dims=1)  # (B, 2, 2)
        half = m.patch_size / 2.0
        mask = box_mask(blanks, half, m.image_size) * blank[:, None, None, None]
        if t.sup_mask == "overlap":
            roi_half = m.roi_size * FEATURE_STRIDE / 2.0
            frac = blanked_fraction(tf.reshape(centers, (b, -1, 2)), roi_half, blanks, half)  # (B, 2A)
            dropped = tf.reduce_max(tf.reshape(frac, (b, m.num_aus, 2)), axis=-1) > t.intact_max_blanked
        else:  # the blanked AU and every AU whose two centres are the same points (e.g. 12/14/15, 23/24)
            dist = tf.reduce_max(tf.abs(centers - blanks[:, None]), axis=[2, 3])  # (B, A)
            dropped = dist < 0.5
        intact = 1.0 - tf.cast(dropped, tf.float32) * blank[:, None]
        real = crop_bilinear(unit, blanks, m.patch_size)  # stride 1: pixel coords are map coords
        prep.update(normed=normed * (1.0 - mask), normed_intact=normed, blank_mask=mask, chosen=chosen,
                    blank=blank, intact=intact, real=tf.reshape(real, (-1, m.patch_size, m.patch_size, 3)))
        return prep

    def _chosen_features(self, attended, chosen):
        idx = tf.stack([2 * chosen, 2 * chosen + 1], axis=1)  # the AU's two RoI tokens
        return tf.reshape(tf.gather(attended, idx, batch_dims=1), (-1, self.cfg.model.dim))

    def _pseudo(self, probs, chosen):
        return tf.cast(tf.stop_gradient(tf.gather(probs, chosen, batch_dims=1)) >= self.cfg.train.pseudo_threshold,
                       tf.float32)

    def _patch_targets(self, labels, pseudo, chosen):
        """Label of the blanked AU; the pseudo-label where unknown."""
        lab = tf.gather(labels, chosen, batch_dims=1)
        return tf.where(lab >= 0, tf.cast(lab, tf.float32), pseudo)

    def _pseudo_accuracy(self, labels, pseudo, chosen, weights):
        lab = tf.gather(labels, chosen, batch_dims=1)
        known = tf.cast(lab >= 0, tf.float32) * weights
        hit = tf.cast(tf.equal(pseudo, tf.cast(lab, tf.float32)), tf.float32)
        return weighted_mean(hit, known), tf.reduce_sum(known)

    def flow_target(self, data):
        """TV-L1 target of the batch in model-image pixels (the pipeline gives input-crop pixels)."""
        m = self.cfg.model
        return tf.cast(data["flow"], tf.float32) * (m.image_size / float(m.input_size))

    def pretext_loss(self, normed, global_maps, step, training=True):
        """(loss, accuracy) of the rotation / exemplar / jigsaw task on a batch of normalised images."""
        resnet = self.backbone.resnet
        b = tf.shape(normed)[0]
        ce = keras.losses.sparse_categorical_crossentropy
        if self.pretext == "exemplar":
            view = augment_view(normed, self._seed(step, 2))
            z1 = self.pretext_head(global_maps)
            z2 = self.pretext_head(resnet(ops.cast(view, self.backbone.compute_dtype), training=training)[-1])
            return info_nce(z1, z2, self.cfg.train.exemplar_temperature)
        if self.pretext == "rotation":
            target = replica_uniform(b, self._seed(step, 2), 0, NUM_ROTATIONS, dtype=tf.int32)
            images = rotate_batch(normed, target)
        else:  # jigsaw
            p = self.cfg.train.jigsaw_permutations
            target = replica_uniform(b, self._seed(step, 2), 0, p, dtype=tf.int32)
            tiles = shuffled_tiles(normed, target, self.permutations, self._seed(step, 3))
            images = tf.reshape(tiles, (-1, *tiles.shape[2:]))
        logits = self.pretext_head(resnet(ops.cast(images, self.backbone.compute_dtype), training=training)[-1])
        loss = global_mean(ce(target, logits, from_logits=True))
        hit = ops.cast(ops.argmax(logits, axis=-1), "int32") == ops.cast(target, "int32")
        acc = global_mean(ops.cast(hit, "float32"))
        return loss, acc

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
        if self.pretext:
            res["pretext_loss"], res["pretext_acc"] = self.pretext_loss(prep["normed"], out["global_maps"], step,
                                                                        training=training)
        return res

    # -- training -------------------------------------------------------------------------------
    def _critic_step(self, real, fake, au, targets, weights, class_weights):
        with tf.GradientTape() as tape:
            l_d = L.discriminator_loss(self.discriminator(real, training=True),
                                       self.discriminator(fake, training=True), weights)
            l_c = L.patch_classification_loss(self.au_classifier(real, training=True), au, targets, class_weights)
            scaled = self.critic_optimizer.scale_loss(l_d + l_c)
        variables = self.critic_variables
        self.critic_optimizer.apply_gradients(zip(tape.gradient(scaled, variables), variables))
        return l_d, l_c

    def loss_terms(self, data: dict, prep: dict, step, tape=None, critic_update: bool = True):
        """Weighted loss terms of the main update (``terms``, summed = the G/backbone objective), raw values
        for the logs, and the intact-face probabilities for the training F1. ``tape`` stops recording
        around the critic update and the no-gradient intact pass."""
        t = self.cfg.train
        paused = tape.stop_recording if tape is not None else contextlib.nullcontext
        labels = tf.cast(data["au_labels"], tf.int32)
        out = self.backbone.forward(prep["normed"], prep["landmarks"], training=True)
        l_sup = L.supervised_loss(labels, out["logits"], prep["intact"], t.sup_pos_weight)
        terms, logs, eval_probs = {"l_sup": l_sup}, {"l_sup": l_sup}, out["probs"]
        if self.roii:
            with paused():  # the face as the test sees it: pseudo-labels and the logged training F1
                eval_probs = tf.stop_gradient(self.backbone.forward(prep["normed_intact"], prep["landmarks"],
                                                                    training=False)["probs"])
            fake = self.generator(self._chosen_features(out["attended"], prep["chosen"]), training=True)
            au2 = tf.repeat(prep["chosen"], 2)
            w = prep["valid"] * prep["blank"]
            w2 = tf.repeat(w, 2)
            # C's targets; "drop": a labeled face's unknown blanked AU gets none (paper: pseudo-labels for unlabeled)
            lost = tf.reduce_any(labels >= 0, axis=1) & (tf.gather(labels, prep["chosen"], batch_dims=1) < 0)
            w2c = w2 if t.unknown_patch_targets == "pseudo" else tf.repeat(w * (1.0 - tf.cast(lost, tf.float32)), 2)
            pseudo = self._pseudo(eval_probs if t.pseudo_source == "intact" else out["probs"], prep["chosen"])
            y2 = tf.repeat(self._patch_targets(labels, pseudo, prep["chosen"]), 2)
            logs["pseudo_acc"], n_known = self._pseudo_accuracy(labels, pseudo, prep["chosen"], w)
            if t.pseudo_source == "intact":
                logs["pseudo_acc_blanked"], _ = self._pseudo_accuracy(
                    labels, self._pseudo(out["probs"], prep["chosen"]), prep["chosen"], w)
            if critic_update:
                with paused():
                    logs["l_d"], logs["l_c"] = self._critic_step(prep["real"], tf.stop_gradient(fake), au2, y2, w2, w2c)
            logs["l_adv_g"] = L.generator_adversarial_loss(self.discriminator(fake, training=True), w2)
            logs["l_rec"] = L.reconstruction_loss(prep["real"], fake, w2)
            logs["l_cg"] = L.patch_classification_loss(self.au_classifier(fake, training=True), au2, y2, w2c)
            terms.update(l_adv_g=t.lambda_adv * logs["l_adv_g"], l_rec=(1.0 - t.lambda_adv) * logs["l_rec"],
                         l_cg=t.lambda_cls * logs["l_cg"])
            logs["l_g"] = terms["l_adv_g"] + terms["l_rec"] + terms["l_cg"]
        if self.ofe:
            logs["l_flow"] = L.flow_loss(self.flow_head(out["global_maps"], training=True), self.flow_target(data),
                                         data["has_flow"])
            terms["l_flow"] = t.lambda_flow * logs["l_flow"]
        if self.pretext:
            logs["l_pretext"], logs["pretext_acc"] = self.pretext_loss(prep["normed"], out["global_maps"], step)
            terms["l_pretext"] = t.lambda_pretext * logs["l_pretext"]
        return terms, logs, eval_probs

    def train_step(self, data):
        labels = tf.cast(data["au_labels"], tf.int32)
        step = self.optimizer.iterations
        prep = self.prepare(data, step)
        variables = self.main_variables
        with tf.GradientTape() as tape:
            terms, logs, eval_probs = self.loss_terms(data, prep, step, tape=tape)
            total = tf.add_n(list(terms.values()))
            scaled = self.optimizer.scale_loss(total)
        self.optimizer.apply_gradients(zip(tape.gradient(scaled, variables), variables))

        # L = L_sup + L_D + L_G + lambda_f L_F (paper's total; + the pretext term for Table 1's other rows)
        logs["loss"] = total + logs.get("l_d", 0.0)
        known = ops.cast(labels >= 0, "float32")
        logs["sup_label_share"] = weighted_mean(prep["intact"], known)
        for name, value in logs.items():  # shares -> global-batch values (every replica logs the same)
            self.trackers[name].update_state(global_value(value))
        self.trackers["n_no_landmarks"].update_state(ops.sum(1.0 - prep["valid"]))
        self.trackers["n_unlabeled"].update_state(ops.sum(1.0 - ops.max(known, axis=-1)))
        if self.ofe:
            self.trackers["n_no_flow"].update_state(ops.sum(1.0 - ops.cast(data["has_flow"], "float32")))
        self.f1.update_state(labels, eval_probs)
        return {m.name: m.result() for m in self.metrics}

    def gradient_probe(self, data: dict) -> dict:
        """Per weighted loss term: gradient norm on the shared backbone and cosine with grad L_sup.

        Runs the training forward (no update, no critic step) at the current step; measures which auxiliary
        term pulls the shared weights how hard, and whether with or against the supervised gradient.
        """
        if self._grad_probe is None:
            def probe(batch):
                step = self.optimizer.iterations
                prep = self.prepare(batch, step)
                shared = self.backbone.trainable_variables
                with tf.GradientTape(persistent=True) as tape:
                    terms, _, _ = self.loss_terms(batch, prep, step, tape=tape, critic_update=False)
                flat = {}
                for name, value in terms.items():
                    grads = tape.gradient(value, shared)
                    flat[name] = tf.concat([tf.zeros([int(np.prod(v.shape))]) if g is None else
                                            tf.reshape(tf.cast(g, tf.float32), [-1]) for g, v in zip(grads, shared)], 0)
                del tape
                sup = flat["l_sup"]
                res = {}
                for name, g in flat.items():
                    res[f"{name}/grad_norm"] = tf.norm(g)
                    res[f"{name}/cos_sup"] = tf.reduce_sum(g * sup) / tf.maximum(tf.norm(g) * tf.norm(sup), 1e-12)
                    res[f"{name}/value"] = terms[name]
                return res
            self._grad_probe = tf.function(probe)
        return {k: float(v) for k, v in self._grad_probe(data).items()}

    def test_step(self, data):
        labels = tf.cast(data["au_labels"], tf.int32)
        normed, _, lm, _ = self.backbone.preprocess(data["image"], data["landmarks"])
        out = self.backbone.forward(normed, lm, training=False)
        l_sup = global_value(L.supervised_loss(labels, out["logits"], pos_weight=self.cfg.train.sup_pos_weight))
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

    # Keras rebuilds a loaded model from its build config before it assigns the saved weights. The trainer's
    # variables come from ``build_all`` (a traced training forward), not from an input shape, so the build
    # config only records that it was built.
    def get_build_config(self) -> dict:
        return {"build_all": True}

    def build_from_config(self, config: dict) -> None:
        if config.get("build_all"):
            self.build_all()
