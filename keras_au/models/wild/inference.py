"""The exported inference model: {"image", "landmarks"} -> AU probabilities, built from the trained modules."""

from __future__ import annotations

import keras
from keras import ops

from keras_au.data.schema import NUM_LANDMARKS


@keras.saving.register_keras_serializable(package="keras_au")
class AcceptLandmarks(keras.layers.Layer):
    """Returns the AU probabilities unchanged; takes the landmarks input only so every keras-au model has the
    same serving signature (the wild model needs no landmarks at test time)."""

    def call(self, inputs):
        probs, _landmarks = inputs
        return ops.cast(probs, "float32")

    def compute_output_shape(self, input_shape):
        return input_shape[0]


def build_inference_model(network, path: str | None = None) -> keras.Model:
    """Functional model over the network's own (trained) layers.

    ``path`` "target" (default from the network): E_f -> (E_l, G_b) -> G_st -> F_au, ADLD's test path for
    target-domain (in-the-wild) images; "source": E_f -> F_au.
    """
    path = path or network.export_path
    size = network.crop_size
    image = keras.Input((size, size, 3), name="image")
    landmarks = keras.Input((NUM_LANDMARKS, 2), name="landmarks")
    features = network.feature_extractor(image)
    if path == "target":
        attention, _, _ = network.landmark_encoder(features)
        features = network.feature_generator((attention, network.background_generator(features)))
    elif path != "source":
        raise ValueError(f"path must be 'target' or 'source', got {path!r}")
    probs = keras.layers.Activation("sigmoid", dtype="float32", name="au_probabilities")(network.au_detector(features))
    out = AcceptLandmarks(name="au_probs")([probs, landmarks])
    return keras.Model({"image": image, "landmarks": landmarks}, out, name=f"wild_{path}_inference")
