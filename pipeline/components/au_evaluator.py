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
    """Scores a ``keras-au export`` directory on TFRecords; returns ``metrics.detection_report`` (F1, accuracy,
    AUC, the all-positive baseline) + ``examples``."""
    import tensorflow as tf

    from keras_au.data.input_pipeline import InputConfig, build_dataset
    from keras_au.metrics import detection_report
    from serving.savedmodel import load_keras_export
    from serving.signatures import model_probs

    model, info = load_keras_export(export_dir)
    cfg = InputConfig(file_pattern=files, batch_size=batch_size, crop_size=info.input_size, training=False,
                      num_aus=len(info.aus), repeat=False, drop_remainder=False)
    mean_lm = np.asarray(info.mean_landmarks, np.float32)[None]
    labels, probs = [], []
    for batch in build_dataset(cfg):
        # Faces without landmarks get the mean shape, as the serving signatures do.
        has = batch["has_landmarks"].numpy()[:, None, None] > 0
        landmarks = tf.constant(np.where(has, batch["landmarks"].numpy(), mean_lm), tf.float32)
        probs.append(np.asarray(model_probs(model, batch["image"], landmarks)))
        labels.append(batch["au_labels"].numpy())
    if not labels:
        raise ValueError(f"no examples to evaluate in {files}")
    result = detection_report(np.concatenate(labels), np.concatenate(probs), info.aus, threshold)
    result.update(examples=int(sum(len(b) for b in labels)), model=info.model, threshold=threshold)
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
