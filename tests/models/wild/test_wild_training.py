"""Training the in-the-wild model on real faces: both stages, resume, evaluate, export, bad input.

One short run (ci preset, ~18 joint steps) is shared by the module; other checks run single eager steps.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil

import numpy as np
import pytest

from keras_au.models.wild import task

# Larger learning rates than the paper so that a few steps visibly fit the two real faces.
OVERRIDES = dict(epochs=3, steps_per_epoch=6, stage1_epochs=2, stage1_steps_per_epoch=6, task_lr=3e-3,
                 gen_lr=1e-3, disc_lr=1e-3, stage1_lr=3e-3, hold_epochs=3)


@contextlib.contextmanager
def quick_graphs():
    """Skip Grappler's graph rewrites for the functions first run inside (the joint step is a large graph
    whose optimisation costs more than the few steps it speeds up); restored afterwards."""
    import tensorflow as tf

    before = tf.config.optimizer.get_experimental_options().get("disable_meta_optimizer", False)
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
    try:
        yield
    finally:
        tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": before})


@pytest.fixture(scope="module")
def wild_run(tmp_path_factory, wild_source, wild_target) -> str:
    out = str(tmp_path_factory.mktemp("wild_run") / "run")
    with quick_graphs():
        task.train(out=out, source=wild_source, target=wild_target, preset="ci", variant="as",
                   overrides=dict(OVERRIDES), verbose=0)
    return out


@pytest.fixture(scope="module")
def info(wild_run) -> dict:
    with open(os.path.join(wild_run, "run.json")) as f:
        return json.load(f)


def _batch(wild_source, wild_target, batch_size=4):
    from keras_au.models.wild import data as wild_data

    s, _, _ = wild_data.split_files(wild_source, 0)
    t, _, _ = wild_data.split_files(wild_target, 0)
    aus = (1, 2, 4, 6, 12, 17)
    ds = wild_data.paired_dataset(s, t, wild_data.au_positions(wild_data.record_au_ids(s), aus),
                                  wild_data.au_positions(wild_data.record_au_ids(t), aus), batch_size, 176, seed=0)
    return next(iter(ds))


def _trainer(variant: str):
    import keras

    from keras_au.models.wild.config import preset_config
    from keras_au.models.wild.network import WildNetwork
    from keras_au.models.wild.trainer import WildTrainer

    cfg = preset_config("ci", variant)
    net = WildNetwork.from_wild_config(cfg)
    net.build()
    tr = WildTrainer(net, cfg, np.ones(6))
    tr.compile(keras.optimizers.Adam(1e-4), keras.optimizers.Adam(1e-4), keras.optimizers.Adam(1e-4))
    tr.build()
    tr.build_optimizers()
    return tr


def test_run_directory_and_run_json(wild_run, info):
    assert info["model"] == "wild" and info["variant"] == "as" and info["complete"]
    assert info["config"]["aus"] == [1, 2, 4, 6, 12, 17] and info["config"]["crop_size"] == 176
    assert info["source_au_ids"][:4] == [1, 2, 4, 6] and len(info["source_au_ids"]) == 12
    assert sum(info["au_weights"]) == pytest.approx(6.0, rel=1e-5)
    assert np.asarray(info["mean_landmarks"]).shape == (68, 2)
    for name in ("model.weights.h5", "checkpoint/stage1.npz", "checkpoint/stage2.npz"):
        assert os.path.isfile(os.path.join(wild_run, name)), name
    assert any(f.startswith("events") for _, _, fs in os.walk(os.path.join(wild_run, "logs", "stage2")) for f in fs)


def test_short_run_drives_au_and_landmark_losses_down(info):
    h1, h2 = info["history"]["stage1"], info["history"]["stage2"]
    assert len(h1["l_fl"]) == 2 and len(h2["l_au"]) == 3
    assert h1["l_fl"][-1] < 0.7 * h1["l_fl"][0]  # stage 1: landmark branch alone
    assert h2["l_au"][-1] < h2["l_au"][0]  # stage 2: AU detection on the two faces' fixed labels
    assert h2["l_fl"][-1] < h2["l_fl"][0]  # stage 2: multi-task landmark loss keeps improving
    assert h2["l_fl"][0] < h1["l_fl"][0]  # the transferred branch starts where stage 1 left off
    assert h2["au_f1"][-1] > h2["au_f1"][0]


def test_every_loss_term_is_tracked_and_finite(info):
    h2 = info["history"]["stage2"]
    expected = {"loss", "d_loss", "l_au", "l_l", "l_fl", "l_adl", "l_adf", "l_c", "d_l", "d_d", "au_f1",
                "l_c_s", "l_c_t", "l_c_sl", "l_c_sb", "l_c_tl", "l_c_tb", "lm_skipped_source", "lm_skipped_target"}
    assert expected <= set(h2)
    assert "l_cycle" not in h2 and "l_self" not in h2  # +AS replaces ADLD's reconstruction losses with L_c
    assert all(np.isfinite(v).all() for v in h2.values())


def test_faces_without_landmarks_are_skipped_and_counted(info):
    h1, h2 = info["history"]["stage1"], info["history"]["stage2"]
    for h in (h1, h2):
        # 6 steps x 4 faces per domain; a quarter of source and half of target faces lack landmarks.
        assert all(0 < n < 24 for n in h["lm_skipped_source"])
        assert all(0 < n < 24 for n in h["lm_skipped_target"])
    total = sum(h1["lm_skipped_source"]) + sum(h2["lm_skipped_source"])
    assert info["skipped_no_landmarks"]["source"] == total


def test_stage1_weights_transfer_into_feature_extractor(wild_source, wild_target):
    import keras

    from keras_au.models.wild.landmark_pretrainer import LandmarkPretrainer

    net = _trainer("ml").network
    before = [w.copy() for w in net.feature_extractor.get_weights()]
    pre = LandmarkPretrainer(net.landmark_branch, 176)
    pre.compile(optimizer=keras.optimizers.Adam(1e-3))
    pre.build()
    pre.train_step(_batch(wild_source, wild_target))
    net.feature_extractor.init_from_landmark_branch(net.landmark_branch)
    parts = [w for p in net.landmark_branch.parts[:2] for w in p.get_weights()]
    after = net.feature_extractor.get_weights()
    assert len(after) == len(parts) == len(before)
    for a, p in zip(after, parts):
        np.testing.assert_array_equal(a, p)  # kernels, BN gammas/betas and moving statistics
    assert any(not np.array_equal(a, b) for a, b in zip(after, before))


@pytest.mark.parametrize("variant", ["bl", "ml"])
def test_variant_steps_log_their_terms(variant, wild_source, wild_target):
    logs = {k: float(v) for k, v in _trainer(variant).train_step(_batch(wild_source, wild_target)).items()}
    assert all(np.isfinite(v) for v in logs.values())
    assert "l_cycle" in logs and "l_self" in logs and "l_c" not in logs  # ADLD's reconstruction losses
    assert ("l_fl" in logs) == (variant == "ml")


def test_no_nan_when_nothing_is_labeled_or_landmarked(wild_source, wild_target):
    import tensorflow as tf

    batch = _batch(wild_source, wild_target)
    for dom in ("source", "target"):
        batch[dom] = dict(batch[dom], has_landmarks=tf.zeros_like(batch[dom]["has_landmarks"]),
                          au_labels=-tf.ones_like(batch[dom]["au_labels"]))
    logs = {k: float(v) for k, v in _trainer("as").train_step(batch).items()}
    assert all(np.isfinite(v) for v in logs.values()), logs
    assert logs["l_au"] == 0.0 and logs["l_fl"] == 0.0 and logs["l_l"] == 0.0
    assert logs["lm_skipped_source"] == 4 and logs["lm_skipped_target"] == 4


def test_resume_continues_from_the_last_epoch(wild_run, info, tmp_path, wild_source, wild_target):
    out = str(tmp_path / "resumed")
    shutil.copytree(wild_run, out)
    # Same configuration, one more epoch (eager: two steps cost less than tracing the step again).
    task.train(out=out, source=wild_source, target=wild_target, preset="ci", variant="as", verbose=0,
               overrides=dict(OVERRIDES, epochs=4, steps_per_epoch=2, run_eagerly=True))
    with open(os.path.join(out, "run.json")) as f:
        resumed = json.load(f)
    h_old, h_new = info["history"], resumed["history"]
    assert h_new["stage1"] == h_old["stage1"]  # stage 1 was complete: not rerun
    assert len(h_new["stage2"]["loss"]) == 4 and h_new["stage2"]["loss"][:3] == h_old["stage2"]["loss"]
    with pytest.raises(ValueError, match="different configuration"):
        task.train(out=out, source=wild_source, target=wild_target, preset="ci", variant="bl", verbose=0,
                   overrides=dict(OVERRIDES))


def test_evaluate_reports_both_domains_and_landmark_error(wild_run, tmp_path, capsys):
    res = task.evaluate(wild_run, out=str(tmp_path / "eval"), progress=False)
    printed = capsys.readouterr().out
    assert "target F1" in printed and "source F1" in printed and "landmark NME" in printed
    assert set(res["per_au"]) == {"AU01", "AU02", "AU04", "AU06", "AU12", "AU17"}
    for dom in ("target", "source"):
        assert 0.0 <= res[dom]["mean_f1"] <= 1.0 and 0.0 <= res[dom]["mean_accuracy"] <= 1.0
        assert all(v["support"] > 0 for v in res[dom]["per_au"].values())  # fold-0 is labeled in both domains
        assert 0.0 <= res[dom]["baseline"]["mean_f1"] <= 1.0 and "auc" in res[dom]["per_au"]["AU01"]
    assert "all-positive F1" in printed and "via target path" in printed
    # both domains through both paths: the crossed reports score the same labels with the other path's outputs
    swt, tws = res["source_with_target_path"], res["target_with_source_path"]
    assert swt["baseline"] == res["source"]["baseline"] and tws["baseline"] == res["target"]["baseline"]
    assert set(swt["per_au"]) == set(tws["per_au"]) == set(res["per_au"]) and "auc" in tws["per_au"]["AU01"]
    assert swt["per_au"]["AU01"]["support"] == res["source"]["per_au"]["AU01"]["support"]
    lm = res["landmark_error"]["source"]
    assert lm["faces"] == 6 and lm["skipped_no_landmarks"] == 2  # held-out fold: 8 faces, 2 without landmarks
    assert 0.0 < lm["landmark_branch_nme"] < 1.0 and 0.0 < lm["e_l_nme"] < 1.0
    assert res["landmark_error"]["target"]["skipped_no_landmarks"] == 3
    for path in res["files"].values():
        assert os.path.getsize(path) > 0
    with open(res["files"]["scores"]) as f:
        assert json.load(f)["target"]["mean_f1"] == res["mean_f1"]
    err = task.landmark_error(wild_run, progress=False)
    assert err["landmark_branch_nme"] == pytest.approx(lm["landmark_branch_nme"], rel=1e-5)


def test_export_round_trip_matches_the_inference_path(wild_run, tmp_path, wild_target):
    import keras

    from keras_au.models.wild import data as wild_data

    out = task.export(wild_run, str(tmp_path / "export"))
    with open(os.path.join(out, "export.json")) as f:
        meta = json.load(f)
    assert meta["model"] == "wild" and meta["aus"] == [1, 2, 4, 6, 12, 17] and meta["input_size"] == 176
    assert np.asarray(meta["mean_landmarks"]).shape == (68, 2) and "G_st" in meta["path"]
    model = keras.saving.load_model(os.path.join(out, "model.keras"))
    net = task.load_run(wild_run).model
    _, held_out, _ = wild_data.split_files(wild_target, 0)
    pos = wild_data.au_positions(wild_data.record_au_ids(held_out), net.aus)
    batch = next(iter(wild_data.domain_stream(held_out, pos, 6, 176, training=False)))
    exported = model.predict({"image": batch["image"], "landmarks": batch["landmarks"]}, verbose=0)
    np.testing.assert_allclose(exported, np.asarray(net.predict_target(batch["image"])), atol=1e-5)
    no_lm = model.predict({"image": batch["image"], "landmarks": np.zeros((6, 68, 2), "float32")}, verbose=0)
    np.testing.assert_array_equal(no_lm, exported)  # landmarks are accepted and ignored
    assert exported.shape == (6, 6) and np.all((exported >= 0) & (exported <= 1))


def test_train_rejects_missing_inputs(tmp_path, wild_source, tiny_records):
    with pytest.raises(ValueError, match="--target"):
        task.train(out=str(tmp_path / "x"), source=wild_source, preset="ci")
    with pytest.raises(FileNotFoundError):
        task.train(out=str(tmp_path / "x"), source=wild_source, target=str(tmp_path / "nope"), preset="ci")
    with pytest.raises(ValueError, match="none of the model's AUs"):
        task.train(out=str(tmp_path / "y"), source=tiny_records, target=tiny_records, preset="ci",
                   overrides={"aus": [9, 25]})
