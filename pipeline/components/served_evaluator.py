"""ServedModelEvaluator: the model being served, scored on the candidate's held-out folds.

TFX's Evaluator compares a candidate with the latest blessed model (``LatestBlessedModelStrategy``). Here
the baseline is what is actually deployed: the highest version under ``<serving_dir>/keras_au/`` that
loads (TF Serving keeps serving the previous version when a newer one fails to load, so a corrupt
folder is reported and skipped, never fatal). It is scored with ``au_evaluator.evaluate_backend``, the
candidate's evaluator, on every fold split. This works across pipeline roots and for versions pushed
by hand, which an MLMD query would not see.

Output: a ``ModelEvaluation`` holding ``served.json``:
``{"version", "path", "held_out_fold", "dataset", "aus", "per_fold": {k: scores}, "skipped": [...]}``
(``version`` is ``None`` when nothing loadable is served; ``skipped`` lists ``{"version", "path", "reason"}``).

Cache: the component gets a fingerprint of the serving directory as a parameter (see
``pipeline.pipeline``), so a push by an earlier run re-runs it instead of reusing a stale baseline.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from tfx import types
from tfx.dsl.components.base import base_component, base_executor, executor_spec
from tfx.dsl.io import fileio
from tfx.types import artifact_utils, standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from pipeline.components.progress import note
from pipeline.configs import split_name

SERVED_FILE = "served.json"
PROVENANCE_FILE = "provenance.json"  # in a pushed version's assets.extra (written by KerasAuPusher)


def version_folders(base: str) -> list[tuple[int, str]]:
    """Every integer-named entry under a model base path, newest first (finished or not)."""
    if not os.path.isdir(base):
        return []
    found = [(int(n), os.path.join(base, n)) for n in os.listdir(base) if re.fullmatch(r"\d+", n)]
    return sorted(found, reverse=True)


def read_provenance(version_dir: str) -> dict:
    """What the Pusher recorded about a version (``{}`` for versions written otherwise)."""
    from keras_au.inference.savedmodel import EXTRA_DIR

    path = os.path.join(version_dir, EXTRA_DIR, PROVENANCE_FILE)
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def evaluate_served(serving_dir: str, split_dirs: dict[int, str], batch_size: int = 32,
                    threshold: float = 0.5) -> dict:
    """Scores the newest loadable served version on each fold's split; unusable versions are skipped."""
    from keras_au.data.input_pipeline import list_files, peek_num_aus
    from pipeline.components.au_evaluator import evaluate_backend
    from keras_au.inference.backends import SavedModelBackend
    from keras_au.inference.savedmodel import MODEL_NAME

    base = os.path.join(serving_dir, MODEL_NAME)
    record: dict[str, Any] = {"serving_dir": serving_dir, "version": None, "skipped": []}
    num_aus = set()
    for d in split_dirs.values():
        try:
            num_aus.add(peek_num_aus(list_files(d)))
        except (FileNotFoundError, ValueError):
            pass  # an empty split is the candidate's problem (the gate reports it), not the baseline's
    for version, path in version_folders(base):
        try:
            model = SavedModelBackend(path)
            if num_aus and num_aus != {len(model.info.aus)}:
                raise ValueError(f"scores {len(model.info.aus)} AUs, the data labels {sorted(num_aus)}")
            per_fold = {str(k): evaluate_backend(model, d, batch_size, threshold) for k, d in split_dirs.items()}
        except Exception as e:  # noqa: BLE001 - any failure to load or run makes the version no baseline
            reason = f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}"
            record["skipped"].append({"version": version, "path": path, "reason": reason})
            note(f"ServedModelEvaluator: version {version} skipped as a baseline ({reason})")
            continue
        provenance = read_provenance(path)
        record.update(version=version, path=path, per_fold=per_fold, aus=model.info.au_names,
                      held_out_fold=provenance.get("fold"), dataset=provenance.get("dataset"),
                      provenance=provenance)
        return record
    record["reason"] = "no loadable version" if record["skipped"] else f"no version under {base}"
    return record


class ServedModelEvaluatorSpec(ComponentSpec):
    PARAMETERS = {
        "serving_dir": ExecutionParameter(type=str),
        "folds": ExecutionParameter(type=str),  # JSON list of fold numbers
        "serving_fingerprint": ExecutionParameter(type=str, optional=True),  # cache key only
        "batch_size": ExecutionParameter(type=int, optional=True),
        "threshold": ExecutionParameter(type=float, optional=True),
    }
    INPUTS = {"examples": ChannelParameter(type=standard_artifacts.Examples)}
    OUTPUTS = {"evaluation": ChannelParameter(type=standard_artifacts.ModelEvaluation)}


class Executor(base_executor.BaseExecutor):
    def Do(self, input_dict: dict, output_dict: dict, exec_properties: dict[str, Any]) -> None:
        folds = [int(k) for k in json.loads(exec_properties["folds"])]
        splits = {k: artifact_utils.get_split_uri(input_dict["examples"], split_name(k)) for k in folds}
        record = evaluate_served(exec_properties["serving_dir"], splits, int(exec_properties.get("batch_size") or 32),
                                 float(exec_properties.get("threshold") or 0.5))
        evaluation = artifact_utils.get_single_instance(output_dict["evaluation"])
        fileio.makedirs(evaluation.uri)
        with fileio.open(os.path.join(evaluation.uri, SERVED_FILE), "w") as f:
            f.write(json.dumps(record, indent=2))
        evaluation.set_int_custom_property("served_version", -1 if record["version"] is None else record["version"])
        if record["version"] is None:
            note(f"ServedModelEvaluator: nothing to compare with ({record['reason']})")
        else:
            f1 = ", ".join(f"{100 * s['mean_f1']:.1f}" for s in record["per_fold"].values())
            note(f"ServedModelEvaluator: served version {record['version']}: macro F1 per fold {f1}")


class ServedModelEvaluator(base_component.BaseComponent):
    """Scores the newest loadable version in ``serving_dir`` on every fold split (the gate's baseline)."""

    SPEC_CLASS = ServedModelEvaluatorSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(self, examples: types.BaseChannel, serving_dir: str, folds, serving_fingerprint: str = "",
                 batch_size: int = 32, threshold: float = 0.5):
        super().__init__(spec=ServedModelEvaluatorSpec(
            examples=examples, serving_dir=serving_dir, folds=json.dumps([int(k) for k in folds]),
            serving_fingerprint=serving_fingerprint, batch_size=int(batch_size), threshold=float(threshold),
            evaluation=types.Channel(type=standard_artifacts.ModelEvaluation),
        ))


def read_served(evaluation_uri: str) -> dict:
    with fileio.open(os.path.join(evaluation_uri, SERVED_FILE)) as f:
        return json.loads(f.read())
