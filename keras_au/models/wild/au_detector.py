"""F_au: the AU detector, one small conv branch per AU on a feature map (ADLD's AU detector)."""

from __future__ import annotations

import keras
from keras import ops

from keras_au.models.wild.conv_block import ConvBlock


@keras.saving.register_keras_serializable(package="keras_au")
class AUDetector(keras.layers.Layer):
    """Feature (B, H, W, C) -> AU logits (B, A).

    Per AU: three batch-normalised conv blocks and a plain conv (width ``width``), global average
    pooling and a linear unit. Separate branches let each AU attend to its own face region.
    """

    def __init__(self, num_aus: int = 6, width: int = 64, **kwargs):
        super().__init__(**kwargs)
        self.num_aus, self.width = num_aus, width
        self.branches = []
        for a in range(num_aus):
            blocks = [ConvBlock(width, name=f"au{a}_block{i + 1}") for i in range(3)]
            blocks.append(ConvBlock(width, norm=None, activation=None, name=f"au{a}_block4"))
            self.branches.append(blocks)
        self.heads = [keras.layers.Dense(1, name=f"au{a}_fc") for a in range(num_aus)]

    def build(self, input_shape):
        for blocks, head in zip(self.branches, self.heads):
            shape = input_shape
            for b in blocks:
                b.build(shape)
                shape = b.compute_output_shape(shape)
            head.build((None, self.width))

    def call(self, features, training=None):
        logits = []
        for blocks, head in zip(self.branches, self.heads):
            x = features
            for b in blocks:
                x = b(x, training=training)
            logits.append(head(ops.mean(x, axis=(1, 2))))
        return ops.concatenate(logits, axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_aus)

    def get_config(self) -> dict:
        return {**super().get_config(), "num_aus": self.num_aus, "width": self.width}
