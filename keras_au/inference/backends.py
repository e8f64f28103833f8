"""One interface over the three model formats ``keras-au predict`` accepts.

``open_model(path)`` takes a serving version directory, a serving base directory (its latest
version), a ``keras-au export`` directory (``model.keras``) or a ``.tflite`` file, and returns a
backend with ``info`` (``ExportInfo``) and ``__call__(images, landmarks) -> (B, A) probabilities``,
where images are aligned 200x200 faces (float32 [0, 255]) and landmarks are in that aligned frame,
i.e. the inputs of the ``predict_landmarks`` signature for every format.
"""

from __future__ import annotations

import os
from typing import Optional

import numpy as np

from keras_au.inference.export_info import EXPORT_JSON, MODEL_FILE, ExportInfo


class KerasBackend:
    """``model.keras`` + ``export.json``; the centre crop is the serving signatures' own."""

    kind = "keras"

    def __init__(self, export_dir: str):
        import tensorflow as tf

        from keras_au.inference.savedmodel import load_keras_export
        from keras_au.inference.signatures import centre_crop, model_probs

        self.path = export_dir
        self.model, self.info = load_keras_export(export_dir)
        size = self.info.input_size
        self._fn = tf.function(lambda i, l: model_probs(self.model, *centre_crop(i, l, size)), reduce_retracing=True)

    def __call__(self, images: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        return self._fn(np.asarray(images, np.float32), np.asarray(landmarks, np.float32)).numpy()


class SavedModelBackend:
    """A serving SavedModel, run through its ``predict_landmarks`` signature (what TF Serving runs)."""

    kind = "saved_model"

    def __init__(self, path: str):
        import tensorflow as tf

        from keras_au.inference.savedmodel import read_serving_info, resolve_version_dir
        from keras_au.inference.signatures import WITH_LANDMARKS

        self.path = resolve_version_dir(path)
        self.info = read_serving_info(self.path)
        self._fn = tf.saved_model.load(self.path).signatures[WITH_LANDMARKS]

    def __call__(self, images: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        import tensorflow as tf

        out = self._fn(images=tf.constant(images, tf.float32), landmarks=tf.constant(landmarks, tf.float32))
        return out["au_probs"].numpy()


class TFLiteBackend:
    """A ``.tflite`` from ``keras-au tflite``; the AU list comes from the ``export.json`` beside it."""

    kind = "tflite"

    def __init__(self, path: str, num_threads: Optional[int] = None):
        from keras_au.inference.tflite import TFLiteRunner

        self.path = path
        self.info = ExportInfo.load(_sidecar(path))
        self._run = TFLiteRunner(path, num_threads)

    def __call__(self, images: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        return self._run(images, landmarks)


def _sidecar(path: str) -> str:
    for candidate in (os.path.splitext(path)[0] + ".json", os.path.join(os.path.dirname(path) or ".", EXPORT_JSON)):
        if os.path.isfile(candidate):
            return candidate
    raise FileNotFoundError(f"{path}: no export.json beside it (it names the AUs); `keras-au tflite` writes one")


def open_model(path: str, num_threads: Optional[int] = None):
    """The right backend for a model path (see the module docstring)."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such model file or directory")
    if os.path.isfile(path):
        if path.endswith(".tflite"):
            return TFLiteBackend(path, num_threads)
        raise ValueError(f"{path}: a model file must be .tflite (or give a directory)")
    if os.path.isfile(os.path.join(path, MODEL_FILE)):
        return KerasBackend(path)
    return SavedModelBackend(path)
