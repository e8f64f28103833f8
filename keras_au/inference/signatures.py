"""Serving signatures around an exported model: aligned 200x200 faces in, AU probabilities out.

Every signature takes whole aligned faces, as ``keras_au.geometry.align_face`` produces them
(200x200 RGB, float32 in [0, 255]), and centre-crops them to the model's input size S inside the
graph, the same crop evaluation uses, so clients never need to know S.

| signature           | inputs                                                         | landmarks used |
|---------------------|----------------------------------------------------------------|----------------|
| ``serving_default`` | ``images`` float32 (B, 200, 200, 3)                            | export.json ``mean_landmarks`` (faces are aligned to a template, so they sit near the mean) |
| ``predict_landmarks`` | ``images`` as above, ``landmarks`` float32 (B, 68, 2) (x, y) in the 200x200 aligned frame | the given ones |
| ``serve_bytes``     | ``image_bytes`` string (B,): encoded JPEG/PNG/BMP/GIF of aligned faces, resized to 200x200 if needed | mean |

All return ``au_probs`` float32 (B, A), ``au_names`` string (B, A) (``"AU01"``...) and
``au_present`` bool (B, A) (``au_probs >= 0.5``).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import tensorflow as tf

from keras_au.data.schema import IMAGE_SIZE, NUM_LANDMARKS
from keras_au.inference.export_info import ExportInfo

THRESHOLD = 0.5
DEFAULT = "serving_default"
WITH_LANDMARKS = "predict_landmarks"
BYTES = "serve_bytes"
SIGNATURE_NAMES = (DEFAULT, WITH_LANDMARKS, BYTES)
OUTPUT_NAMES = ("au_probs", "au_names", "au_present")

IMAGES_SPEC = tf.TensorSpec((None, IMAGE_SIZE, IMAGE_SIZE, 3), tf.float32, name="images")
LANDMARKS_SPEC = tf.TensorSpec((None, NUM_LANDMARKS, 2), tf.float32, name="landmarks")
BYTES_SPEC = tf.TensorSpec((None,), tf.string, name="image_bytes")


def centre_crop(images: tf.Tensor, landmarks: tf.Tensor, size: int) -> tuple[tf.Tensor, tf.Tensor]:
    """Aligned 200x200 faces and landmarks -> the model's S x S centre crop (evaluation's crop)."""
    off = (IMAGE_SIZE - size) // 2
    return images[:, off : off + size, off : off + size, :], landmarks - float(off)


def model_probs(model, images_s: tf.Tensor, landmarks_s: tf.Tensor) -> tf.Tensor:
    """Calls a contract model on S-frame inputs and returns float32 (B, A) probabilities."""
    out = model({"image": images_s, "landmarks": landmarks_s}, training=False)
    if isinstance(out, dict):  # tolerate a dict output with one entry or an explicit "au_probs"
        out = out["au_probs"] if "au_probs" in out else next(iter(out.values()))
    return tf.cast(out, tf.float32)


def decode_aligned(image_bytes: tf.Tensor) -> tf.Tensor:
    """String batch of encoded images -> float32 (B, 200, 200, 3); undecodable bytes raise InvalidArgument."""

    def one(data):
        img = tf.io.decode_image(data, channels=3, expand_animations=False, dtype=tf.uint8)
        img = tf.cast(img, tf.float32)
        shape = tf.shape(img)
        same = tf.logical_and(tf.equal(shape[0], IMAGE_SIZE), tf.equal(shape[1], IMAGE_SIZE))
        img = tf.cond(same, lambda: img, lambda: tf.image.resize(img, (IMAGE_SIZE, IMAGE_SIZE)))
        return tf.ensure_shape(img, (IMAGE_SIZE, IMAGE_SIZE, 3))

    return tf.map_fn(one, image_bytes, fn_output_signature=tf.TensorSpec((IMAGE_SIZE, IMAGE_SIZE, 3), tf.float32))


class ServingFunctions:
    """The three signature bodies for one model; ``forward(images_s, landmarks_s) -> probs``.

    ``forward`` is the model call (Keras model, or a loaded SavedModel function for re-export);
    everything around it (crop, landmark frame, decoding, outputs) lives here once.
    """

    def __init__(self, forward: Callable[[tf.Tensor, tf.Tensor], tf.Tensor], info: ExportInfo):
        self.forward = forward
        self.info = info
        self._names = tf.constant(info.au_names)
        self._mean_lm = tf.constant(info.mean_landmarks_200, tf.float32)

    def _outputs(self, probs: tf.Tensor) -> dict:
        batch = tf.shape(probs)[0]
        names = tf.tile(self._names[None, :], tf.stack([batch, 1]))
        return {"au_probs": probs, "au_names": names, "au_present": probs >= THRESHOLD}

    def probs(self, images: tf.Tensor, landmarks: tf.Tensor) -> tf.Tensor:
        """(B, 200, 200, 3) faces + (B, 68, 2) aligned-frame landmarks -> (B, A) probabilities."""
        # TF Serving feeds tensors without checking them against the signature, so check here.
        images = tf.ensure_shape(images, IMAGES_SPEC.shape)
        landmarks = tf.ensure_shape(landmarks, LANDMARKS_SPEC.shape)
        with tf.control_dependencies([tf.debugging.assert_equal(
                tf.shape(images)[0], tf.shape(landmarks)[0], message="images and landmarks batch sizes differ")]):
            landmarks = tf.debugging.assert_all_finite(landmarks, "landmarks contain NaN or inf")
        images = tf.debugging.assert_all_finite(images, "images contain NaN or inf")
        img_s, lm_s = centre_crop(images, landmarks, self.info.input_size)
        return self.forward(img_s, lm_s)

    def mean_landmarks(self, images: tf.Tensor) -> tf.Tensor:
        return tf.tile(self._mean_lm[None], tf.stack([tf.shape(images)[0], 1, 1]))

    def serving_default(self, images):
        return self._outputs(self.probs(images, self.mean_landmarks(images)))

    def predict_landmarks(self, images, landmarks):
        return self._outputs(self.probs(images, landmarks))

    def serve_bytes(self, image_bytes):
        images = decode_aligned(image_bytes)
        return self._outputs(self.probs(images, self.mean_landmarks(images)))

    def endpoints(self) -> dict[str, tuple[Callable, list]]:
        """name -> (function, input signature), in the order they are exported."""
        return {
            DEFAULT: (self.serving_default, [IMAGES_SPEC]),
            WITH_LANDMARKS: (self.predict_landmarks, [IMAGES_SPEC, LANDMARKS_SPEC]),
            BYTES: (self.serve_bytes, [BYTES_SPEC]),
        }


def keras_forward(model) -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor]:
    return lambda images_s, landmarks_s: model_probs(model, images_s, landmarks_s)


def example_batch(info: ExportInfo, batch: int = 1) -> dict[str, np.ndarray]:
    """A grey-face request for ``predict_landmarks`` (used for warm-up requests)."""
    return {
        "images": np.full((batch, IMAGE_SIZE, IMAGE_SIZE, 3), 128.0, np.float32),
        "landmarks": np.repeat(info.mean_landmarks_200[None], batch, axis=0),
    }
