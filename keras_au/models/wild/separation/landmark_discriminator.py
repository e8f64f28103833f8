"""D_l: tries to localise the 49 landmarks from a background feature (least-squares, ADLD)."""

from __future__ import annotations

import keras

from keras_au.models.layer_chain import build_chain
from keras_au.models.wild.conv_block import ConvBlock


@keras.saving.register_keras_serializable(package="keras_au")
class LandmarkDiscriminator(keras.layers.Layer):
    """F_b -> raw response maps (B, H, W, 49): regressed to one-hot landmark maps by D_l's loss and
    to the uniform map 1/(HW) by G_b's landmark-adversarial loss L_adl."""

    def __init__(self, width: int = 64, num_landmarks: int = 49, depth: int = 4, **kwargs):
        super().__init__(**kwargs)
        self.width, self.num_landmarks, self.depth = width, num_landmarks, depth
        self.blocks = [ConvBlock(width, norm="instance", name=f"block{i + 1}") for i in range(depth)]
        self.out = keras.layers.Conv2D(num_landmarks, 3, padding="same", name="response")

    def build(self, input_shape):
        build_chain([*self.blocks, self.out], input_shape)

    def call(self, background):
        x = background
        for b in self.blocks:
            x = b(x)
        return self.out(x)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.num_landmarks)

    def get_config(self) -> dict:
        return {**super().get_config(), "width": self.width, "num_landmarks": self.num_landmarks,
                "depth": self.depth}
