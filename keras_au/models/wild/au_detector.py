"""F_au: the AU detector, one small conv branch per AU on a feature map (ADLD's AU detector)."""

from __future__ import annotations

import keras
from keras import ops

from keras_au.models.wild.conv_block import ConvBlock


@keras.saving.register_keras_serializable(package="keras_au")
class AUDetector(keras.layers.Layer):
    """Feature (B, H, W, C) -> AU logits (B, A).

    Per AU: ``depth - 1`` batch-normalised conv blocks and a plain conv (width ``width``; ADLD: depth 4),
    global average pooling and a linear unit. Separate branches let each AU attend to its own face region.
    """

    def __init__(self, num_aus: int = 6, width: int = 64, depth: int = 4, **kwargs):
        super().__init__(**kwargs)
        self.num_aus, self.width, self.depth = num_aus, width, depth
        # One flat list (nested lists of layers are not tracked by Keras saving): ``depth`` blocks per AU.
        self.blocks = []
        for a in range(num_aus):
            self.blocks += [ConvBlock(width, name=f"au{a}_block{i + 1}") for i in range(depth - 1)]
            self.blocks.append(ConvBlock(width, norm=None, activation=None, name=f"au{a}_block{depth}"))
        self.heads = [keras.layers.Dense(1, name=f"au{a}_fc") for a in range(num_aus)]

    def _branch(self, a: int) -> list:
        return self.blocks[self.depth * a: self.depth * (a + 1)]

    def build(self, input_shape):
        for a, head in enumerate(self.heads):
            blocks = self._branch(a)
            shape = input_shape
            for b in blocks:
                b.build(shape)
                shape = b.compute_output_shape(shape)
            head.build((None, self.width))

    def call(self, features, training=None):
        logits = []
        for a, head in enumerate(self.heads):
            x = features
            for b in self._branch(a):
                x = b(x, training=training)
            logits.append(head(ops.mean(x, axis=(1, 2))))
        return ops.concatenate(logits, axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_aus)

    def get_config(self) -> dict:
        return {**super().get_config(), "num_aus": self.num_aus, "width": self.width, "depth": self.depth}
