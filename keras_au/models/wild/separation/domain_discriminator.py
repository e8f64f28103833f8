"""D_d: least-squares domain discriminator on feature maps (one per domain, as in ADLD)."""

from __future__ import annotations

import keras

from keras_au.models.layer_chain import build_chain
from keras_au.models.wild.conv_block import ConvBlock


@keras.saving.register_keras_serializable(package="keras_au")
class DomainDiscriminator(keras.layers.Layer):
    """Feature (B, H, W, C) -> real/fake scores; no sigmoid (LSGAN). Four 4x4 stride-2 convs (w, w, 2w, 2w), then

    * ``scores="image"`` (ADLD): a conv whose kernel covers the whole remaining map -> (B, 1, 1, 1), one score
      per image (ADLD's discriminator gives 1x1 on its 44x44 features);
    * ``scores="patch"``: a 1x1 conv -> (B, h, w, 1) patch scores (3x3 on 44x44 maps).
    """

    def __init__(self, width: int = 64, scores: str = "image", **kwargs):
        super().__init__(**kwargs)
        if scores not in ("image", "patch"):
            raise ValueError(f"scores must be 'image' or 'patch', got {scores!r}")
        self.width, self.scores = width, scores
        widths = [width, width, 2 * width, 2 * width]
        norms = ["instance", "instance", "instance", None]
        self.blocks = [ConvBlock(w, kernel_size=4, strides=2, norm=n, name=f"block{i + 1}")
                       for i, (w, n) in enumerate(zip(widths, norms))]
        self.score = keras.layers.Conv2D(1, 1, name="score") if scores == "patch" else None

    def build(self, input_shape):
        shape = build_chain(self.blocks, input_shape)
        if self.score is None:  # the kernel size depends on the input map: known only now
            self.score = keras.layers.Conv2D(1, (int(shape[1]), int(shape[2])), padding="valid", name="score")
        self.score.build(shape)

    def call(self, features):
        x = features
        for b in self.blocks:
            x = b(x)
        return self.score(x)

    def get_config(self) -> dict:
        return {**super().get_config(), "width": self.width, "scores": self.scores}
