"""SavedModel for TF Serving: ``<serving_dir>/<model_name>/<version>/`` with integer versions.

TF Serving watches ``<serving_dir>/<model_name>`` and loads the highest integer sub-directory, so a
new export gets ``max(existing) + 1`` and is written to a hidden temporary directory first and
renamed into place: the server never sees a half-written version.

Besides ``saved_model.pb`` and ``variables/``, each version holds ``assets.extra/``:

* ``au_names.txt``: one AU label per line, in output order;
* ``export.json``: the exported model's ``export.json`` plus the signature table, so ``keras-au
  predict`` and the TFLite converter can read the AU list and input size from a serving directory;
* ``tf_serving_warmup_requests``: one ``predict_landmarks`` request (grey face, mean landmarks)
  that TF Serving replays at load time so the first real request does not pay for graph set-up.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from typing import Optional

from keras_au.inference.export_info import EXPORT_JSON, MODEL_FILE, ExportInfo

MODEL_NAME = "keras_au"
EXTRA_DIR = "assets.extra"
AU_NAMES_FILE = "au_names.txt"
WARMUP_FILE = "tf_serving_warmup_requests"
SAVED_MODEL_PB = "saved_model.pb"


def version_dirs(base: str) -> dict[int, str]:
    """Integer version -> directory, for the versions under a model base path that hold a SavedModel."""
    if not os.path.isdir(base):
        return {}
    out = {}
    for name in os.listdir(base):
        path = os.path.join(base, name)
        if re.fullmatch(r"\d+", name) and os.path.isfile(os.path.join(path, SAVED_MODEL_PB)):
            out[int(name)] = path
    return dict(sorted(out.items()))


def next_version(base: str) -> int:
    """``max(existing integer directories) + 1``, or 1. Counts any integer directory, finished or not."""
    if not os.path.isdir(base):
        return 1
    taken = [int(n) for n in os.listdir(base) if re.fullmatch(r"\d+", n)]
    return max(taken, default=0) + 1


def resolve_version_dir(path: str, model_name: str = MODEL_NAME) -> str:
    """A SavedModel version directory from a version dir, a model base dir or a serving dir (latest)."""
    if os.path.isfile(os.path.join(path, SAVED_MODEL_PB)):
        return path
    for base in (path, os.path.join(path, model_name)):
        versions = version_dirs(base)
        if versions:
            return versions[max(versions)]
    raise FileNotFoundError(f"{path}: no SavedModel (expected <dir>/saved_model.pb or integer version dirs)")


def load_keras_export(export_dir: str):
    """(Keras model, ExportInfo) from a ``keras-au export`` directory.

    The model family's package is imported first (when known) so its registered layers deserialise.
    """
    import keras

    info = ExportInfo.load(export_dir)
    try:
        from keras_au.models import registry

        registry.task_module(info.model)
    except (KeyError, ImportError):
        pass  # stand-ins and plain Keras layers need no registration
    path = os.path.join(export_dir, MODEL_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{export_dir}: no {MODEL_FILE}")
    return keras.saving.load_model(path, compile=False), info


def write_saved_model(model, info: ExportInfo, out_dir: str, model_name: str = MODEL_NAME, warmup: bool = True) -> str:
    """Writes the SavedModel with the three serving signatures (see ``inference.signatures``) to ``out_dir``."""
    import keras

    from keras_au.inference.signatures import ServingFunctions, keras_forward

    archive = keras.export.ExportArchive()
    archive.track(model)
    for name, (fn, spec) in ServingFunctions(keras_forward(model), info).endpoints().items():
        archive.add_endpoint(name, fn, input_signature=spec)
    try:
        archive.write_out(out_dir, verbose=False)
    except TypeError:  # Keras versions without ``verbose``
        archive.write_out(out_dir)
    _write_extra(out_dir, info, model_name, warmup)
    return out_dir


def _write_extra(out_dir: str, info: ExportInfo, model_name: str, warmup: bool) -> None:
    from keras_au.inference.signatures import SIGNATURE_NAMES

    extra = os.path.join(out_dir, EXTRA_DIR)
    os.makedirs(extra, exist_ok=True)
    with open(os.path.join(extra, AU_NAMES_FILE), "w") as f:
        f.write("\n".join(info.au_names) + "\n")
    meta = info.to_dict()
    meta["serving"] = {"model_name": model_name, "signatures": list(SIGNATURE_NAMES), "image_size": 200,
                       "threshold": 0.5, "landmarks_frame": "aligned 200x200 (predict_landmarks)"}
    with open(os.path.join(extra, EXPORT_JSON), "w") as f:
        json.dump(meta, f, indent=2)
    if warmup:
        _write_warmup(os.path.join(extra, WARMUP_FILE), info, model_name)


def _write_warmup(path: str, info: ExportInfo, model_name: str) -> None:
    """TF Serving replays these ``PredictionLog`` records when it loads the version."""
    import tensorflow as tf
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    from keras_au.inference.signatures import WITH_LANDMARKS, example_batch

    request = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(name=model_name, signature_name=WITH_LANDMARKS))
    for key, value in example_batch(info).items():
        request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
    log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
    with tf.io.TFRecordWriter(path) as w:
        w.write(log.SerializeToString())


def export_serving(
    export_dir: str, serving_dir: str, model_name: str = MODEL_NAME, version: Optional[int] = None,
    warmup: bool = True, extra_json: Optional[dict[str, dict]] = None,
) -> str:
    """``keras-au export`` directory -> ``<serving_dir>/<model_name>/<version>/``; returns the version dir.

    ``extra_json``: file name -> dict written to ``assets.extra/`` before the version appears (e.g. the
    Pusher's provenance record)."""
    model, info = load_keras_export(export_dir)
    base = os.path.join(serving_dir, model_name)
    os.makedirs(base, exist_ok=True)
    version = next_version(base) if version is None else int(version)
    if version < 1:
        raise ValueError(f"version must be a positive integer, got {version}")
    final = os.path.join(base, str(version))
    if os.path.exists(final):
        raise FileExistsError(f"{final} already exists; versions are immutable (omit --version for the next one)")
    tmp = tempfile.mkdtemp(prefix=f".tmp-{version}-", dir=base)  # not an integer name: TF Serving ignores it
    try:
        write_saved_model(model, info, tmp, model_name, warmup)
        for name, content in (extra_json or {}).items():
            with open(os.path.join(tmp, EXTRA_DIR, name), "w") as f:
                json.dump(content, f, indent=2)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def read_serving_info(version_dir: str) -> ExportInfo:
    """The ``export.json`` stored in a version's ``assets.extra``."""
    return ExportInfo.load(os.path.join(version_dir, EXTRA_DIR, EXPORT_JSON))
