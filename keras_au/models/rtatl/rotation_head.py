"""Rotation prediction (Gidaris et al.), a Table 1 self-supervised row: classify 0/90/180/270 degrees.

The ResNet-18 of the backbone sees a rotated copy of each image; a linear head on its average-pooled
global features predicts which of the four rotations was applied (cross-entropy).
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers, ops

NUM_ROTATIONS = 4


def rotate_batch(images: tf.Tensor, k: tf.Tensor) -> tf.Tensor:
    """Rotates each square image (B, S, S, C) by ``k`` (B,) quarter turns counter-clockwise."""
    stacked = tf.stack([tf.image.rot90(images, i) for i in range(NUM_ROTATIONS)], axis=1)  # (B, 4, S, S, C)
    return tf.gather(stacked, k, batch_dims=1)


@keras.saving.register_keras_serializable(package="keras_au")
class RotationHead(keras.layers.Layer):
    """Global maps (B, h, w, c) -> (B, 4) rotation logits (float32)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.fc = layers.Dense(NUM_ROTATIONS, dtype="float32", name="rotation_fc")

    def build(self, input_shape):
        self.fc.build((None, input_shape[-1]))

    def call(self, global_maps):
        return self.fc(ops.mean(global_maps, axis=(1, 2)))
