"""RTATL's auxiliary tasks as the paper states them, and Table 1's other self-supervised rows, on real faces.

L_sup drops only the blanked AU and the AUs sharing its centres; ``blank_fraction`` leaves some faces
intact; C's pseudo-labels come from an intact pass; the gradient probe measures loss competition;
rotation / exemplar / jigsaw each learn their own pretext task and export backbone-only.
"""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_au.data.input_pipeline import InputConfig, build_dataset, fold_files
from keras_au.models.rtatl import task
from keras_au.models.rtatl.config import make_config
from keras_au.models.rtatl.jigsaw_head import max_hamming_permutations, shuffled_tiles
from keras_au.models.rtatl.rotation_head import rotate_batch


def _trainer(variant, **overrides):
    keras.utils.set_random_seed(0)
    return task.build_trainer(make_config(variant, "ci", overrides=overrides))


def test_sup_mask_drops_only_the_blanked_au_and_its_shared_centres():
    tr = _trainer("roii", blank_fraction=1.0)
    prep = tr.prepare(tr.dummy_batch(512), 7)
    aus = list(tr.cfg.model.aus)
    groups = {12: {12, 14, 15}, 14: {12, 14, 15}, 15: {12, 14, 15}, 23: {23, 24}, 24: {23, 24}}
    intact, chosen = prep["intact"].numpy(), prep["chosen"].numpy()
    for i in range(64):
        au = aus[chosen[i]]
        dropped = {aus[j] for j in np.flatnonzero(intact[i] == 0)}
        assert dropped == groups.get(au, {au})
    # expected share of labels that supervise: 1 - (3*3 + 2*2 + 7*1) / 12 / 12 = 86.1 %
    assert intact.mean() == pytest.approx(1 - 20 / 144, abs=0.03)
    overlap = _trainer("roii", sup_mask="overlap", blank_fraction=1.0).prepare(tr.dummy_batch(512), 7)["intact"]
    overlap = overlap.numpy().mean()
    assert overlap < 0.6  # the first implementation's rule threw away about half of the labels


def test_blank_fraction_leaves_the_rest_of_the_faces_intact():
    tr = _trainer("roii", blank_fraction=0.25)
    d = tr.dummy_batch(400)
    prep = tr.prepare(d, 3)
    blank = prep["blank"].numpy()
    assert 0.15 < blank.mean() < 0.35
    changed = np.any(prep["normed"].numpy() != prep["normed_intact"].numpy(), axis=(1, 2, 3))
    np.testing.assert_array_equal(changed, blank > 0)
    assert np.all(prep["intact"].numpy()[blank == 0] == 1)  # unblanked faces: every known label supervises


def test_batch_without_labels_gives_zero_supervised_loss_and_finite_terms():
    tr = _trainer("rtatl")
    d = tr.dummy_batch(4)
    d["au_labels"] = -np.ones_like(d["au_labels"])
    terms, logs, probs = tr.loss_terms(d, tr.prepare(d, 1), 1, critic_update=False)
    assert float(terms["l_sup"]) == 0.0
    assert all(np.isfinite(float(v)) for v in logs.values()) and np.all(np.isfinite(probs.numpy()))


def _real_batch(records, size=8, fold=1):
    ic = InputConfig(fold_files(records, [fold]), batch_size=size, training=False, flow_size=16)
    return {k: v for k, v in next(iter(build_dataset(ic))).items() if k in task.MODEL_KEYS}


def test_pseudo_labels_and_training_f1_come_from_the_intact_faces(tiny_records):
    tr = _trainer("roii")
    batch = _real_batch(tiny_records)
    logs = tr.train_step(batch)
    assert 0.0 <= float(logs["pseudo_acc"]) <= 1.0 and 0.0 <= float(logs["pseudo_acc_blanked"]) <= 1.0
    # the logged F1 is the inference-mode prediction on the unblanked faces
    tr.f1.reset_state()
    prep = tr.prepare(batch, int(tr.optimizer.iterations))
    _, _, probs = tr.loss_terms(batch, prep, 0, critic_update=False)
    expected = tr.backbone.forward(prep["normed_intact"], prep["landmarks"], training=False)["probs"]
    np.testing.assert_allclose(probs.numpy(), expected.numpy(), atol=1e-6)


@pytest.mark.parametrize("rule", ["pseudo", "drop"])
def test_unknown_au_of_a_labeled_face_is_pseudo_labeled_or_left_out_of_the_patch_classifier(tiny_records, rule):
    tr = _trainer("roii", blank_fraction=1.0, unknown_patch_targets=rule)
    batch = _real_batch(tiny_records)
    step = 5
    chosen = tr.prepare(batch, step)["chosen"].numpy()
    labels = np.full(batch["au_labels"].shape, -1, np.int32)
    for i, c in enumerate(chosen):  # labeled faces whose blanked AU is the one AU coded unknown
        labels[i, (c + 1) % labels.shape[1]] = 1
    batch["au_labels"] = labels
    _, logs, _ = tr.loss_terms(batch, tr.prepare(batch, step), step)
    assert np.isfinite(float(logs["l_rec"])) and float(logs["l_rec"]) > 0  # the patch is still inpainted
    if rule == "drop":
        assert float(logs["l_c"]) == 0.0 and float(logs["l_cg"]) == 0.0
    else:
        assert float(logs["l_c"]) > 0.0 and float(logs["l_cg"]) > 0.0
    unlabeled = {**batch, "au_labels": np.full_like(labels, -1)}  # unlabeled faces keep their pseudo-labels
    _, logs, _ = tr.loss_terms(unlabeled, tr.prepare(unlabeled, step), step, critic_update=False)
    assert float(logs["l_cg"]) > 0.0


def test_gradient_probe_measures_each_term_on_the_shared_backbone(tiny_records):
    tr = _trainer("rtatl")
    res = tr.gradient_probe(_real_batch(tiny_records))
    for term in ("l_sup", "l_adv_g", "l_rec", "l_cg", "l_flow"):
        assert np.isfinite(res[f"{term}/grad_norm"]) and res[f"{term}/grad_norm"] > 0, term
        assert -1.0 <= res[f"{term}/cos_sup"] <= 1.0 + 1e-6
    assert res["l_sup/cos_sup"] == pytest.approx(1.0, abs=1e-4)


def test_rotation_and_jigsaw_inputs_are_exact_rearrangements():
    img = tf.random.stateless_uniform((2, 48, 48, 3), (1, 2))
    rot = rotate_batch(img, tf.constant([1, 2]))
    np.testing.assert_array_equal(rot[0].numpy(), np.rot90(img[0].numpy(), 1))
    np.testing.assert_array_equal(rot[1].numpy(), np.rot90(img[1].numpy(), 2))
    perms = max_hamming_permutations(10)
    assert len({tuple(p) for p in perms}) == 10 and all(sorted(p) == list(range(9)) for p in perms)
    assert min(np.sum(a != b) for i, a in enumerate(perms) for b in perms[i + 1:]) >= 6
    tiles = shuffled_tiles(img, tf.constant([0, 3]), perms, tf.constant([0, 0]), fill=1.0).numpy()
    for b, p in ((0, perms[0]), (1, perms[3])):
        for slot, src in enumerate(p):
            r, c = divmod(int(src), 3)
            np.testing.assert_allclose(tiles[b, slot], img[b, 16 * r:16 * r + 16, 16 * c:16 * c + 16].numpy(),
                                       atol=1e-5)


def _instances(records, rotated: bool = False):
    """8 inputs (192²) from the two real faces: 4 crops of each, 8 px apart; with ``rotated`` each face's 4
    crops are also turned by 0/90/180/270° (landmarks with them), so the 8 stay distinct instances under the
    exemplar views' ±10 % shift and flip, which make 8-px-apart crops of one face the same instance."""
    ic = InputConfig(fold_files(records, [1]), batch_size=2, training=False, crop_size=200)
    b = next(iter(build_dataset(ic)))
    crops, lms = [], []
    for k, (oy, ox) in enumerate(((0, 0), (0, 8), (8, 0), (8, 8))):
        img, lm = b["image"][:, oy:oy + 192, ox:ox + 192], b["landmarks"] - tf.constant([ox, oy], tf.float32)
        for _ in range(k if rotated else 0):  # counter-clockwise, as tf.image.rot90: (x, y) -> (y, 191 - x)
            img, lm = tf.image.rot90(img), tf.stack([lm[..., 1], 191.0 - lm[..., 0]], -1)
        crops.append(img)
        lms.append(lm)
    labels = tf.concat([b["au_labels"]] * 4, 0)
    return {"image": tf.concat(crops, 0), "landmarks": tf.concat(lms, 0), "au_labels": labels}


@pytest.mark.parametrize("variant,overrides,chance", [
    ("rotation", {}, 0.25),
    ("jigsaw", {"jigsaw_permutations": 4}, 0.25),
    ("exemplar", {}, 0.125),
])
def test_pretext_heads_learn_their_task_on_real_faces(variant, overrides, chance, tiny_records):
    tr = _trainer(variant, learning_rate=1e-3, **overrides)
    batch = _instances(tiny_records, rotated=variant == "exemplar")
    hist = tr.fit(tf.data.Dataset.from_tensors(batch).repeat(), epochs=6, steps_per_epoch=10, verbose=0).history
    acc = np.array(hist["pretext_acc"])
    assert np.all(np.isfinite(hist["l_pretext"]))
    assert acc[-1] > 2 * chance and acc[-1] > acc[0], acc


def test_pretext_variant_exports_backbone_only(tiny_records, tmp_path):
    out = str(tmp_path / "jig")
    task.train(model="jigsaw", out=out, data=tiny_records, fold=0, preset="ci", epochs=1, steps_per_epoch=2,
               verbose=0)
    exp = task.export(run_dir=out, out=str(tmp_path / "exp"))
    import keras_au.models.rtatl  # noqa: F401

    model = keras.saving.load_model(os.path.join(exp, "model.keras"))
    assert not any("jigsaw" in w.path or "roi_modules" in w.path for w in model.weights)
    b = _instances(tiny_records)
    assert model.predict({"image": b["image"], "landmarks": b["landmarks"]}, verbose=0).shape == (8, 12)


def test_labeled_subjects_keeps_a_seeded_subset_and_demotes_the_rest(tiny_records, tmp_path):
    out = str(tmp_path / "fig4")
    task.train(model="backbone_t", out=out, data=tiny_records, fold=0, preset="ci", epochs=1, steps_per_epoch=1,
               labeled_subjects=1, demote_unlabeled=True, seed=3, verbose=0)
    with open(os.path.join(out, "run.json")) as f:
        info = json.load(f)
    assert info["labeled_subjects"] == 1 and info["demote_unlabeled"] is True
    assert len(info["kept_subjects"]) == 1 and info["kept_subjects"][0] in info["train_subjects"]
    assert len(info["train_subjects"]) == 4 and info["demoted_records"] == 12
    assert task.select_subjects(info["train_subjects"], 1, 3) == info["kept_subjects"]  # seeded: reproducible
    cfg = task.RTATLConfig.from_dict(info["config"])
    cfg.train.batch_size = 16
    files = fold_files(tiny_records, [1, 2])
    ds = task.training_dataset(cfg, files, None, keep_subjects=info["kept_subjects"], demote_unlabeled=True)
    seen = {"labeled": 0, "unlabeled": 0}
    for b in ds.take(4):
        lab = b["labeled"].numpy()
        seen["labeled"] += int(lab.sum())
        seen["unlabeled"] += int((lab == 0).sum())
        assert np.all(b["au_labels"].numpy()[lab == 0] == -1)
    assert seen["labeled"] > 0 and seen["unlabeled"] > 0
    dropped = task.training_dataset(cfg, files, None, keep_subjects=info["kept_subjects"])
    assert all(np.all(b["labeled"].numpy() > 0) for b in dropped.take(2))  # dropped subjects are gone
    with pytest.raises(ValueError, match="hold 4 subjects"):
        task.select_subjects(info["train_subjects"], 5, 0)
    with pytest.raises(ValueError, match="needs --labeled-subjects"):
        task.train(model="backbone_t", out=str(tmp_path / "bad"), data=tiny_records, preset="ci",
                   demote_unlabeled=True, verbose=0)


def test_rule_options_are_checked():
    with pytest.raises(ValueError, match="unknown_patch_targets"):
        make_config("rtatl", "ci", overrides={"unknown_patch_targets": "ignore"})
    with pytest.raises(ValueError, match="sup_weight_rule must be one of .*inverse_rate"):
        make_config("rtatl", "ci", overrides={"sup_weight_rule": "sqrt"})
