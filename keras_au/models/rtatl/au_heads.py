"""Prediction heads: per-AU FC on the AU's RoI feature, a global FC, fused by element-wise max."""

from __future__ import annotations

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="keras_au")
class AUHeads(keras.layers.Layer):
    """(B, A, d) AU features + (B, h, w, c) global maps -> dict of (B, A) logits.

    ``roi``: AU a's own linear unit on its feature; ``global``: FC on the average-pooled global maps
    (with ``global_hidden`` > 0 one ReLU hidden layer first); ``fused`` = max(roi, global), or ``global``
    alone when ``au_features`` is None (ResNet-18 without RoI modules, the paper's jigsaw row).
    Logits are float32 even under mixed precision.
    """

    def __init__(self, num_aus: int, dim: int = 128, global_hidden: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.num_aus, self.dim, self.global_hidden = int(num_aus), int(dim), int(global_hidden)
        self.hidden = layers.Dense(self.global_hidden, activation="relu", name="global_hidden") \
            if self.global_hidden else None
        self.global_fc = layers.Dense(self.num_aus, dtype="float32", name="global_fc")

    def build(self, au_features_shape=None, global_maps_shape=None):
        if global_maps_shape is not None:
            pooled = (None, global_maps_shape[-1])
            if self.hidden is not None:
                self.hidden.build(pooled)
                pooled = (None, self.global_hidden)
            self.global_fc.build(pooled)
        if au_features_shape is None:  # global head only: no per-AU RoI units
            return
        self.roi_kernel = self.add_weight(shape=(self.num_aus, self.dim), initializer="glorot_uniform",
                                          name="roi_kernel")
        self.roi_bias = self.add_weight(shape=(self.num_aus,), initializer="zeros", name="roi_bias")

    def call(self, au_features, global_maps):
        if au_features is None:
            glob = self.global_fc(self.hidden(ops.mean(global_maps, axis=(1, 2))) if self.hidden is not None
                                  else ops.mean(global_maps, axis=(1, 2)))
            return {"roi": glob, "global": glob, "fused": glob}
        roi = ops.sum(ops.cast(au_features, "float32") * ops.cast(self.roi_kernel, "float32")[None], axis=-1)
        roi = roi + ops.cast(self.roi_bias, "float32")
        g = ops.mean(global_maps, axis=(1, 2))
        if self.hidden is not None:
            g = self.hidden(g)
        glob = self.global_fc(g)
        return {"roi": roi, "global": glob, "fused": ops.maximum(roi, glob)}

    def get_config(self) -> dict:
        return {**super().get_config(), "num_aus": self.num_aus, "dim": self.dim, "global_hidden": self.global_hidden}
