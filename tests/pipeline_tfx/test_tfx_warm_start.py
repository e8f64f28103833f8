"""Warm start in the TFX Trainer (``pipeline run --warm-start``), through ``run_fn`` without a pipeline:

nothing blessed -> the init; a blessed model -> its weights at step 0; a truncated blessed weights file -> a
warning naming it, recorded in run.json, and the init. The pipeline itself runs twice in test_tfx_pipeline_e2e.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from types import SimpleNamespace
from typing import ClassVar

import keras
import numpy as np
import pytest

from keras_au.models import registry
from pipeline.trainer import run_fn as trainer

CONFIG = {"model": "backbone_t", "preset": "ci", "fold": 0, "epochs": 1, "steps_per_epoch": 1, "seed": 3,
          "warm_start": True}


def _fn_args(examples: str, root: str, execution: int, base_model: str | None) -> SimpleNamespace:
    return SimpleNamespace(
        custom_config=dict(CONFIG),
        train_files=[os.path.join(examples, f"Split-fold-{k}", "*") for k in (1, 2)],
        eval_files=[os.path.join(examples, "Split-fold-0", "*")],
        model_run_dir=os.path.join(root, "Trainer_fold0", "model_run", str(execution)),
        serving_model_dir=os.path.join(root, "Trainer_fold0", "model", str(execution), "Format-Serving"),
        base_model=base_model,
    )


class StepZero(keras.callbacks.Callback):
    """The model's variables (checkpoint order) when training begins, before any step."""

    weights: ClassVar[list] = []

    def on_train_begin(self, logs=None):
        StepZero.weights = [np.array(v.numpy()) for v in self.model.variables]


def _run(fn_args) -> tuple[dict, list]:
    trainer.run_fn(fn_args)
    with open(os.path.join(fn_args.model_run_dir, "run", "run.json")) as f:
        return json.load(f)["warm_start"], StepZero.weights


def _saved(path: str) -> list:
    with np.load(path) as z:
        return [z[k] for k in sorted(k for k in z.files if k.startswith("model/"))]


def _same(a: list, b: list) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


def test_run_fn_starts_from_the_blessed_model_or_falls_back_to_the_init(tiny_records, tmp_path, monkeypatch,
                                                                           caplog):
    examples = tmp_path / "Preprocess" / "examples" / "1"
    examples.mkdir(parents=True)
    for k in range(3):
        os.symlink(os.path.join(tiny_records, f"fold-{k}"), examples / f"Split-fold-{k}")
    root = str(tmp_path / "pipeline")
    real = registry.task_module("backbone_t")

    class Capturing:
        """The real task; training also records its step-0 weights."""

        def __getattr__(self, name):
            return getattr(real, name)

        def train(self, **kw):
            return real.train(**kw, callbacks=[StepZero()])

    monkeypatch.setattr(registry, "task_module", lambda name: Capturing())

    # 1) nothing blessed yet: the init, and the model artifact carries reloadable weights beside model.keras
    first = _fn_args(str(examples), root, 1, base_model=None)
    record, init = _run(first)
    assert record is None
    weights = os.path.join(first.serving_model_dir, "warm_start", "weights.npz")
    assert os.path.isfile(os.path.join(first.serving_model_dir, "model.keras")) and os.path.isfile(weights)
    trained = _saved(weights)
    assert not _same(trained, init)  # one step moved them

    # 2) the blessed model (the Resolver's base_model is its Format-Serving dir): its weights at step 0
    record, start = _run(_fn_args(str(examples), root, 2, base_model=first.serving_model_dir))
    assert record["loaded"] and record["from"] == weights and record["source"]["fold"] == 0, record
    assert _same(start, trained)

    # 3) a truncated weights file: a warning naming it, recorded in run.json, and the init
    broken = tmp_path / "blessed" / "Format-Serving"
    shutil.copytree(first.serving_model_dir, broken)
    bad = broken / "warm_start" / "weights.npz"
    bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])
    with caplog.at_level(logging.WARNING):
        record, start = _run(_fn_args(str(examples), root, 3, base_model=str(broken)))
    assert not record["loaded"] and str(bad) in record["error"] and "unreadable" in record["error"], record
    assert str(bad) in caplog.text and "trained from the init" in caplog.text
    assert _same(start, init)

    # weights that trained on this run's held-out subjects are refused, nothing assigned
    from keras_au.models.rtatl.task import load_run
    from keras_au.tasks.warm_start import load_weights

    _, _, model = load_run(os.path.join(first.model_run_dir, "run"))
    before = [np.array(v.numpy()) for v in model.variables]
    refused = load_weights(model, weights, {"fold": 1})
    assert not refused["loaded"] and "fold 0 held out" in refused["error"]
    assert _same([np.array(v.numpy()) for v in model.variables], before)


def test_warm_start_file_choice():
    off = SimpleNamespace(base_model="/m/Format-Serving")
    assert trainer.warm_start_file(off, {"model": "rtatl"}) == (None, "warm start off")
    path, why = trainer.warm_start_file(SimpleNamespace(base_model=None), {"warm_start": True})
    assert path is None and why.startswith("nothing blessed yet")
    path, _ = trainer.warm_start_file(off, {"warm_start": True})
    assert path == "/m/Format-Serving/warm_start/weights.npz"


@pytest.mark.slow
def test_pipeline_warm_starts_the_second_run_from_the_first_runs_blessed_model(tiny_raw, tmp_path, monkeypatch):
    """Two `pipeline run --warm-start` runs (one held-out fold, bars that bless a chance model): the first
    trains from the init, the second's Resolver finds the first's blessed model and starts from its weights."""
    from keras_au.cli import build_parser
    from keras_au.cli.pipeline import config_from_args
    from pipeline.local_runner import run_local

    args, extra = build_parser().parse_known_args([
        "pipeline", "run", "--data", tiny_raw["bp4d"], "--root", str(tmp_path / "root"), "--model", "backbone_t",
        "--preset", "ci", "--epochs", "1", "--steps-per-epoch", "1", "--batch-size", "4", "--held-out", "0",
        "--no-flow", "--warm-start", "--min-f1", "0", "--min-f1-gain", "-1", "--min-auc", "0", "--max-f1-drop", "1"])
    args.extra = extra
    cfg = config_from_args(args)
    real = registry.task_module("backbone_t")

    class Capturing:
        def __getattr__(self, name):
            return getattr(real, name)

        def train(self, **kw):
            return real.train(**kw, callbacks=[StepZero()])

    monkeypatch.setattr(registry, "task_module", lambda name: Capturing())

    def run() -> tuple[dict, dict, list]:
        out = run_local(cfg)["outputs"]
        with open(os.path.join(out["Trainer_fold0"]["model_run"], "run", "run.json")) as f:
            return out, json.load(f)["warm_start"], StepZero.weights

    first, record, init = run()
    assert record is None  # nothing blessed yet: the init
    from pipeline.components.pusher import read_push

    assert read_push(first["KerasAuPusher"]["pushed_model"])["pushed"]
    blessed = os.path.join(first["Trainer_fold0"]["model"], "Format-Serving", "warm_start", "weights.npz")

    second, record, start = run()
    assert record["loaded"] and record["from"] == blessed, record
    assert _same(start, _saved(blessed)) and not _same(start, init)
    assert second["Trainer_fold0"]["model"] != first["Trainer_fold0"]["model"]
