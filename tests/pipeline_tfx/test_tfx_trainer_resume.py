"""The TFX Trainer's run_fn: a Trainer killed mid-training and launched again (a new TFX execution)
continues from its last epoch instead of starting over."""

from __future__ import annotations

import json
import os
from types import SimpleNamespace

import pytest

from keras_au.models import registry
from pipeline.trainer import run_fn as trainer

CONFIG = {"model": "backbone_t", "preset": "ci", "fold": 0, "epochs": 2, "steps_per_epoch": 1, "seed": 3}


def _fn_args(examples: str, root: str, execution: int, config: dict = CONFIG) -> SimpleNamespace:
    run = os.path.join(root, "Trainer_fold0", "model_run", str(execution))
    return SimpleNamespace(
        custom_config=dict(config),
        train_files=[os.path.join(examples, f"Split-fold-{k}", "*") for k in (1, 2)],
        eval_files=[os.path.join(examples, "Split-fold-0", "*")],
        model_run_dir=run,
        serving_model_dir=os.path.join(root, "Trainer_fold0", "model", str(execution), "Format-Serving"),
    )


@pytest.fixture()
def examples(tiny_records, tmp_path) -> str:
    """The records laid out as a TFX Examples artifact (``Split-fold-<k>/``)."""
    uri = tmp_path / "Preprocess" / "examples" / "1"
    uri.mkdir(parents=True)
    for k in range(3):
        os.symlink(os.path.join(tiny_records, f"fold-{k}"), uri / f"Split-fold-{k}")
    return str(uri)


class Killed(RuntimeError):
    pass


def test_relaunched_trainer_resumes_from_the_interrupted_run(examples, tmp_path, monkeypatch):
    root = str(tmp_path / "pipeline")
    real = registry.task_module("backbone_t")

    class KilledAfterOneEpoch:
        """The task, but the process dies after the first epoch's checkpoint."""

        def train(self, **kw):
            real.train(**{**kw, "epochs": 1})
            raise Killed("SIGKILL")

    monkeypatch.setattr(registry, "task_module", lambda name: KilledAfterOneEpoch())
    first = _fn_args(examples, root, execution=1)
    with pytest.raises(Killed):
        trainer.run_fn(first)
    keep = trainer.resume_dir(first, CONFIG)
    assert os.path.isfile(os.path.join(keep, "run", "checkpoint", "state.npz"))

    monkeypatch.setattr(registry, "task_module", lambda name: real)
    second = _fn_args(examples, root, execution=2)
    assert trainer.resume_dir(second, CONFIG) == keep  # same data and settings -> same resumable run
    trainer.run_fn(second)
    with open(os.path.join(second.model_run_dir, "run", "run.json")) as f:
        info = json.load(f)
    assert info["resumed_from_epoch"] == 1 and info["completed_epochs"] == 2
    assert os.path.isfile(os.path.join(second.serving_model_dir, "model.keras"))
    assert not os.path.exists(keep)  # finished: nothing left to resume

    # other settings or data never pick up someone else's checkpoint
    other = {**CONFIG, "epochs": 3}
    assert trainer.resume_dir(_fn_args(examples, root, 3, other), other) != keep
    elsewhere = _fn_args(examples, root, 3)
    elsewhere.train_files = elsewhere.train_files[:1]
    assert trainer.resume_dir(elsewhere, CONFIG) != keep
