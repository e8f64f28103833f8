"""G_st: recombines a landmark attention with a background feature into a full feature map."""

from __future__ import annotations

import keras
from keras import ops

from keras_au.models.wild.conv_block import ConvBlock


@keras.saving.register_keras_serializable(package="keras_au")
class FeatureGenerator(keras.layers.Layer):
    """(attention (B,H,W,L), background (B,H,W,C)) -> feature (B,H,W,out_channels) in [-1, 1].

    As in ADLD, the L attention maps are summed into one channel (a face-shape map) before being
    concatenated with the background; five instance-normalised conv blocks (w, w, w/2, w/2, out), tanh.
    """

    def __init__(self, width: int = 128, out_channels: int = 64, **kwargs):
        super().__init__(**kwargs)
        self.width, self.out_channels = width, out_channels
        widths = [width, width, width // 2, width // 2, out_channels]
        self.blocks = [ConvBlock(w, norm="instance", name=f"block{i + 1}") for i, w in enumerate(widths)]

    def build(self, input_shape):
        attention_shape, background_shape = input_shape
        shape = (*background_shape[:-1], background_shape[-1] + 1)
        for b in self.blocks:
            b.build(shape)
            shape = b.compute_output_shape(shape)

    def call(self, inputs):
        attention, background = inputs
        x = ops.concatenate([ops.sum(attention, axis=-1, keepdims=True), background], axis=-1)
        for b in self.blocks:
            x = b(x)
        return ops.tanh(x)

    def compute_output_shape(self, input_shape):
        return (*input_shape[1][:-1], self.out_channels)

    def get_config(self) -> dict:
        return {**super().get_config(), "width": self.width, "out_channels": self.out_channels}
