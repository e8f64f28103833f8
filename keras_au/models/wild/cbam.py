"""CBAM (Woo et al., 2018): channel attention then spatial attention, applied after the 5th landmark part."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_au")
class CBAM(keras.layers.Layer):
    """x * M_c(x), then * M_s(.).

    M_c = sigmoid(MLP(avgpool(x)) + MLP(maxpool(x))) with a shared C -> C/r -> C MLP;
    M_s = sigmoid(conv_k([mean_c(x); max_c(x)])).
    """

    def __init__(self, reduction: int = 16, kernel_size: int = 7, **kwargs):
        super().__init__(**kwargs)
        self.reduction, self.kernel_size = reduction, kernel_size
        self.spatial = keras.layers.Conv2D(1, kernel_size, padding="same", name="spatial")

    def build(self, input_shape):
        channels = int(input_shape[-1])
        hidden = max(channels // self.reduction, 1)
        self.fc1 = keras.layers.Dense(hidden, activation="relu", name="mlp1")
        self.fc2 = keras.layers.Dense(channels, name="mlp2")
        self.fc1.build((None, channels))
        self.fc2.build((None, hidden))
        self.spatial.build((*input_shape[:-1], 2))

    def call(self, x):
        avg = ops.mean(x, axis=(1, 2))
        mx = ops.max(x, axis=(1, 2))
        channel = ops.sigmoid(self.fc2(self.fc1(avg)) + self.fc2(self.fc1(mx)))
        x = x * channel[:, None, None, :]
        pooled = ops.concatenate([ops.mean(x, axis=-1, keepdims=True), ops.max(x, axis=-1, keepdims=True)], axis=-1)
        return x * ops.sigmoid(self.spatial(pooled))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "reduction": self.reduction, "kernel_size": self.kernel_size}
