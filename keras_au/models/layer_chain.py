"""Building a chain of sub-layers ahead of the first call."""

from __future__ import annotations

from typing import Sequence

import keras


def build_chain(layers: Sequence[keras.layers.Layer], input_shape) -> tuple:
    """Builds ``layers`` in order, each on the previous one's output shape; returns the last output shape.

    Building in ``build`` rather than on the first call is what lets a loaded model take its weights.
    """
    shape = input_shape
    for layer in layers:
        layer.build(shape)
        shape = layer.compute_output_shape(shape)
    return shape
