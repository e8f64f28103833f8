"""ADLD fidelity switches, split protocols, per-epoch model selection and fine-tuning of the in-the-wild model.

One short eager run (ci preset, protocol ``sample``, fine-tuning killed after its first epoch and resumed) is
shared by the module; the rest are unit checks on hand-made inputs.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from keras_au.models.wild import task

# bl: no stage 1; eager: a handful of steps costs less than tracing the joint step.
RUN = dict(epochs=2, steps_per_epoch=1, finetune_epochs=2, run_eagerly=True, task_lr=3e-3, gen_lr=1e-3,
           disc_lr=1e-3)


# --- departures from ADLD, each a config switch ------------------------------------------------------------

def test_au_centre_targets_match_hand_computed_points():
    from keras_au.models.wild.landmarks49 import au_centre_targets

    lm = np.stack([np.arange(49, dtype=np.float32) * 0.5, np.full(49, 40.0, np.float32)], axis=-1)
    lm[22, 0], lm[25, 0] = 70.0, 82.0  # r = |x22 - x25| = 12
    out = np.asarray(au_centre_targets(lm[None]))[0]
    expected_y = np.full(49, 40.0)
    for idx, dy in (((4, 5), -6.0), ((1, 8), -4.0), ((2, 7), 4.0), ((24, 29), 12.0), ((15, 17), -6.0),
                    ((39, 41), 6.0)):
        expected_y[list(idx)] += dy
    np.testing.assert_allclose(out[:, 1], expected_y, atol=1e-5)
    np.testing.assert_array_equal(out[:, 0], lm[:, 0])  # only y moves
    assert int(np.sum(out[:, 1] != 40.0)) == 12


def test_heatmap_targets_use_au_centres_only_when_switched_on():
    import tensorflow as tf

    from keras_au.models.wild.config import preset_config
    from keras_au.models.wild.network import WildNetwork
    from keras_au.models.wild.trainer import WildTrainer
    from keras_au.models.wild.landmarks49 import au_centre_shift

    rng = np.random.default_rng(0)
    lm68 = tf.constant(rng.uniform(40, 140, size=(2, 68, 2)), tf.float32)
    dom = {"landmarks": lm68, "has_landmarks": tf.ones(2), "au_labels": tf.zeros((2, 6), tf.int32)}
    idx = {}
    for on in (True, False):
        cfg = preset_config("ci", "bl", au_centre_landmarks=on)
        idx[on] = np.asarray(WildTrainer(WildNetwork.from_wild_config(cfg), cfg, np.ones(6))._targets(
            {"source": dom, "target": dom})["idx_s"])
    moved = au_centre_shift() != 0
    assert np.array_equal(idx[True][:, ~moved], idx[False][:, ~moved])
    assert np.any(idx[True][:, moved] != idx[False][:, moved])


@pytest.mark.parametrize("size, output, expected", [(44, "image", (2, 1, 1, 1)), (12, "image", (2, 1, 1, 1)),
                                                    (22, "image", (2, 1, 1, 1)), (44, "patch", (2, 3, 3, 1))])
def test_domain_discriminator_gives_one_score_per_image_as_adld(size, output, expected):
    from keras_au.models.wild.separation import DomainDiscriminator

    d = DomainDiscriminator(8, output)
    d.build((None, size, size, 16))
    assert tuple(d(np.zeros((2, size, size, 16), "float32")).shape) == expected


def test_linear_schedule_decays_every_epoch_after_the_hold():
    from keras_au.models.wild.lr_schedule import make_schedule

    sched = make_schedule("linear", 1e-4, 10, 12, 4, 4)
    lrs = [float(sched(e * 10 + 5)) for e in range(12)]
    np.testing.assert_allclose(lrs[:4], 1e-4)
    np.testing.assert_allclose(lrs[4:], [1e-4 * (1 - k / 9) for k in range(1, 9)], rtol=1e-5)
    assert float(sched(10_000)) == pytest.approx(1e-4 / 9)  # never 0


def test_paper_preset_defaults_are_the_paper_and_adld_choices():
    from keras_au.models.wild.config import preset_config

    cfg = preset_config("paper", "as")
    assert cfg.au_centre_landmarks and cfg.au_bn_all_domains and not cfg.stage1_on_target
    assert cfg.domain_score == "image" and cfg.lr_decay == "linear" and cfg.select_by == "target"
    assert cfg.lambda_self == 0.0 and cfg.lambda_cycle == 0.0  # Eq. 3 (docs/wild.md: the measured decision)
    assert preset_config("paper", "as", lambda_self=3.0).lambda_self == 3.0  # ADLD's term, on request
    with pytest.raises(ValueError, match="lr_decay"):
        preset_config("ci", lr_decay="cosine")


# --- model selection ---------------------------------------------------------------------------------------

class _FakeNet:
    """Writes its 'weights' (an epoch marker) where save_weights is pointed."""

    def __init__(self):
        self.epoch = 0

    def save_weights(self, path):
        with open(path, "w") as f:
            f.write(str(self.epoch))


def test_best_epoch_is_the_best_validation_f1_not_the_last(tmp_path):
    from keras_au.models.wild.selection import EpochSelection, load_best

    run, net = str(tmp_path), _FakeNet()
    f1 = iter([0.20, 0.50, 0.30, 0.50])  # epoch 2 is best; epoch 4 only ties it (ties: earliest)
    auc = iter([0.55, 0.52, 0.61, 0.58])  # logged beside F1, never selects
    cb = EpochSelection(run, "stage2", net, lambda: {"target": next(f1), "source": 0.9, "target_auc": next(auc),
                                                     "source_auc": None}, keep="best")
    for epoch in range(4):
        net.epoch = epoch + 1
        logs = {}
        cb.on_epoch_end(epoch, logs)
        assert logs["val_target_f1"] > 0 and logs["val_source_f1"] == 0.9
        assert 0.5 < logs["val_target_auc"] < 0.62 and "val_source_auc" not in logs
    best = load_best(run)
    assert [e["val_target_auc"] for e in best["epochs"]] == [0.55, 0.52, 0.61, 0.58]
    assert best["best"]["val_target_auc"] == 0.52 and best["epochs"][0]["val_source_auc"] is None
    assert best["best"]["epoch"] == 2 and best["best_stage2"]["epoch"] == 2 and len(best["epochs"]) == 4
    chosen = task.resolve_weights(run, {})
    assert chosen["snapshot"] == "best" and open(chosen["file"]).read() == "2"
    assert sorted(os.listdir(os.path.join(run, "snapshots"))) == ["stage2-epoch02.weights.h5"]  # keep="best"
    # A resumed epoch replaces its entry; a better fine-tuning epoch becomes the overall best.
    EpochSelection(run, "finetune", net, lambda: {"target": 0.6, "source": None}).on_epoch_end(0, {})
    best = load_best(run)
    assert (best["best"]["stage"], best["best"]["epoch"]) == ("finetune", 1) and best["best_stage2"]["epoch"] == 2
    assert task.resolve_weights(run, {}, "final")["file"].endswith("model.weights.h5")


# --- split protocols ---------------------------------------------------------------------------------------

def _write(path, subjects_labels, aus):
    from record_fixtures import aligned_real_faces

    from keras_au.data import schema

    faces = aligned_real_faces()
    recs = [schema.FaceRecord(image=faces[i % len(faces)][1], au_ids=aus, au_labels=np.array(lab), subject=s,
                              frame=i, dataset="x", fold=0, landmarks=faces[i % len(faces)][2])
            for i, (s, lab) in enumerate(subjects_labels)]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    schema.write_tfrecord(path, recs)


def test_adld_protocol_splits_bp4d_part3_and_emotionet_labeled_half_and_half(tmp_path):
    from keras_au.au import dataset_aus
    from keras_au.models.wild import data as wild_data
    from keras_au.models.wild.protocols import ADLD_BP4D_VAL, make_splits

    src, tgt = str(tmp_path / "bp4d"), str(tmp_path / "emotionet")
    bp4d, emo = dataset_aus("bp4d"), dataset_aus("emotionet")
    pos = [1] * len(bp4d)
    _write(f"{src}/fold-0/a.tfrecord.gz", [("F001", pos)], bp4d)
    _write(f"{src}/fold-1/a.tfrecord.gz", [("M011", pos)], bp4d)
    _write(f"{src}/fold-2/a.tfrecord.gz", [("F004", pos), ("F006", pos), ("F012", pos)], bp4d)
    _write(f"{tgt}/all.tfrecord.gz", [(f"img{i}", [1] * 6 if i < 4 else [-1] * 6) for i in range(6)], emo)

    def positions(files):
        return wild_data.au_positions(wild_data.record_au_ids(files), emo)

    sp = make_splits("adld", src, tgt, None, positions, positions)
    assert sp.fold == 2 and sp.has_validation
    assert sp.source["val"].subjects == list(ADLD_BP4D_VAL) and "F006" in sp.source["test"].subjects
    assert len(sp.source["train"].files) == 2  # parts 1 + 2
    val, test = sp.target["val"].subjects, sp.target["test"].subjects
    assert len(val) == len(test) == 2 and not set(val) & set(test)
    assert set(val) | set(test) == {f"img{i}" for i in range(4)}  # only the labeled images
    assert sp.target["train"].select == "unlabeled"

    def count(split):
        ds = wild_data.domain_stream(split.files, positions(split.files), 8, 176, False, subjects=split.subjects,
                                     select=split.select)
        return sum(int(b["image"].shape[0]) for b in ds)

    assert count(sp.source["val"]) == 2  # F004 + F012 (F006 tests)
    assert count(sp.target["train"]) == 2  # the unlabeled images only
    with pytest.raises(ValueError, match="part 3"):
        make_splits("adld", src, tgt, 0, positions, positions)


def test_a_target_split_without_labels_fails_with_a_clear_message(tmp_path, wild_source, wild_target):
    # The target fixture labels fold 0 only: holding out fold 1 leaves validation and test unlabeled.
    with pytest.raises(ValueError, match="target validation split .* holds no labeled faces"):
        task.train(out=str(tmp_path / "r"), source=wild_source, target=wild_target, preset="ci", fold=1,
                   protocol="sample", overrides=dict(RUN), verbose=0)
    with pytest.raises(ValueError, match="--protocol"):
        task.train(out=str(tmp_path / "r2"), source=wild_source, target=wild_target, preset="ci", protocol="nope")


# --- one run: selection, fine-tuning killed and resumed, evaluate/export on the best snapshot -------------

class _Killed(Exception):
    pass


@pytest.fixture(scope="module")
def selected_run(tmp_path_factory, wild_source, wild_target):
    from keras_au.tasks import checkpoint as ckpt

    out = str(tmp_path_factory.mktemp("wild_selected") / "run")
    kwargs = dict(out=out, source=wild_source, target=wild_target, preset="ci", variant="bl", protocol="sample",
                  fine_tune=True, overrides=dict(RUN), verbose=0)
    original = ckpt.EpochCheckpoint.on_epoch_end

    def kill_after_first_finetune_epoch(self, epoch, logs=None):
        original(self, epoch, logs)
        if self.path == ckpt.checkpoint_path(out, "finetune"):
            raise _Killed()

    mp = pytest.MonkeyPatch()
    mp.setattr(ckpt.EpochCheckpoint, "on_epoch_end", kill_after_first_finetune_epoch)
    with pytest.raises(_Killed):
        task.train(**kwargs)
    mp.undo()
    killed = ckpt.read_meta(ckpt.checkpoint_path(out, "finetune"))
    with open(os.path.join(out, "finetune_from.json")) as f:
        killed_from = json.load(f)
    result = task.train(**kwargs)
    return out, result, killed, killed_from


def test_every_epoch_is_validated_snapshotted_and_the_best_named(selected_run):
    from keras_au.models.wild.selection import load_best, pick_best

    out, result, _, _ = selected_run
    with open(os.path.join(out, "run.json")) as f:
        info = json.load(f)
    assert info["protocol"] == "sample" and info["validation"] and info["complete"]
    best = load_best(out)
    assert [(e["stage"], e["epoch"]) for e in best["epochs"]] == [("stage2", 1), ("stage2", 2), ("finetune", 1),
                                                                  ("finetune", 2)]
    for e in best["epochs"]:
        assert 0.0 <= e["val_target_f1"] <= 1.0 and 0.0 <= e["val_source_f1"] <= 1.0
        for dom in ("target", "source"):  # threshold-free beside F1 (None only when no AU has both classes)
            assert e[f"val_{dom}_auc"] is None or 0.0 <= e[f"val_{dom}_auc"] <= 1.0
        assert os.path.isfile(os.path.join(out, e["weights"]))  # keep_snapshots="all": one file per epoch
    assert best["best"] == pick_best(best["epochs"], "val_target_f1") == result["best"] == info["best"]
    assert len(info["history"]["stage2"]["val_target_f1"]) == 2 and len(info["history"]["finetune"]["loss"]) == 2
    with open(os.path.join(out, "splits.json")) as f:
        splits = json.load(f)
    for dom in ("source", "target"):
        val, test = splits[dom]["val"]["subjects"], splits[dom]["test"]["subjects"]
        assert len(val) == len(test) == 1 and val != test  # fold 0's two people: one validates, one tests


def test_fine_tuning_starts_from_the_best_stage2_snapshot_and_resumes_after_a_kill(selected_run):
    from keras_au.models.wild.selection import load_best
    from keras_au.tasks import checkpoint as ckpt

    out, _, killed, killed_from = selected_run
    assert killed["epoch"] == 1  # the kill came after the first fine-tuning epoch was checkpointed
    assert killed_from == load_best(out)["best_stage2"]
    done = ckpt.read_meta(ckpt.checkpoint_path(out, "finetune"))
    assert done["epoch"] == 2 and done["history"]["loss"][0] == killed["history"]["loss"][0]  # resumed, not redone
    with open(os.path.join(out, "run.json")) as f:
        assert json.load(f)["finetune_from"] == killed_from


def test_evaluate_and_export_use_the_best_snapshot_by_default(selected_run, tmp_path, capsys):
    from keras_au.models.wild.selection import load_best

    out, _, _, _ = selected_run
    best = load_best(out)["best"]
    res = task.evaluate(out, out=str(tmp_path / "eval"), progress=False)
    assert res["weights"]["snapshot"] == "best" and res["weights"]["epoch"] == best["epoch"]
    assert res["weights"]["stage"] == best["stage"] and "validation target F1" in capsys.readouterr().out
    assert res["records"]["target"] == 3 and res["records"]["source"] == 4  # the test person of each fold 0
    exported = task.export(out, str(tmp_path / "export"))
    with open(os.path.join(exported, "export.json")) as f:
        assert json.load(f)["weights"]["epoch"] == best["epoch"]
