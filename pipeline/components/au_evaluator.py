"""AUEvaluator: per-AU F1 (and macro F1) of one fold's exported model on its held-out split.

Why not the stock Evaluator (TFMA 0.47): TFMA loads a model with ``tf.keras.models.load_model(dir)``;
under TF 2.16 ``tf.keras`` is Keras 3, which only reads ``.keras`` files, so it fails with
"File format not supported: filepath=<dir>. Keras 3 only supports V3 `.keras` files ..." and TFMA
falls back to treating the directory as a generic SavedModel fed with features parsed from the
Examples. Our model needs decoded, centre-cropped JPEGs and landmarks, not raw features, and the AU
labels use -1 for "not coded", which TFMA's binarised F1 would count as negatives. So this
component scores the exported model itself with the library's own input pipeline (the evaluation
centre crop) and ``keras_au.metrics.au_scores`` (unknown labels ignored), the same numbers
``keras-au evaluate`` reports.

``evaluate_backend`` is also what ``ServedModelEvaluator`` scores the served SavedModel with, so the
candidate and the served model are compared by one evaluator on the same folds.

Output: a ``ModelEvaluation`` artifact holding ``scores.json`` (``AUScores.as_dict()`` plus fold and
example count) with ``mean_f1`` and ``fold`` as custom properties.
"""

from __future__ import annotations

import json
import os
from typing import Any, Sequence

import numpy as np
from tfx import types
from tfx.dsl.components.base import base_component, base_executor, executor_spec
from tfx.dsl.io import fileio
from tfx.types import artifact_utils, standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter
from tfx.utils import path_utils

from pipeline.components.progress import note
from pipeline.configs import split_name

SCORES_FILE = "scores.json"


def evaluate_export(export_dir: str, files: Sequence[str] | str, batch_size: int = 32, threshold: float = 0.5) -> dict:
    """Scores a ``keras-au export`` directory on TFRecords (see :func:`evaluate_backend`)."""
    from keras_au.inference.backends import KerasBackend

    return evaluate_backend(KerasBackend(export_dir), files, batch_size, threshold)


def evaluate_backend(model, files: Sequence[str] | str, batch_size: int = 32, threshold: float = 0.5) -> dict:
    """Scores any ``keras_au.inference.backends`` model (Keras export or served SavedModel: aligned 200x200 faces in,
    centre crop inside) on TFRecords; returns ``metrics.detection_report`` (F1, accuracy, AUC, the
    all-positive baseline) + ``examples`` and ``nonfinite_predictions``. No examples is not an error here:
    ``examples = 0`` is reported and the gate refuses to bless on it."""
    from keras_au.data.input_pipeline import InputConfig, build_dataset
    from keras_au.data.schema import IMAGE_SIZE
    from keras_au.metrics import detection_report

    info = model.info
    # Whole 200x200 faces: the backend crops to the model's input exactly as the serving signatures do,
    # so a candidate export and a served SavedModel go through the same code.
    cfg = InputConfig(file_pattern=files, batch_size=batch_size, crop_size=IMAGE_SIZE, training=False,
                      num_aus=len(info.aus), repeat=False, drop_remainder=False)
    mean_lm = info.mean_landmarks_200[None]
    labels, probs = [np.zeros((0, len(info.aus)), np.int64)], [np.zeros((0, len(info.aus)), np.float32)]
    for batch in build_dataset(cfg):
        # Faces without landmarks get the mean shape, as the serving signatures do.
        has = batch["has_landmarks"].numpy()[:, None, None] > 0
        landmarks = np.where(has, batch["landmarks"].numpy(), mean_lm).astype(np.float32)
        probs.append(np.asarray(model(batch["image"].numpy(), landmarks), np.float32))
        labels.append(batch["au_labels"].numpy())
    y, p = np.concatenate(labels), np.concatenate(probs)
    bad = ~np.isfinite(p)
    result = detection_report(y, np.where(bad, 0.0, p), info.aus, threshold)
    result.update(examples=int(len(y)), nonfinite_predictions=int(bad.any(axis=1).sum()), model=info.model,
                  threshold=threshold)
    return result


class AUEvaluatorSpec(ComponentSpec):
    PARAMETERS = {
        "fold": ExecutionParameter(type=int),
        "batch_size": ExecutionParameter(type=int, optional=True),
        "threshold": ExecutionParameter(type=float, optional=True),
    }
    INPUTS = {
        "examples": ChannelParameter(type=standard_artifacts.Examples),
        "model": ChannelParameter(type=standard_artifacts.Model),
    }
    OUTPUTS = {"evaluation": ChannelParameter(type=standard_artifacts.ModelEvaluation)}


class Executor(base_executor.BaseExecutor):
    def Do(self, input_dict: dict, output_dict: dict, exec_properties: dict[str, Any]) -> None:
        fold = int(exec_properties["fold"])
        split_dir = artifact_utils.get_split_uri(input_dict["examples"], split_name(fold))
        model = artifact_utils.get_single_instance(input_dict["model"])
        export_dir = path_utils.serving_model_path(model.uri)
        scores = evaluate_export(export_dir, split_dir, int(exec_properties.get("batch_size") or 32),
                                 float(exec_properties.get("threshold") or 0.5))
        scores["fold"] = fold
        evaluation = artifact_utils.get_single_instance(output_dict["evaluation"])
        fileio.makedirs(evaluation.uri)
        with fileio.open(os.path.join(evaluation.uri, SCORES_FILE), "w") as f:
            f.write(json.dumps(scores, indent=2))
        evaluation.set_float_custom_property("mean_f1", scores["mean_f1"])
        evaluation.set_int_custom_property("fold", fold)
        note(f"AUEvaluator: fold {fold}: macro F1 {100 * scores['mean_f1']:.1f} on {scores['examples']} faces")


class AUEvaluator(base_component.BaseComponent):
    """Per-AU F1 of a fold's exported model on that fold's split (unknown labels ignored)."""

    SPEC_CLASS = AUEvaluatorSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(self, examples: types.BaseChannel, model: types.BaseChannel, fold: int, batch_size: int = 32,
                 threshold: float = 0.5):
        super().__init__(spec=AUEvaluatorSpec(
            examples=examples, model=model, fold=int(fold), batch_size=int(batch_size), threshold=float(threshold),
            evaluation=types.Channel(type=standard_artifacts.ModelEvaluation),
        ))


def read_scores(evaluation_uri: str) -> dict:
    with fileio.open(os.path.join(evaluation_uri, SCORES_FILE)) as f:
        return json.loads(f.read())
