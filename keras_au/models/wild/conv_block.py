"""Conv -> normalisation -> PReLU, the unit every ADLD-style module is built from."""

from __future__ import annotations

from typing import Optional

import keras


@keras.saving.register_keras_serializable(package="keras_au")
class ConvBlock(keras.layers.Layer):
    """``Conv2D`` + batch/instance/no normalisation + per-channel PReLU (or none).

    Instance normalisation is ``GroupNormalization(groups=-1)`` (one group per channel), as ADLD's
    separation modules use; the feature extractor and the landmark parts use batch normalisation.
    """

    def __init__(
        self, filters: int, kernel_size: int = 3, strides: int = 1, padding: str = "same",
        norm: Optional[str] = "batch", activation: Optional[str] = "prelu", **kwargs,
    ):
        super().__init__(**kwargs)
        if norm not in ("batch", "instance", None):
            raise ValueError(f"norm must be 'batch', 'instance' or None, got {norm!r}")
        self.filters, self.kernel_size, self.strides, self.padding = filters, kernel_size, strides, padding
        self.norm, self.activation = norm, activation
        self.conv = keras.layers.Conv2D(filters, kernel_size, strides=strides, padding=padding,
                                        use_bias=norm is None, name="conv")
        if norm == "batch":
            self.norm_layer = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name="bn")
        elif norm == "instance":
            self.norm_layer = keras.layers.GroupNormalization(groups=-1, epsilon=1e-5, name="in")
        else:
            self.norm_layer = None
        self.act = keras.layers.PReLU(shared_axes=[1, 2], name="prelu") if activation == "prelu" else None

    def build(self, input_shape):
        self.conv.build(input_shape)
        out_shape = self.conv.compute_output_shape(input_shape)
        if self.norm_layer is not None:
            self.norm_layer.build(out_shape)
        if self.act is not None:
            self.act.build(out_shape)

    def call(self, x, training=None):
        x = self.conv(x)
        if self.norm_layer is not None:
            x = self.norm_layer(x, training=training)
        return self.act(x) if self.act is not None else x

    def compute_output_shape(self, input_shape):
        return self.conv.compute_output_shape(input_shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "padding": self.padding, "norm": self.norm, "activation": self.activation}
