"""E_l: landmark-related encoder; its 49 response maps double as ADLD's landmark detector."""

from __future__ import annotations

import keras
from keras import ops

from keras_au.models.layer_chain import build_chain
from keras_au.models.wild.conv_block import ConvBlock


def spatial_softmax(logits):
    """(B, H, W, L) -> per-landmark softmax over the H x W positions (each map sums to 1)."""
    shape = ops.shape(logits)
    flat = ops.reshape(logits, (shape[0], -1, shape[3]))
    return ops.reshape(ops.softmax(flat, axis=1), shape)


@keras.saving.register_keras_serializable(package="keras_au")
class LandmarkEncoder(keras.layers.Layer):
    """F -> (attention A (B,H,W,49), landmark feature F_l (B,H,W,width), response logits R (B,H,W,49)).

    Four instance-normalised conv blocks and tanh give F_l (the landmark-related feature that the
    contrastive supervisors compare); one more conv gives the 49 response maps, supervised by L_l
    (softmax over positions) and softmaxed into the attention that G_st recombines.
    """

    def __init__(self, width: int = 64, num_landmarks: int = 49, depth: int = 4, **kwargs):
        super().__init__(**kwargs)
        self.width, self.num_landmarks, self.depth = width, num_landmarks, depth
        self.blocks = [ConvBlock(width, norm="instance", name=f"block{i + 1}") for i in range(depth)]
        self.response = keras.layers.Conv2D(num_landmarks, 3, padding="same", name="response")

    def build(self, input_shape):
        build_chain([*self.blocks, self.response], input_shape)

    def call(self, features):
        x = features
        for b in self.blocks:
            x = b(x)
        landmark_features = ops.tanh(x)
        logits = self.response(landmark_features)
        return spatial_softmax(logits), landmark_features, logits

    def compute_output_shape(self, input_shape):
        maps = (*input_shape[:-1], self.num_landmarks)
        return maps, (*input_shape[:-1], self.width), maps

    def get_config(self) -> dict:
        return {**super().get_config(), "width": self.width, "num_landmarks": self.num_landmarks,
                "depth": self.depth}
