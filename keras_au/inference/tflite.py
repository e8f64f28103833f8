"""TFLite variants of a serving SavedModel and their parity with it.

Each ``.tflite`` is converted from the SavedModel's ``predict_landmarks`` signature, so it takes the
same inputs: ``images`` float32 (B, 200, 200, 3) aligned faces in [0, 255] and ``landmarks``
float32 (B, 68, 2) in the aligned 200x200 frame (the centre crop to S is inside the model), and
returns ``au_probs`` float32 (B, A). Inputs and outputs stay float32 in every variant (the
quantised variants quantise inside), so one runner and one predict path serve all four:

| variant        | converter settings |
|----------------|--------------------|
| ``fp32``       | none |
| ``fp16``       | float16 weights (``supported_types=[tf.float16]``); CPUs compute in float32 |
| ``dynamic_int8`` | int8 weights, float activations (``Optimize.DEFAULT`` without data) |
| ``int8``       | int8 weights and activations calibrated on representative faces (``TFLITE_BUILTINS_INT8``; ops without an int8 kernel fall back to float and the report says so) |

Representative faces come from TFRecords (read with ``keras_au.data.input_pipeline`` with
``training=False`` and a 200-pixel "crop", i.e. the whole aligned face) or from given arrays.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import Iterable, Optional, Sequence

import numpy as np

from keras_au.data.schema import IMAGE_SIZE
from keras_au.inference.export_info import ExportInfo
from keras_au.inference.signatures import THRESHOLD, WITH_LANDMARKS

VARIANTS = ("fp32", "fp16", "dynamic_int8", "int8")


@dataclass
class FaceArrays:
    """Aligned faces for calibration/parity: images (N, 200, 200, 3) float32, landmarks (N, 68, 2) float32."""

    images: np.ndarray
    landmarks: np.ndarray

    def __post_init__(self):
        self.images = np.asarray(self.images, np.float32)
        self.landmarks = np.asarray(self.landmarks, np.float32)
        if self.images.ndim != 4 or self.images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE, 3):
            raise ValueError(f"images must be (N, {IMAGE_SIZE}, {IMAGE_SIZE}, 3), got {self.images.shape}")
        if self.landmarks.shape != (len(self.images), 68, 2):
            raise ValueError(f"landmarks must be (N, 68, 2) matching images, got {self.landmarks.shape}")
        if len(self.images) == 0:
            raise ValueError("no faces given")

    def __len__(self) -> int:
        return len(self.images)


def faces_from_records(pattern, info: ExportInfo, max_samples: int = 64) -> FaceArrays:
    """Whole aligned faces from TFRecords (evaluation reading: no augmentation); missing landmarks -> mean."""
    from keras_au.data.input_pipeline import InputConfig, build_dataset

    cfg = InputConfig(file_pattern=pattern, batch_size=16, crop_size=IMAGE_SIZE, training=False, repeat=False,
                      drop_remainder=False)
    images, landmarks = [], []
    count = 0
    for batch in build_dataset(cfg):
        has = batch["has_landmarks"].numpy() > 0
        lm = np.where(has[:, None, None], batch["landmarks"].numpy(), info.mean_landmarks_200[None])
        images.append(batch["image"].numpy())
        landmarks.append(lm)
        count += len(lm)
        if count >= max_samples:
            break
    if not images:
        raise ValueError(f"{pattern}: the records hold no faces")
    return FaceArrays(np.concatenate(images)[:max_samples], np.concatenate(landmarks)[:max_samples])


def _representative(faces: FaceArrays):
    def gen():
        for i in range(len(faces)):
            yield {"images": faces.images[i : i + 1], "landmarks": faces.landmarks[i : i + 1]}

    return gen


def convert(
    version_dir: str, variant: str, representative: Optional[FaceArrays] = None, loaded=None
) -> tuple[bytes, dict]:
    """One TFLite variant of a SavedModel version (``loaded``: the same, already loaded); returns (flatbuffer, notes)."""
    import tensorflow as tf

    if variant not in VARIANTS:
        raise ValueError(f"unknown TFLite variant {variant!r}; choose from {', '.join(VARIANTS)}")
    loaded = tf.saved_model.load(version_dir) if loaded is None else loaded
    signature = loaded.signatures[WITH_LANDMARKS]

    # Only the probabilities: the string/bool outputs of the signature are for TF Serving clients.
    @tf.function(input_signature=[tf.TensorSpec((None, IMAGE_SIZE, IMAGE_SIZE, 3), tf.float32, name="images"),
                                  tf.TensorSpec((None, 68, 2), tf.float32, name="landmarks")])
    def au_probs(images, landmarks):
        return {"au_probs": signature(images=images, landmarks=landmarks)["au_probs"]}

    notes: dict = {"variant": variant}

    def converter():
        c = tf.lite.TFLiteConverter.from_concrete_functions([au_probs.get_concrete_function()], loaded)
        if variant == "fp16":
            c.optimizations = [tf.lite.Optimize.DEFAULT]
            c.target_spec.supported_types = [tf.float16]
        elif variant in ("dynamic_int8", "int8"):
            c.optimizations = [tf.lite.Optimize.DEFAULT]
        return c

    if variant != "int8":
        try:
            return converter().convert(), notes
        except Exception as e:  # ConverterError's text is pages of MLIR locations: keep what names the ops
            raise ValueError(f"TFLite {variant} conversion of {version_dir} failed: {_converter_summary(e)}") from None
    if representative is None:
        raise ValueError("full-int8 needs representative faces (records or arrays)")
    c = converter()
    c.representative_dataset = _representative(representative)
    c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    notes["calibration_faces"] = len(representative)
    try:
        return c.convert(), notes
    except Exception as e:  # some op has no int8 kernel: keep it in float, say so
        notes["float_fallback"] = _converter_summary(e)
    c = converter()
    c.representative_dataset = _representative(representative)
    c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]
    try:
        return c.convert(), notes
    except Exception as e:
        raise ValueError(f"TFLite int8 conversion of {version_dir} failed: {_converter_summary(e)}") from None


def _converter_summary(error: Exception) -> str:
    """The lines of a converter error that name unsupported ops (not the MLIR call-site dump)."""
    lines = [ln.strip() for ln in str(error).splitlines()]
    keep = [ln for ln in lines if ln.startswith(("TF Select ops", "tf.", "Some ops are not supported"))]
    return " | ".join(dict.fromkeys(keep))[:1000] or (lines[-1] if lines else type(error).__name__)


class TFLiteRunner:
    """Runs a converted ``.tflite`` with ``ai_edge_litert``; any batch size (the input is resized)."""

    def __init__(self, path_or_bytes, num_threads: Optional[int] = None):
        from ai_edge_litert.interpreter import Interpreter

        kw = {"model_content": path_or_bytes} if isinstance(path_or_bytes, bytes) else {"model_path": path_or_bytes}
        self.interpreter = Interpreter(num_threads=num_threads, **kw)
        self.runner = self.interpreter.get_signature_runner()
        details = self.runner.get_input_details()
        missing = {"images", "landmarks"} - set(details)
        if missing:
            raise ValueError(f"{path_or_bytes if isinstance(path_or_bytes, str) else 'model'}: not a keras-au "
                             f"TFLite model (inputs {sorted(details)})")

    def __call__(self, images: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        out = self.runner(images=np.asarray(images, np.float32), landmarks=np.asarray(landmarks, np.float32))
        return np.asarray(out["au_probs"], np.float32)


def saved_model_probs(loaded, faces: FaceArrays, batch: int = 32) -> np.ndarray:
    """``predict_landmarks`` probabilities of a loaded SavedModel, in batches."""
    import tensorflow as tf

    fn = loaded.signatures[WITH_LANDMARKS]
    return np.concatenate([
        fn(images=tf.constant(faces.images[i : i + batch]), landmarks=tf.constant(faces.landmarks[i : i + batch]))
        ["au_probs"].numpy() for i in range(0, len(faces), batch)
    ])


def parity(reference: np.ndarray, probs: np.ndarray, au_names: Sequence[str]) -> dict:
    """Max/mean |difference| of probabilities and decision agreement at 0.5, overall and per AU."""
    diff = np.abs(reference - probs)
    agree = (reference >= THRESHOLD) == (probs >= THRESHOLD)
    return {
        "max_abs_diff": float(diff.max()),
        "mean_abs_diff": float(diff.mean()),
        "agreement": float(agree.mean()),
        "per_au_agreement": {name: float(a) for name, a in zip(au_names, agree.mean(axis=0))},
        "per_au_max_abs_diff": {name: float(d) for name, d in zip(au_names, diff.max(axis=0))},
    }


def export_tflite(
    version_dir: str,
    out_dir: str,
    variants: Iterable[str] = VARIANTS,
    faces: Optional[FaceArrays] = None,
    num_threads: Optional[int] = None,
    progress: bool = False,
) -> dict:
    """Writes ``keras_au_<variant>.tflite`` + ``export.json`` + ``parity.json`` to ``out_dir``; returns the report.

    ``faces`` calibrates ``int8`` and measures parity against the SavedModel.
    """
    import tensorflow as tf
    from tqdm import tqdm

    from keras_au.inference.savedmodel import read_serving_info

    info = read_serving_info(version_dir)
    loaded = tf.saved_model.load(version_dir)
    variants = list(variants)
    os.makedirs(out_dir, exist_ok=True)
    info.write(out_dir)  # the AU list for `keras-au predict --model x.tflite`
    reference = saved_model_probs(loaded, faces) if faces is not None else None
    report = {"saved_model": os.path.abspath(version_dir), "model": info.model, "aus": info.au_names,
              "faces": 0 if faces is None else len(faces), "variants": {}}
    for variant in tqdm(variants, desc="tflite", unit="variant", disable=not progress):
        t0 = time.perf_counter()
        flat, notes = convert(version_dir, variant, faces, loaded)
        path = os.path.join(out_dir, f"keras_au_{variant}.tflite")
        with open(path, "wb") as f:
            f.write(flat)
        entry = {"path": path, "bytes": len(flat), "convert_s": round(time.perf_counter() - t0, 2), **notes}
        if faces is not None:
            probs = TFLiteRunner(path, num_threads)(faces.images, faces.landmarks)
            entry.update(parity(reference, probs, info.au_names))
        report["variants"][variant] = entry
    with open(os.path.join(out_dir, "parity.json"), "w") as f:
        json.dump(report, f, indent=2)
    return report


def format_report(report: dict) -> str:
    """The parity report as a text table."""
    lines = [f"TFLite vs SavedModel ({report['model']}, {report['faces']} faces)",
             f"{'variant':14s} {'size KB':>9s} {'max |dp|':>9s} {'mean |dp|':>10s} {'agree@0.5':>10s}  notes"]
    for name, e in report["variants"].items():
        cells = [f"{e['max_abs_diff']:9.4f}", f"{e['mean_abs_diff']:10.5f}", f"{e['agreement']:10.3f}"] \
            if "max_abs_diff" in e else [f"{'-':>9s}", f"{'-':>10s}", f"{'-':>10s}"]
        note = "float fallback" if "float_fallback" in e else ""
        lines.append(f"{name:14s} {e['bytes'] / 1024:9.1f} " + " ".join(cells) + f"  {note}")
    return "\n".join(lines)
