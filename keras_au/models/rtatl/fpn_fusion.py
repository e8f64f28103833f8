"""FPN-style fusion: high-level ResNet maps upsampled and added into the stride-4 map."""

from __future__ import annotations

import keras
from keras import layers

from keras_au.models.resnet import batch_norm


@keras.saving.register_keras_serializable(package="keras_au")
class FPNFusion(keras.layers.Layer):
    """[C2, C3, C4, C5] -> fused (B, H/4, W/4, channels).

    1x1 laterals bring every level to ``channels``; the top-down path upsamples (nearest) and adds,
    and a 3x3 conv + BN + ReLU smooths the stride-4 sum (the "high-resolution fused map").
    """

    def __init__(self, channels: int = 256, levels: int = 4, **kwargs):
        super().__init__(**kwargs)
        self.channels = int(channels)
        self.levels = int(levels)
        self.laterals = [layers.Conv2D(self.channels, 1, name=f"lateral_{i}") for i in range(self.levels)]
        self.upsample = layers.UpSampling2D(2, interpolation="nearest")
        self.smooth = layers.Conv2D(self.channels, 3, padding="same", use_bias=False, name="smooth")
        self.norm = batch_norm("smooth_bn")

    def build(self, input_shape):
        for lateral, shape in zip(self.laterals, input_shape):
            lateral.build(shape)
        fused = (*input_shape[0][:-1], self.channels)
        self.smooth.build(fused)
        self.norm.build(fused)

    def call(self, features, training=None):
        x = self.laterals[-1](features[-1])
        for i in range(self.levels - 2, -1, -1):
            x = self.laterals[i](features[i]) + self.upsample(x)
        return keras.ops.relu(self.norm(self.smooth(x), training=training))

    def get_config(self) -> dict:
        return {**super().get_config(), "channels": self.channels, "levels": self.levels}
