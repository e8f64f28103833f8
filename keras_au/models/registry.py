"""Which ``Task`` (``keras_au.tasks.Task``) serves which ``--model`` name.

A family's task (``keras_au/models/<family>/task.py``: ``TASK``, an instance of its ``Task`` subclass) has:

* ``train(model, out, **options) -> dict``        trains, checkpoints to ``out``, writes ``out/run.json``;
                                                  an option the family does not take is a ``ValueError``
* ``evaluate(run_dir, **options) -> dict``        per-AU scores (``AUScores.as_dict()`` shape) + files written
* ``summary(model, dataset, preset, **options) -> {"training": {"params", "flops"}, "inference": {...}}``
* ``export(run_dir, out, **options) -> str``      inference-only model directory
* ``train_option_names()``                        what ``train`` accepts

``run.json`` in a run directory names the model, so evaluate/export find the family by themselves.
"""

from __future__ import annotations

import importlib
import json
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from keras_au.tasks import Task

MODEL_FAMILY = {
    "rtatl": "rtatl",
    "backbone_t": "rtatl",
    "backbone_g": "rtatl",
    "rotation": "rtatl",
    "exemplar": "rtatl",
    "jigsaw": "rtatl",
    "ofe": "rtatl",
    "roii": "rtatl",
    "wild": "wild",
}


def model_names() -> list[str]:
    return sorted(MODEL_FAMILY)


def get_task(model: str) -> "Task":
    """The ``Task`` of ``model``'s family (its module is imported on first use)."""
    if model not in MODEL_FAMILY:
        raise KeyError(f"unknown model {model!r}; known: {', '.join(model_names())}")
    return importlib.import_module(f"keras_au.models.{MODEL_FAMILY[model]}.task").TASK


task_module = get_task  # the name callers used before tasks were classes


def run_info(run_dir: str) -> dict:
    """Contents of ``<run_dir>/run.json`` (written by ``train``)."""
    path = os.path.join(run_dir, "run.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{run_dir} is not a keras-au run directory (no run.json)")
    with open(path) as f:
        return json.load(f)


def task_for_run(run_dir: str) -> "Task":
    return get_task(run_info(run_dir)["model"])
