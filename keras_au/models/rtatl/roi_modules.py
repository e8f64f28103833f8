"""Per-AU RoI modules: each AU has its own two conv layers, shared by its two symmetric RoIs."""

from __future__ import annotations

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="keras_au")
class RoIModules(keras.layers.Layer):
    """(B, 2A, k, k, C) RoI crops -> (B, 2A, dim) RoI features.

    The A independent modules run as one grouped convolution (``groups = A``): AU a's crops occupy
    channel group a, so each AU keeps its own kernels (exactly A separate conv layers) while the
    device sees two convolutions instead of 2A. Conv -> BN -> ReLU twice, then average pooling.
    """

    def __init__(self, num_aus: int, hidden: int = 192, dim: int = 128, **kwargs):
        super().__init__(**kwargs)
        self.num_aus, self.hidden, self.dim = int(num_aus), int(hidden), int(dim)
        a = self.num_aus
        self.conv1 = layers.Conv2D(a * self.hidden, 3, padding="same", groups=a, use_bias=False, name="conv1")
        self.bn1 = layers.BatchNormalization(name="bn1")
        self.conv2 = layers.Conv2D(a * self.dim, 3, padding="same", groups=a, use_bias=False, name="conv2")
        self.bn2 = layers.BatchNormalization(name="bn2")

    def call(self, crops, training=None):
        a = self.num_aus
        b = ops.shape(crops)[0]
        k, c = crops.shape[2], crops.shape[-1]
        x = ops.reshape(crops, (b, a, 2, k, k, c))
        x = ops.transpose(x, (0, 2, 3, 4, 1, 5))  # (B, 2, k, k, A, C): AU a -> channel group a
        x = ops.reshape(x, (b * 2, k, k, a * c))
        x = ops.relu(self.bn1(self.conv1(x), training=training))
        x = ops.relu(self.bn2(self.conv2(x), training=training))
        x = ops.mean(x, axis=(1, 2))  # (B*2, A*dim)
        x = ops.transpose(ops.reshape(x, (b, 2, a, self.dim)), (0, 2, 1, 3))
        return ops.reshape(x, (b, 2 * a, self.dim))

    def get_config(self) -> dict:
        return {**super().get_config(), "num_aus": self.num_aus, "hidden": self.hidden, "dim": self.dim}
