"""What a predict request carries, independent of the protocol (REST JSON or gRPC ``TensorProto``)."""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from keras_au.inference.signatures import BYTES, DEFAULT, WITH_LANDMARKS


def prepare_inputs(
    images: Optional[np.ndarray] = None,
    landmarks: Optional[np.ndarray] = None,
    image_bytes: Optional[Sequence[bytes]] = None,
    signature: Optional[str] = None,
) -> tuple[str, dict[str, np.ndarray]]:
    """(signature name, named inputs). The signature follows from what is given unless named:
    encoded bytes -> ``serve_bytes``; images + landmarks -> ``predict_landmarks``; images -> ``serving_default``.
    """
    inputs: dict[str, np.ndarray] = {}
    if image_bytes is not None:
        if images is not None or landmarks is not None:
            raise ValueError("give either image_bytes or images (+ landmarks), not both")
        inputs["image_bytes"] = np.array([bytes(b) for b in image_bytes], dtype=object)
        default = BYTES
    elif images is not None:
        inputs["images"] = np.asarray(images)
        default = DEFAULT
        if landmarks is not None:
            inputs["landmarks"] = np.asarray(landmarks, np.float32)
            default = WITH_LANDMARKS
    else:
        raise ValueError("nothing to predict: give images or image_bytes")
    return signature or default, inputs


def decode_outputs(outputs: dict) -> dict[str, np.ndarray]:
    """Normalises output arrays: probabilities float32, names str, decisions bool."""
    out = {}
    for name, value in outputs.items():
        arr = np.asarray(value)
        if arr.dtype == object or arr.dtype.kind == "S":
            arr = np.vectorize(lambda v: v.decode() if isinstance(v, bytes) else str(v), otypes=[object])(arr)
            arr = arr.astype(str)
        elif name == "au_present":
            arr = arr.astype(bool)
        elif name == "au_probs":
            arr = arr.astype(np.float32)
        out[name] = arr
    return out
