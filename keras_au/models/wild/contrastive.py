"""Contrastive alignment: projectors P_ij after each reconstructed feature and the six-term L1 loss L_c."""

from __future__ import annotations

from typing import Mapping

import keras
from keras import ops

from keras_au.models.wild.losses import l1_loss

# The six pairs of L_c: the cross-cycle reconstructions of the whole features and the four
# intermediate supervisors (landmark / background parts of each domain).
PAIRS = ("s", "t", "sl", "sb", "tl", "tb")


@keras.saving.register_keras_serializable(package="keras_au")
class Projector(keras.layers.Layer):
    """P_ij: 1x1 conv -> PReLU -> 1x1 conv, keeping the channel count (a per-position MLP).

    The paper names the projectors but not their form; a per-position MLP keeps "averaged over spatial
    positions" meaningful and lets the reconstruction differ from the original by a learned map.
    """

    def __init__(self, channels: int, hidden: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.channels, self.hidden = channels, hidden or channels
        self.fc1 = keras.layers.Conv2D(self.hidden, 1, name="fc1")
        self.act = keras.layers.PReLU(shared_axes=[1, 2], name="prelu")
        self.fc2 = keras.layers.Conv2D(channels, 1, name="fc2")

    def build(self, input_shape):
        self.fc1.build(input_shape)
        hidden_shape = (*input_shape[:-1], self.hidden)
        self.act.build(hidden_shape)
        self.fc2.build(hidden_shape)

    def call(self, x):
        return self.fc2(self.act(self.fc1(x)))

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.channels)

    def get_config(self) -> dict:
        return {**super().get_config(), "channels": self.channels, "hidden": self.hidden}


def contrastive_loss(
    projected: Mapping[str, object], originals: Mapping[str, object], stop_gradient: bool = True
) -> tuple[object, dict]:
    """L_c = sum over the six pairs of L1(P_ij(F'_ij), F_ij); returns (total, per-pair terms).

    Each L1 is averaged over positions and channels (ADLD's reconstruction convention): summing over the
    64 channels instead would make L_c ~64x larger and, at lambda_c = 100, swamp every other term.
    """
    terms = {}
    for key in PAIRS:
        target = ops.stop_gradient(originals[key]) if stop_gradient else originals[key]
        terms[key] = l1_loss(projected[key], target)
    return sum(terms.values()), terms
