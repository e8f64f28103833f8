"""The shared Task machinery (keras_au/tasks): typed options, config overrides, checkpoints, run directory."""

from __future__ import annotations

import json
import os

import keras
import numpy as np
import pytest

from keras_au.distribute import resolve
from keras_au.models import registry
from keras_au.models.rtatl.config import RTATLConfig, make_config
from keras_au.models.wild.config import WildConfig, preset_config
from keras_au.tasks import Task, TrainOptions
from keras_au.tasks import checkpoint as ckpt
from keras_au.tasks.config import apply_overrides, build_preset
from keras_au.tasks.run_directory import RunDirectory


def test_an_option_the_family_does_not_take_is_refused_by_name():
    rtatl, wild = registry.get_task("rtatl"), registry.get_task("wild")
    with pytest.raises(ValueError, match="rtatl training does not take --protocol"):
        rtatl.train(model="rtatl", out="x", protocol="sample")
    with pytest.raises(ValueError, match="wild training does not take --labeled-subjects"):
        wild.train(out="x", labeled_subjects=3)
    with pytest.raises(ValueError, match="--out is required"):
        rtatl.train(model="rtatl")
    with pytest.raises(ValueError, match="is not a rtatl model"):
        rtatl.train(model="wild", out="x")
    # What the CLI and the study runner pass for flags a user left out is "not given", not an error.
    opts = wild.options_class.parse("wild", {"out": "x", "labeled_subjects": None, "demote_unlabeled": False})
    assert opts.out == "x" and not hasattr(opts, "labeled_subjects")
    assert "labeled_subjects" in rtatl.train_option_names() and "labeled_subjects" not in wild.train_option_names()
    with pytest.raises(ValueError, match="rtatl evaluation does not take --snapshot"):
        rtatl.evaluate("no-run", snapshot="best")
    with pytest.raises(ValueError, match="rtatl export does not take --snapshot"):
        rtatl.export("no-run", "out", snapshot="best")
    assert rtatl.export_options == () and wild.export_options == ("path", "snapshot")


def test_one_override_rule_for_both_families():
    cfg = apply_overrides(build_preset("rtatl", "ci"), {"train.epochs": 9, "dim": 24, "g_widths": [8, 8, 8, 8]})
    assert (cfg.train.epochs, cfg.model.dim, cfg.model.g_widths) == (9, 24, (8, 8, 8, 8))
    with pytest.raises(ValueError, match="--set nope: unknown config field"):
        make_config("rtatl", "ci", overrides={"nope": 1})
    with pytest.raises(ValueError, match="--set model.nope"):
        make_config("rtatl", "ci", overrides={"model.nope": 1})
    with pytest.raises(ValueError, match="unknown preset 'big' for wild"):
        preset_config("big")
    wild = preset_config("ci", "bl", epochs=3, part_widths=[4, 8, 8, 16, 16])
    assert wild.epochs == 3 and wild.part_widths == (4, 8, 8, 16, 16) and wild.lambda_cycle == 40.0
    with pytest.raises(ValueError, match="variant must be one of"):
        preset_config("ci", variant="nope")


@pytest.mark.parametrize("build", [lambda: make_config("backbone_t", "demo", overrides={"roi_size": 4}),
                                   lambda: preset_config("demo", "ml")])
def test_config_round_trips_through_json(build):
    cfg = build()
    d = json.loads(json.dumps(cfg.to_dict()))
    back = type(cfg).from_dict(d)
    assert back == cfg and back.to_dict() == cfg.to_dict()
    assert isinstance(back, (RTATLConfig, WildConfig))


def _model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2), keras.layers.BatchNormalization()])
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    model.fit(np.ones((4, 3)), np.zeros((4, 2)), epochs=1, verbose=0)
    return model


def test_checkpoint_round_trip_holds_weights_optimizer_epoch_and_history(tmp_path):
    a, b = _model(), _model()
    b.set_weights([w * 0 for w in b.get_weights()])
    path = ckpt.checkpoint_path(str(tmp_path), "stage2")
    assert path.endswith(os.path.join("checkpoint", "stage2.npz"))
    ckpt.save_state(a, path, 3, {"history": {"loss": [1.0, 0.5, 0.25]}})
    assert os.listdir(os.path.dirname(path)) == ["stage2.npz"]  # no temporary file left behind
    assert ckpt.restore(b, path) == 3
    for wa, wb in zip(a.variables + a.optimizer.variables, b.variables + b.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(wa), np.asarray(wb))
    assert ckpt.read_meta(path) == {"epoch": 3, "history": {"loss": [1.0, 0.5, 0.25]}}
    assert ckpt.read_meta(str(tmp_path / "none.npz")) == {"epoch": 0, "history": {}}
    other = keras.Sequential([keras.Input((3,)), keras.layers.Dense(5)])
    with pytest.raises(ValueError, match="saved variables"):
        ckpt.load_state(other, path)


def test_a_checkpoint_of_another_variable_layout_is_refused_untouched(tmp_path):
    """Variables match by position, so a model that names its layout refuses a checkpoint without it (RTATL's
    runs from before keras-hub's ResNet-18) with its own advice, and assigns nothing."""
    from keras_au.models.rtatl.trainer import RTATLTrainer

    old, new = _model(), _model()
    path = ckpt.save_state(old, ckpt.checkpoint_path(str(tmp_path)), 2)  # no layout recorded
    new.checkpoint_layout, new.checkpoint_layout_help = "v2", "Train it again."
    before = [np.asarray(v).copy() for v in new.variables]
    with pytest.raises(ValueError, match=r"layout unrecorded \(older\), this model's is v2\. Train it again\."):
        ckpt.load_state(new, path)
    for v, b in zip(new.variables, before):
        np.testing.assert_array_equal(np.asarray(v), b)
    ckpt.save_state(new, path, 2)
    assert ckpt.read_meta(path)["layout"] == "v2" and ckpt.load_state(new, path) == 2
    assert "keras-hub" in RTATLTrainer.checkpoint_layout and "--no-resume" in RTATLTrainer.checkpoint_layout_help


def _run_dir(path, stack=None):
    import contextlib

    return RunDirectory(str(path), str(path), resolve("none"), stack or contextlib.ExitStack())


def test_run_directory_resumes_refuses_or_starts_afresh(tmp_path):
    run = _run_dir(tmp_path)
    assert run.previous("rtatl", resume=True) is None
    run.write({"model": "rtatl", "config": {}})
    assert run.previous("rtatl", resume=True)["model"] == "rtatl"
    with pytest.raises(ValueError, match="holds a rtatl run"):
        run.previous("backbone_t", resume=True)
    os.makedirs(tmp_path / "checkpoint")
    (tmp_path / "best.json").write_text("{}")
    assert run.previous("backbone_t", resume=False, stale=("best.json",)) is None
    assert not (tmp_path / "checkpoint").exists() and not (tmp_path / "best.json").exists()
    os.makedirs(tmp_path / "checkpoints")  # a wild run of the format before the shared checkpoints
    with pytest.raises(ValueError, match="older keras-au"):
        run.previous("rtatl", resume=True)


class _PolicyTask(Task):
    family, model_names = "probe", ("probe",)

    def fit(self, run, opts: TrainOptions) -> dict:
        run.precision("bfloat16")
        assert keras.config.dtype_policy().name == "mixed_bfloat16"
        raise RuntimeError("killed")


def test_a_run_gives_back_the_mixed_precision_policy_even_when_it_fails(tmp_path):
    before = keras.config.dtype_policy().name
    with pytest.raises(RuntimeError, match="killed"):
        _PolicyTask().train(model="probe", out=str(tmp_path / "r"))
    assert keras.config.dtype_policy().name == before
