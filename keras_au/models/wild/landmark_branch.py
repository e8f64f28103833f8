"""Landmark branch: 5 parts (two 3x3 convs + 2x2 average pool each), CBAM, two FC layers -> 49 landmarks."""

from __future__ import annotations

from typing import Sequence

import keras
from keras import ops

from keras_au.models.wild.cbam import CBAM
from keras_au.models.wild.image_input import prepare_images
from keras_au.models.wild.landmark_part import LandmarkPart


@keras.saving.register_keras_serializable(package="keras_au")
class LandmarkBranch(keras.layers.Layer):
    """Regresses 49 landmarks as (x, y) in units of the crop side (0..1; multiply by the crop size for pixels).

    ``stem`` (parts 1-2) is what ``E_f`` copies after stage 1; in stage 2 ``head`` (parts 3-5, CBAM, FCs)
    runs on E_f's pre-tanh map, so L_fl trains the shared extractor (multi-task learning).
    """

    def __init__(
        self, part_widths: Sequence[int] = (32, 64, 128, 256, 512), fc_units: int = 512, num_landmarks: int = 49,
        input_size: int = 176, cbam_reduction: int = 16, cbam_kernel: int = 7, **kwargs,
    ):
        super().__init__(**kwargs)
        self.part_widths = tuple(int(w) for w in part_widths)
        self.fc_units, self.num_landmarks, self.input_size = fc_units, num_landmarks, input_size
        self.cbam_reduction, self.cbam_kernel = cbam_reduction, cbam_kernel
        self.parts = [LandmarkPart(w, name=f"part{i + 1}") for i, w in enumerate(self.part_widths)]
        self.cbam = CBAM(cbam_reduction, cbam_kernel, name="cbam")
        self.flatten = keras.layers.Flatten()
        self.fc1 = keras.layers.Dense(fc_units, name="fc1")
        self.act = keras.layers.PReLU(name="fc1_prelu")
        # Zero-initialised output: training starts from the crop centre instead of random points.
        self.fc2 = keras.layers.Dense(2 * num_landmarks, kernel_initializer="zeros", name="fc2")

    def build(self, input_shape):
        shape = (input_shape[0], self.input_size, self.input_size, 3)
        for part in self.parts:
            part.build(shape)
            shape = part.compute_output_shape(shape)
        self.cbam.build(shape)
        flat = shape[1] * shape[2] * shape[3]
        self.fc1.build((None, flat))
        self.act.build((None, self.fc_units))
        self.fc2.build((None, self.fc_units))

    def stem(self, images, training=None):
        """Parts 1-2 on raw [0, 255] images."""
        x = prepare_images(images, self.input_size)
        for part in self.parts[:2]:
            x = part(x, training=training)
        return x

    def head(self, stem_features, training=None):
        """Parts 3-5, CBAM and the two FC layers -> (B, 49, 2)."""
        x = stem_features
        for part in self.parts[2:]:
            x = part(x, training=training)
        x = self.fc2(self.act(self.fc1(self.flatten(self.cbam(x)))))
        return ops.reshape(x, (-1, self.num_landmarks, 2)) + 0.5

    def call(self, images, training=None):
        return self.head(self.stem(images, training=training), training=training)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_landmarks, 2)

    def get_config(self) -> dict:
        return {**super().get_config(), "part_widths": list(self.part_widths), "fc_units": self.fc_units,
                "num_landmarks": self.num_landmarks, "input_size": self.input_size,
                "cbam_reduction": self.cbam_reduction, "cbam_kernel": self.cbam_kernel}
