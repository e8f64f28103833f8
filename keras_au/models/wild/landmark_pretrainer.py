"""Stage 1: pretrain the landmark branch alone with L_fl (paper: lr 1e-4, batch 8, 20 epochs)."""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from keras_au.distribute import global_sum, global_value
from keras_au.models.wild.landmarks49 import targets49
from keras_au.models.wild.losses import landmark_loss, landmark_nme
from keras_au.models.wild.tracking import make_trackers, skipped


class LandmarkPretrainer(keras.Model):
    """Trains ``branch`` on batches ``{"source": ..., "target": ...}`` from the input pipeline.

    Faces without landmarks (``has_landmarks`` = 0) are masked out of L_fl and counted per epoch
    (``lm_skipped_source``/``lm_skipped_target``); target faces are used only when ``landmarks_on_target``.
    """

    def __init__(self, branch, crop_size: int = 176, landmarks_on_target: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.branch = branch
        self.crop_size, self.landmarks_on_target = crop_size, landmarks_on_target
        self.trackers = make_trackers(["loss", "l_fl", "nme"], ["lm_skipped_source", "lm_skipped_target"])

    @property
    def metrics(self):
        return list(self.trackers.values())

    def build(self, input_shape=None):
        if not self.branch.built:
            self.branch.build((None, self.crop_size, self.crop_size, 3))
        self.built = True

    def call(self, images, training=False):
        return self.branch(images, training=training)

    def _inputs(self, data):
        src, tgt = data["source"], data["target"]
        images, landmarks, masks = [src["image"]], [src["landmarks"]], [src["has_landmarks"]]
        if self.landmarks_on_target:
            images.append(tgt["image"])
            landmarks.append(tgt["landmarks"])
            masks.append(tgt["has_landmarks"])
        cat = lambda xs: ops.concatenate(xs, axis=0)  # noqa: E731
        return cat(images), targets49(cat(landmarks), self.crop_size), cat(masks)

    def train_step(self, data):
        images, target, mask = self._inputs(data)
        with tf.GradientTape() as tape:
            pred = self.branch(images, training=True)
            loss = landmark_loss(pred, target, mask)
            scaled = self.optimizer.scale_loss(loss)  # identity unless a mixed_float16 LossScaleOptimizer
        variables = self.branch.trainable_variables
        self.optimizer.apply(tape.gradient(scaled, variables), variables)
        return self._update(loss, pred, target, mask, data)

    def test_step(self, data):
        images, target, mask = self._inputs(data)
        pred = self.branch(images, training=False)
        return self._update(landmark_loss(pred, target, mask), pred, target, mask, data)

    def _update(self, loss, pred, target, mask, data):
        t = self.trackers
        loss = global_value(loss)  # a replica's share -> the global-batch value
        t["loss"].update_state(loss)
        t["l_fl"].update_state(loss)
        t["nme"].update_state(global_value(landmark_nme(pred, target, mask)),
                              sample_weight=global_sum(ops.sum(ops.cast(mask, "float32"))))
        t["lm_skipped_source"].update_state(skipped(data["source"]["has_landmarks"]))
        t["lm_skipped_target"].update_state(skipped(data["target"]["has_landmarks"]))
        return {k: m.result() for k, m in t.items()}
