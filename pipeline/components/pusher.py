"""KerasAuPusher: the blessed best-fold model as a TF Serving SavedModel, ``<serving_dir>/keras_au/<version>/``.

Why not the stock Pusher: it copies the Trainer's ``Format-Serving`` folder as it is, and that folder
holds the inference-only Keras export (``model.keras`` + ``export.json``) the evaluator scores. TF
Serving needs a SavedModel with named signatures that crop aligned faces and return AU names, which
``keras_au.inference.savedmodel.export_serving`` writes (next integer version, atomic rename, warm-up request).
The artifact records ``pushed``, ``pushed_destination`` and ``pushed_version`` like the stock Pusher.

Each pushed version carries ``assets.extra/provenance.json`` (held-out fold, dataset, source model and
its SHA-256): ``ServedModelEvaluator`` reads the fold to compare fairly, and a blessed model that the
served version already holds (an unchanged re-run) is not pushed again.
"""

from __future__ import annotations

import json
import os
from typing import Any, Mapping

from tfx import types
from tfx.dsl.components.base import base_component, base_executor, executor_spec
from tfx.dsl.io import fileio
from tfx.types import artifact_utils, standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter
from tfx.utils import path_utils

from keras_au.checksum import sha256_file
from pipeline.components.progress import note
from pipeline.components.per_fold import fold_key, spec_for_folds
from pipeline.components.served_evaluator import PROVENANCE_FILE, read_provenance

PUSH_JSON = "push.json"




def _not_pushed(blessing) -> str:
    reason = blessing.get_string_custom_property("reason")
    if reason:
        return reason if reason.startswith("NOT blessed") else f"not blessed: {reason}"
    # blessings written before the gate recorded its reasons
    return (f"not blessed: fold-mean macro F1 {blessing.get_float_custom_property('mean_f1'):.3f} < "
            f"{blessing.get_float_custom_property('min_mean_f1'):.3f}")


class KerasAuPusherSpec(ComponentSpec, validate=False):
    PARAMETERS = {"serving_dir": ExecutionParameter(type=str), "dataset": ExecutionParameter(type=str, optional=True)}
    INPUTS = {"model_blessing": ChannelParameter(type=standard_artifacts.ModelBlessing)}  # + model_<k>
    OUTPUTS = {"pushed_model": ChannelParameter(type=standard_artifacts.PushedModel)}


class Executor(base_executor.BaseExecutor):
    def Do(self, input_dict: dict, output_dict: dict, exec_properties: dict[str, Any]) -> None:
        from keras_au.inference.export_info import MODEL_FILE
        from keras_au.inference.savedmodel import MODEL_NAME, export_serving

        blessing = artifact_utils.get_single_instance(input_dict["model_blessing"])
        pushed = artifact_utils.get_single_instance(output_dict["pushed_model"])
        fileio.makedirs(pushed.uri)
        record: dict[str, Any] = {"pushed": False, "mean_f1": blessing.get_float_custom_property("mean_f1")}
        served = blessing.get_int_custom_property("served_version") if blessing.has_custom_property(
            "served_version") else None
        base = os.path.join(exec_properties["serving_dir"], MODEL_NAME)
        if served is not None:  # what keeps being served when nothing is pushed
            record.update(served_version=served, served_destination=os.path.join(base, str(served)))
        fold = blessing.get_int_custom_property("best_fold")
        if not blessing.get_int_custom_property("blessed"):
            record["reason"] = _not_pushed(blessing)
        else:
            model = artifact_utils.get_single_instance(input_dict[fold_key("model", fold)])
            source = path_utils.serving_model_path(model.uri)
            sha = sha256_file(os.path.join(source, MODEL_FILE))
            if served is not None and read_provenance(os.path.join(base, str(served))).get("source_sha256") == sha:
                record["reason"] = f"version {served} already serves this model"
            else:
                provenance = {"fold": fold, "dataset": exec_properties.get("dataset") or "", "source_model": source,
                              "source_sha256": sha, "mean_f1": record["mean_f1"], "init": _export_init(source)}
                version_dir = export_serving(source, exec_properties["serving_dir"],
                                             extra_json={PROVENANCE_FILE: provenance})
                version = int(os.path.basename(version_dir))
                record.update(pushed=True, fold=fold, destination=version_dir, version=version, model_name=MODEL_NAME)
                pushed.set_string_custom_property("pushed_destination", version_dir)
                pushed.set_int_custom_property("pushed_version", version)
                pushed.set_int_custom_property("fold", fold)
                note(f"Pusher: fold {fold} model -> {version_dir}")
        pushed.set_int_custom_property("pushed", int(record["pushed"]))
        if not record["pushed"]:
            keeps = f"; version {served} stays served" if served is not None else ""
            note(f"Pusher: nothing pushed ({record['reason']}){keeps}")
        with fileio.open(os.path.join(pushed.uri, PUSH_JSON), "w") as f:
            f.write(json.dumps(record, indent=2))


class KerasAuPusher(base_component.BaseComponent):
    """Pushes the best fold's model, when blessed, as a signature SavedModel for TF Serving."""

    SPEC_CLASS = KerasAuPusherSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(self, models: Mapping[int, types.BaseChannel], model_blessing: types.BaseChannel, serving_dir: str,
                 dataset: str = ""):
        spec_class = spec_for_folds(KerasAuPusherSpec, models, {"model": standard_artifacts.Model})
        super().__init__(spec=spec_class(
            serving_dir=serving_dir,
            dataset=dataset,
            model_blessing=model_blessing,
            pushed_model=types.Channel(type=standard_artifacts.PushedModel),
            **{fold_key("model", k): ch for k, ch in models.items()},
        ))


def read_push(pushed_uri: str) -> dict:
    with fileio.open(os.path.join(pushed_uri, PUSH_JSON)) as f:
        return json.loads(f.read())


def _export_init(source: str) -> dict | None:
    """How the pushed model's backbone started (``export.json``'s ``init``: scratch, a preset, …), or None."""
    from keras_au.inference.export_info import EXPORT_JSON

    try:
        with open(os.path.join(source, EXPORT_JSON)) as f:
            return json.load(f).get("init")
    except (OSError, ValueError):
        return None
