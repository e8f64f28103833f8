"""A small stand-in model that follows the exported-model contract exactly.

Serving, TFLite, predict and their tests are written against the contract, not against a model
family, so this untrained model (a few strided convolutions plus a landmark MLP) lets them run in
seconds. It is labelled ``"stand_in"`` wherever it appears (export.json, benchmark tables) so its
figures are never mistaken for a real model's.
"""

from __future__ import annotations

import os
from typing import Optional, Sequence

import numpy as np

from keras_au.inference.export_info import MODEL_FILE, ExportInfo

STAND_IN_NAME = "stand_in"


def build_stand_in_model(num_aus: int, input_size: int = 192, width: int = 16, seed: int = 0):
    """Keras model with inputs ``{"image": (S, S, 3), "landmarks": (68, 2)}`` and sigmoid (A,) output.

    The landmarks feed the output, so a wrong landmark frame changes the probabilities (tests rely on it).
    """
    import keras
    from keras import layers

    init = keras.initializers.RandomNormal(stddev=0.5, seed=seed)
    bias = keras.initializers.RandomNormal(stddev=1.5, seed=seed + 1)  # spread the probabilities away from 0.5
    image = keras.Input((input_size, input_size, 3), name="image")
    landmarks = keras.Input((68, 2), name="landmarks")
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0)(image)
    x = layers.Conv2D(width, 5, strides=4, padding="same", activation="relu")(x)
    x = layers.Conv2D(2 * width, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.Conv2D(4 * width, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    lm = layers.Flatten()(layers.Rescaling(2.0 / input_size, offset=-1.0)(landmarks))
    lm = layers.Dense(32, activation="relu")(lm)
    h = layers.Concatenate()([x, lm])
    out = layers.Dense(num_aus, activation="sigmoid", kernel_initializer=init, bias_initializer=bias,
                       name="au_probs")(h)
    return keras.Model({"image": image, "landmarks": landmarks}, out, name=STAND_IN_NAME)


def real_mean_landmarks(input_size: int = 192) -> np.ndarray:
    """Mean aligned 68-point shape of the real faces shipped by scikit-image and matplotlib, in the S frame."""
    import matplotlib
    from skimage import data

    from keras_au.geometry import FaceDetector, align_face, load_image

    detector = FaceDetector()
    shapes = []
    for img in (data.astronaut(), load_image(os.path.join(matplotlib.get_data_path(), "sample_data",
                                                          "grace_hopper.jpg"))):
        shapes.append(align_face(img, detector.detect(img).largest.landmarks).landmarks)
    return np.mean(shapes, axis=0).astype(np.float32) - (200 - input_size) // 2


def write_stand_in_export(
    out_dir: str,
    aus: Sequence[int] = (1, 2, 4, 6, 7, 10, 12, 14, 15, 17, 23, 24),
    input_size: int = 192,
    width: int = 16,
    seed: int = 0,
    mean_landmarks: Optional[np.ndarray] = None,
) -> str:
    """Writes ``model.keras`` + ``export.json`` like ``keras-au export`` does; returns ``out_dir``."""
    model = build_stand_in_model(len(aus), input_size, width, seed)
    lm = real_mean_landmarks(input_size) if mean_landmarks is None else np.asarray(mean_landmarks, np.float32)
    os.makedirs(out_dir, exist_ok=True)
    model.save(os.path.join(out_dir, MODEL_FILE))
    ExportInfo(model=STAND_IN_NAME, aus=tuple(int(a) for a in aus), input_size=input_size, mean_landmarks=lm,
               raw={"normalisation": "raw RGB [0, 255]; the model rescales internally", "untrained": True}
               ).write(out_dir)
    return out_dir


def write_untrained_rtatl_export(out_dir: str, preset: str = "ci", model: str = "rtatl", dataset: str = "bp4d") -> str:
    """The real RTATL family's export of an *untrained* model (no training needed): an untrained trainer is
    checkpointed into ``<out_dir>/run`` as ``keras-au train`` would, then the family's ``export`` writes
    ``<out_dir>/export``. For serving tests and benchmarks, where only shapes and cost matter."""
    import json

    from keras_au.au import dataset_aus
    from keras_au.models.rtatl import task
    from keras_au.tasks.checkpoint import checkpoint_path, save_state
    from keras_au.models.rtatl.config import make_config

    cfg = make_config(model, preset, aus=dataset_aus(dataset))
    trainer = task.build_trainer(cfg, compile=False)
    run = os.path.join(out_dir, "run")
    os.makedirs(run, exist_ok=True)
    with open(os.path.join(run, "run.json"), "w") as f:
        json.dump({"model": model, "family": "rtatl", "preset": preset, "untrained": True, "config": cfg.to_dict()}, f)
    save_state(trainer, checkpoint_path(run), epoch=0)
    return task.export(run, os.path.join(out_dir, "export"))
