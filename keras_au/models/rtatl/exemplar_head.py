"""Exemplar (instance discrimination), a Table 1 self-supervised row, trained with InfoNCE.

Two views of each face (the training crop and a re-augmented copy: shifted crop, flip, brightness and
contrast jitter) go through the backbone's ResNet-18; a two-layer projector maps the pooled global features
to an L2-normalised embedding, and InfoNCE (NT-Xent, symmetric) makes each view pick its partner among the
batch's other faces. InfoNCE rather than a triplet loss: every other face in the batch is a negative, no
mining needed, and it is the standard form of exemplar learning since SimCLR.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers, ops

from keras_au.distribute import global_mean


def augment_view(normed: tf.Tensor, seed: tf.Tensor, max_shift: float = 0.1) -> tf.Tensor:
    """A second view of normalised images (B, S, S, 3): random shift/zoom crop, flip, brightness, contrast."""
    b = tf.shape(normed)[0]
    s = normed.shape[1]
    seeds = tf.random.experimental.stateless_split(seed, 5)
    scale = tf.random.stateless_uniform((b, 1), seeds[0], 0.8, 1.0)
    offset = tf.random.stateless_uniform((b, 2), seeds[1], -max_shift, max_shift)
    y0 = 0.5 - scale / 2 + offset[:, :1]
    x0 = 0.5 - scale / 2 + offset[:, 1:]
    boxes = tf.concat([y0, x0, y0 + scale, x0 + scale], axis=1)
    view = tf.image.crop_and_resize(normed, boxes, tf.range(b), (s, s))
    flip = tf.random.stateless_uniform((b, 1, 1, 1), seeds[2]) < 0.5
    view = tf.where(flip, tf.reverse(view, axis=[2]), view)
    gain = tf.random.stateless_uniform((b, 1, 1, 1), seeds[3], 0.7, 1.3)
    bias = tf.random.stateless_uniform((b, 1, 1, 1), seeds[4], -0.4, 0.4)
    mean = tf.reduce_mean(view, axis=[1, 2, 3], keepdims=True)
    return (view - mean) * gain + mean + bias


def info_nce(z1: tf.Tensor, z2: tf.Tensor, temperature: float) -> tuple[tf.Tensor, tf.Tensor]:
    """Symmetric InfoNCE of two (B, D) normalised embeddings; also the top-1 partner accuracy."""
    sim = ops.matmul(ops.cast(z1, "float32"), ops.transpose(ops.cast(z2, "float32"))) / temperature
    target = ops.arange(ops.shape(sim)[0])
    ce = keras.losses.sparse_categorical_crossentropy
    # Under a strategy the negatives are the replica's own batch; each replica's mean counts 1/replicas.
    loss = 0.5 * (global_mean(ce(target, sim, from_logits=True)) + global_mean(ce(target, ops.transpose(sim),
                                                                                 from_logits=True)))
    acc = global_mean(ops.cast(ops.cast(ops.argmax(sim, axis=1), "int32") == ops.cast(target, "int32"), "float32"))
    return loss, acc


@keras.saving.register_keras_serializable(package="keras_au")
class ExemplarProjector(keras.layers.Layer):
    """Global maps (B, h, w, c) -> (B, dim) L2-normalised embedding (Linear-ReLU-Linear, as in SimCLR)."""

    def __init__(self, dim: int = 128, **kwargs):
        super().__init__(**kwargs)
        self.dim = int(dim)
        self.hidden = layers.Dense(self.dim, activation="relu", name="exemplar_hidden")
        self.out = layers.Dense(self.dim, dtype="float32", name="exemplar_out")

    def build(self, input_shape):
        self.hidden.build((None, input_shape[-1]))
        self.out.build((None, self.dim))

    def call(self, global_maps):
        z = self.out(self.hidden(ops.mean(global_maps, axis=(1, 2))))
        return z / ops.sqrt(ops.maximum(ops.sum(z * z, axis=-1, keepdims=True), 1e-12))

    def get_config(self) -> dict:
        return {**super().get_config(), "dim": self.dim}
