"""Which task module serves which ``--model`` name.

A task module (``keras_au/models/<family>/task.py``) exposes keyword-only functions:

* ``train(model, out, **options) -> dict``        trains, checkpoints to ``out``, writes ``out/run.json``
* ``evaluate(run_dir, **options) -> dict``        per-AU scores (``AUScores.as_dict()`` shape) + files written
* ``summary(model, dataset, preset, **options) -> {"training": {"params", "flops"}, "inference": {...}}``
* ``export(run_dir, out, **options) -> str``      inference-only model directory

``run.json`` in a run directory names the model, so evaluate/export find the family by themselves.
"""

from __future__ import annotations

import importlib
import json
import os
from types import ModuleType

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


def task_module(model: str) -> ModuleType:
    if model not in MODEL_FAMILY:
        raise KeyError(f"unknown model {model!r}; known: {', '.join(model_names())}")
    return importlib.import_module(f"keras_au.models.{MODEL_FAMILY[model]}.task")


def run_info(run_dir: str) -> dict:
    """Contents of ``<run_dir>/run.json`` (written by ``train``)."""
    path = os.path.join(run_dir, "run.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{run_dir} is not a keras-au run directory (no run.json)")
    with open(path) as f:
        return json.load(f)


def task_for_run(run_dir: str) -> ModuleType:
    return task_module(run_info(run_dir)["model"])
