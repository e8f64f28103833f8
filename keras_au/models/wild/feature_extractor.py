"""E_f: the shared feature extractor, the first two landmark parts followed by tanh (ADLD: 176 -> 44x44x64)."""

from __future__ import annotations

from typing import Sequence

import keras
from keras import ops

from keras_au.models.wild.image_input import prepare_images
from keras_au.models.wild.landmark_part import LandmarkPart


@keras.saving.register_keras_serializable(package="keras_au")
class FeatureExtractor(keras.layers.Layer):
    """Raw [0, 255] images -> tanh feature map F (B, S/4, S/4, widths[-1]).

    Same parts as ``LandmarkBranch.parts[:2]`` so ``init_from_landmark_branch`` copies weights one-to-one.
    ``call(..., return_stem=True)`` also returns the pre-tanh map that the landmark head consumes in stage 2.
    """

    def __init__(self, widths: Sequence[int] = (32, 64), input_size: int = 176, **kwargs):
        super().__init__(**kwargs)
        self.widths = tuple(int(w) for w in widths)
        self.input_size = input_size
        self.parts = [LandmarkPart(w, name=f"part{i + 1}") for i, w in enumerate(self.widths)]

    def build(self, input_shape):
        shape = (input_shape[0], self.input_size, self.input_size, 3)
        for part in self.parts:
            part.build(shape)
            shape = part.compute_output_shape(shape)

    def call(self, images, training=None, return_stem: bool = False):
        x = prepare_images(images, self.input_size)
        for part in self.parts:
            x = part(x, training=training)
        features = ops.tanh(x)
        return (x, features) if return_stem else features

    def init_from_landmark_branch(self, branch) -> None:
        """Copy the landmark branch's first parts (stage 1 -> stage 2 transfer), BN statistics included."""
        for mine, theirs in zip(self.parts, branch.parts):
            if mine.filters != theirs.filters:
                raise ValueError("E_f widths differ from the landmark branch's first parts")
            mine.set_weights(theirs.get_weights())

    def compute_output_shape(self, input_shape):
        s = self.input_size // 4
        return (input_shape[0], s, s, self.widths[-1])

    def get_config(self) -> dict:
        return {**super().get_config(), "widths": list(self.widths), "input_size": self.input_size}
