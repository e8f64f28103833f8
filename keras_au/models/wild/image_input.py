"""Model-side input handling: raw [0, 255] RGB crops -> [-1, 1] at the network resolution."""

from __future__ import annotations

from keras import ops


def prepare_images(images, input_size: int):
    """Scale to [-1, 1] and, when the crop is larger than ``input_size``, resize (bilinear, antialiased)."""
    x = ops.cast(images, "float32") / 127.5 - 1.0
    if x.shape[1] is not None and x.shape[1] != input_size:
        x = ops.image.resize(x, (input_size, input_size), interpolation="bilinear", antialias=True)
    return x
