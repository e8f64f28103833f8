"""RoI inpainting (RoII): generator G, discriminator D and auxiliary AU classifier C on 48x48 patches.

G maps an attended RoI feature x (d) to the blanked patch; D tells real patches from G's; C predicts
the AU state from a patch (real or generated), so G must restore AU evidence, not only texture.
Patches are RGB in [-1, 1].
"""

from __future__ import annotations

from typing import Sequence

import keras
from keras import layers, ops

from keras_au.models.layer_chain import build_chain
from keras_au.models.resnet import batch_norm


@keras.saving.register_keras_serializable(package="keras_au")
class PatchGenerator(keras.layers.Layer):
    """(N, d) -> (N, P, P, 3) with 5 transposed convs: (P/16)^2 start, then 4 stride-2 upsamplings."""

    def __init__(self, patch_size: int = 48, widths: Sequence[int] = (1024, 512, 256, 128), **kwargs):
        super().__init__(**kwargs)
        self.patch_size, self.widths = int(patch_size), tuple(int(w) for w in widths)
        start = self.patch_size // 16
        self.blocks = [layers.Conv2DTranspose(self.widths[0], start, padding="valid", use_bias=False, name="up0")]
        self.norms = [batch_norm("bn0")]
        for i, w in enumerate(self.widths[1:], 1):
            self.blocks.append(layers.Conv2DTranspose(w, 4, strides=2, padding="same", use_bias=False, name=f"up{i}"))
            self.norms.append(batch_norm(f"bn{i}"))
        self.out = layers.Conv2DTranspose(3, 4, strides=2, padding="same", name=f"up{len(self.widths)}")

    def build(self, input_shape):
        chain = [layer for pair in zip(self.blocks, self.norms) for layer in pair] + [self.out]
        build_chain(chain, (input_shape[0], 1, 1, input_shape[-1]))

    def call(self, x, training=None):
        h = ops.reshape(x, (-1, 1, 1, x.shape[-1]))
        for conv, norm in zip(self.blocks, self.norms):
            h = ops.relu(norm(conv(h), training=training))
        return ops.tanh(ops.cast(self.out(h), "float32"))

    def get_config(self) -> dict:
        return {**super().get_config(), "patch_size": self.patch_size, "widths": list(self.widths)}


@keras.saving.register_keras_serializable(package="keras_au")
class PatchDiscriminator(keras.layers.Layer):
    """(N, P, P, 3) -> (N, outputs) logits with 5 convs: 4 stride-2 4x4 convs + a (P/16)^2 valid conv.

    No batch normalisation: real and generated patches are scored in one batch and must not share
    statistics. ``outputs`` = 1 for D; C is the same network with one logit per AU.
    """

    def __init__(self, patch_size: int = 48, widths: Sequence[int] = (128, 256, 512, 1024), outputs: int = 1,
                 **kwargs):
        super().__init__(**kwargs)
        self.patch_size, self.widths, self.outputs = int(patch_size), tuple(int(w) for w in widths), int(outputs)
        self.convs = [layers.Conv2D(w, 4, strides=2, padding="same", name=f"conv{i}")
                      for i, w in enumerate(self.widths)]
        self.head = layers.Conv2D(self.outputs, self.patch_size // 16, padding="valid", dtype="float32",
                                  name=f"conv{len(self.widths)}")

    def build(self, input_shape):
        build_chain([*self.convs, self.head], input_shape)

    def call(self, patches, training=None):
        h = ops.cast(patches, self.compute_dtype)
        for conv in self.convs:
            h = ops.leaky_relu(conv(h), negative_slope=0.2)
        return ops.reshape(self.head(h), (-1, self.outputs))

    def get_config(self) -> dict:
        return {**super().get_config(), "patch_size": self.patch_size, "widths": list(self.widths),
                "outputs": self.outputs}


@keras.saving.register_keras_serializable(package="keras_au")
class PatchClassifier(PatchDiscriminator):
    """Auxiliary AU classifier C: a ``PatchDiscriminator`` with one logit per AU."""

    def __init__(self, num_aus: int = 12, patch_size: int = 48, widths: Sequence[int] = (128, 256, 512, 1024),
                 **kwargs):
        kwargs.pop("outputs", None)
        super().__init__(patch_size=patch_size, widths=widths, outputs=num_aus, **kwargs)

    def get_config(self) -> dict:
        cfg = super().get_config()
        cfg["num_aus"] = cfg.pop("outputs")
        return cfg
