"""Optical-flow estimation (OFE) head: global ResNet maps -> TV-L1 flow via two transposed convs."""

from __future__ import annotations

import keras
from keras import layers, ops

from keras_au.models.layer_chain import build_chain
from keras_au.models.resnet import batch_norm


@keras.saving.register_keras_serializable(package="keras_au")
class FlowHead(keras.layers.Layer):
    """(B, S/32, S/32, C5) -> (B, S/4, S/4, 2) flow (dx, dy) in model-image pixels, float32.

    Transposed conv 4x4 stride 4 (+BN, ReLU) to stride 8, then transposed conv 4x4 stride 2 to stride 4.
    """

    def __init__(self, channels: int = 256, **kwargs):
        super().__init__(**kwargs)
        self.channels = int(channels)
        self.up1 = layers.Conv2DTranspose(self.channels, 4, strides=4, padding="same", use_bias=False, name="up1")
        self.bn = batch_norm("bn1")
        self.up2 = layers.Conv2DTranspose(2, 4, strides=2, padding="same", dtype="float32", name="up2")

    def build(self, input_shape):
        build_chain([self.up1, self.bn, self.up2], input_shape)

    def call(self, global_maps, training=None):
        return self.up2(ops.relu(self.bn(self.up1(global_maps), training=training)))

    def get_config(self) -> dict:
        return {**super().get_config(), "channels": self.channels}
