"""One part of the landmark branch: two 3x3 convs (stride 1, pad 1) and a 2x2 average pool (paper)."""

from __future__ import annotations

import keras

from keras_au.models.wild.conv_block import ConvBlock


@keras.saving.register_keras_serializable(package="keras_au")
class LandmarkPart(keras.layers.Layer):
    """Two ``ConvBlock`` (batch norm, PReLU as in ADLD's feature encoder) + ``AveragePooling2D(2)``.

    ``E_f`` reuses this exact structure for its two parts, so the weights transfer one-to-one.
    """

    def __init__(self, filters: int, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.conv1 = ConvBlock(filters, name="conv1")
        self.conv2 = ConvBlock(filters, name="conv2")
        self.pool = keras.layers.AveragePooling2D(2, name="pool")

    def build(self, input_shape):
        self.conv1.build(input_shape)
        shape = self.conv1.compute_output_shape(input_shape)
        self.conv2.build(shape)

    def call(self, x, training=None):
        return self.pool(self.conv2(self.conv1(x, training=training), training=training))

    def compute_output_shape(self, input_shape):
        b, h, w, _ = input_shape
        return (b, None if h is None else h // 2, None if w is None else w // 2, self.filters)

    def get_config(self) -> dict:
        return {**super().get_config(), "filters": self.filters}
