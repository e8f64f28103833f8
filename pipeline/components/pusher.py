"""KerasAuPusher: the blessed best-fold model as a TF Serving SavedModel, ``<serving_dir>/keras_au/<version>/``.

Why not the stock Pusher: it copies the Trainer's ``Format-Serving`` folder as it is, and that folder
holds the inference-only Keras export (``model.keras`` + ``export.json``) the evaluator scores. TF
Serving needs a SavedModel with named signatures that crop aligned faces and return AU names, which
``serving.savedmodel.export_serving`` writes (next integer version, atomic rename, warm-up request).
The artifact records ``pushed``, ``pushed_destination`` and ``pushed_version`` like the stock Pusher.
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

from pipeline.components.progress import note
from pipeline.components.per_fold import fold_key, spec_for_folds

PUSH_JSON = "push.json"


class KerasAuPusherSpec(ComponentSpec, validate=False):
    PARAMETERS = {"serving_dir": ExecutionParameter(type=str)}
    INPUTS = {"model_blessing": ChannelParameter(type=standard_artifacts.ModelBlessing)}  # + model_<k>
    OUTPUTS = {"pushed_model": ChannelParameter(type=standard_artifacts.PushedModel)}


class Executor(base_executor.BaseExecutor):
    def Do(self, input_dict: dict, output_dict: dict, exec_properties: dict[str, Any]) -> None:
        from serving.savedmodel import MODEL_NAME, export_serving

        blessing = artifact_utils.get_single_instance(input_dict["model_blessing"])
        pushed = artifact_utils.get_single_instance(output_dict["pushed_model"])
        fileio.makedirs(pushed.uri)
        record: dict[str, Any] = {"pushed": False, "mean_f1": blessing.get_float_custom_property("mean_f1")}
        if not blessing.get_int_custom_property("blessed"):
            record["reason"] = (f"not blessed: fold-mean macro F1 {record['mean_f1']:.3f} < "
                                f"{blessing.get_float_custom_property('min_mean_f1'):.3f}")
            pushed.set_int_custom_property("pushed", 0)
            note(f"Pusher: {record['reason']}; nothing pushed")
        else:
            fold = blessing.get_int_custom_property("best_fold")
            model = artifact_utils.get_single_instance(input_dict[fold_key("model", fold)])
            version_dir = export_serving(path_utils.serving_model_path(model.uri), exec_properties["serving_dir"])
            version = int(os.path.basename(version_dir))
            record.update(pushed=True, fold=fold, destination=version_dir, version=version, model_name=MODEL_NAME)
            pushed.set_int_custom_property("pushed", 1)
            pushed.set_string_custom_property("pushed_destination", version_dir)
            pushed.set_int_custom_property("pushed_version", version)
            pushed.set_int_custom_property("fold", fold)
            note(f"Pusher: fold {fold} model -> {version_dir}")
        with fileio.open(os.path.join(pushed.uri, PUSH_JSON), "w") as f:
            f.write(json.dumps(record, indent=2))


class KerasAuPusher(base_component.BaseComponent):
    """Pushes the best fold's model, when blessed, as a signature SavedModel for TF Serving."""

    SPEC_CLASS = KerasAuPusherSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(self, models: Mapping[int, types.BaseChannel], model_blessing: types.BaseChannel, serving_dir: str):
        spec_class = spec_for_folds(KerasAuPusherSpec, models, {"model": standard_artifacts.Model})
        super().__init__(spec=spec_class(
            serving_dir=serving_dir,
            model_blessing=model_blessing,
            pushed_model=types.Channel(type=standard_artifacts.PushedModel),
            **{fold_key("model", k): ch for k, ch in models.items()},
        ))


def read_push(pushed_uri: str) -> dict:
    with fileio.open(os.path.join(pushed_uri, PUSH_JSON)) as f:
        return json.loads(f.read())
