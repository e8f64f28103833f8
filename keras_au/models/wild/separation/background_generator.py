"""G_b: background (landmark-free) feature generator."""

from __future__ import annotations

import keras
from keras import ops

from keras_au.models.layer_chain import build_chain
from keras_au.models.wild.conv_block import ConvBlock


@keras.saving.register_keras_serializable(package="keras_au")
class BackgroundGenerator(keras.layers.Layer):
    """F -> F_b (B, H, W, out_channels) in [-1, 1]: instance-normalised conv blocks, tanh (ADLD's texture encoder).

    D_l tries to find landmarks in F_b; L_adl pushes its responses towards uniform.
    """

    def __init__(self, width: int = 64, out_channels: int = 64, depth: int = 4, **kwargs):
        super().__init__(**kwargs)
        self.width, self.out_channels, self.depth = width, out_channels, depth
        widths = [width] * (depth - 1) + [out_channels]
        self.blocks = [ConvBlock(w, norm="instance", name=f"block{i + 1}") for i, w in enumerate(widths)]

    def build(self, input_shape):
        build_chain(self.blocks, input_shape)

    def call(self, features):
        x = features
        for b in self.blocks:
            x = b(x)
        return ops.tanh(x)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.out_channels)

    def get_config(self) -> dict:
        return {**super().get_config(), "width": self.width, "out_channels": self.out_channels, "depth": self.depth}
