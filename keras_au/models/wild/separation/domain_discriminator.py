"""D_d: least-squares domain discriminator on feature maps (one per domain, as in ADLD)."""

from __future__ import annotations

import keras

from keras_au.models.wild.conv_block import ConvBlock


@keras.saving.register_keras_serializable(package="keras_au")
class DomainDiscriminator(keras.layers.Layer):
    """Feature (B, H, W, C) -> real/fake scores (B, h, w, 1) (patch scores; one patch for 44x44 maps
    in ADLD). Four 4x4 stride-2 convs (w, w, 2w, 2w) and a 1x1 conv; no sigmoid (LSGAN)."""

    def __init__(self, width: int = 64, **kwargs):
        super().__init__(**kwargs)
        self.width = width
        widths = [width, width, 2 * width, 2 * width]
        norms = ["instance", "instance", "instance", None]
        self.blocks = [ConvBlock(w, kernel_size=4, strides=2, norm=n, name=f"block{i + 1}")
                       for i, (w, n) in enumerate(zip(widths, norms))]
        self.score = keras.layers.Conv2D(1, 1, name="score")

    def build(self, input_shape):
        shape = input_shape
        for b in self.blocks:
            b.build(shape)
            shape = b.compute_output_shape(shape)
        self.score.build(shape)

    def call(self, features):
        x = features
        for b in self.blocks:
            x = b(x)
        return self.score(x)

    def get_config(self) -> dict:
        return {**super().get_config(), "width": self.width}
