"""RTATL modules: shapes, RoI geometry (vs keras_au.geometry, under flips), masking, bad input, sizes."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from keras_au.data import schema
from keras_au.data.flip import FLIP_PERMUTATION
from keras_au.data.input_pipeline import fold_files
from keras_au.geometry import au_centers
from keras_au.models.flops import count_macs, count_params
from keras_au.models.resnet import load_resnet_weights, resnet18, torch_layer_name
from keras_au.models.rtatl import task
from keras_au.models.rtatl.config import make_config
from keras_au.models.rtatl.gcn_relation import AURelationGCN, prior_graph_from_labels
from keras_au.models.rtatl.roi_extract import au_center_spec, au_centers_tf, blanked_fraction, crop_bilinear, \
    to_map_coords
from keras_au.models.rtatl.trainer import RTATLTrainer

TORCH_BN = {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean", "moving_variance": "running_var"}
BP4D = (1, 2, 4, 6, 7, 10, 12, 14, 15, 17, 23, 24)


@pytest.fixture(scope="module")
def faces(tiny_records):
    """Real aligned faces (200x200) and their landmarks from the fixture records."""
    exs = schema.read_examples(fold_files(tiny_records, [1])[0])[:2]
    imgs = [tf.io.decode_jpeg(e["image"]).numpy() for e in exs]
    lms = [np.reshape(e["landmarks"], (68, 2)).astype(np.float32) for e in exs]
    return np.stack(imgs).astype(np.float32), np.stack(lms)


@pytest.fixture(scope="module")
def ci_trainer():
    return task.build_trainer(make_config("rtatl", "ci"))


def test_module_shapes(ci_trainer):
    tr, m = ci_trainer, ci_trainer.cfg.model
    c2, c3, c4, c5 = resnet18(8)(tf.zeros((1, 64, 64, 3)))
    assert [tuple(c.shape) for c in (c2, c3, c4, c5)] == [(1, 16, 16, 8), (1, 8, 8, 16), (1, 4, 4, 32), (1, 2, 2, 64)]
    b = 3
    batch = tr.dummy_batch(b)
    normed, unit, lm, valid = tr.backbone.preprocess(batch["image"], batch["landmarks"])
    assert normed.shape == (b, 64, 64, 3) and lm.shape == (b, 68, 2)
    out = tr.backbone.forward(normed, lm)
    a, d = m.num_aus, m.dim
    assert out["tokens"].shape == (b, 2 * a, d) and out["attended"].shape == (b, 2 * a, d)
    assert out["logits"].shape == (b, a) and out["global_maps"].shape == (b, 2, 2, 64)
    np.testing.assert_allclose(out["logits"], np.maximum(out["roi_logits"], out["global_logits"]))
    res = tr.training_forward(batch)
    p = m.patch_size
    assert res["fake"].shape == (2 * b, p, p, 3) and res["real"].shape == (2 * b, p, p, 3)
    assert res["d_real"].shape == (2 * b, 1) and res["c_fake"].shape == (2 * b, a)
    assert res["flow"].shape == (b, m.flow_size, m.flow_size, 2) and res["blank_mask"].shape == (b, 64, 64, 1)
    assert tr.backbone({"image": batch["image"], "landmarks": batch["landmarks"]}).shape == (b, a)
    gcn = AURelationGCN(a, d, prior_graph=np.eye(a)[::-1].tolist())
    assert gcn(out["tokens"]).shape == (b, 2 * a, d)


def test_roi_module_implementations_agree():
    from keras_au.models.rtatl.roi_modules import RoIModules

    crops = tf.random.normal((3, 8, 4, 4, 5))  # B=3, A=4 (2 RoIs each), 4x4 crops, 5 channels
    grouped = RoIModules(4, 6, 7, impl="grouped")
    split = RoIModules(4, 6, 7, impl="split")
    grouped.build(crops.shape)
    split.build(crops.shape)
    split.set_weights(grouped.get_weights())
    for training in (False, True):
        np.testing.assert_allclose(split(crops, training=training), grouped(crops, training=training), atol=1e-5)
    # AU 0's features depend on AU 0's crops only
    changed = tf.concat([crops[:, :2] + 1.0, crops[:, 2:]], axis=1)
    diff = np.abs(split(changed) - split(crops)).max(axis=-1)
    assert np.all(diff[:, :2] > 0) and np.all(diff[:, 2:] == 0)


def test_au_centres_match_geometry_and_crops_sample_the_right_place(faces):
    _, lms = faces
    pairs, shifts = au_center_spec(BP4D)
    got = au_centers_tf(tf.constant(lms), pairs, shifts).numpy()
    for i in range(len(lms)):
        np.testing.assert_allclose(got[i], au_centers(lms[i], BP4D), atol=1e-4)
    # a map whose value is its own (x, y): a crop's centre value is the centre position
    yy, xx = np.meshgrid(np.arange(50.0), np.arange(50.0), indexing="ij")
    fmap = tf.constant(np.stack([xx, yy], -1)[None], tf.float32)
    centres = tf.constant(to_map_coords(got[:1].reshape(1, -1, 2), 4))
    crops = crop_bilinear(fmap, centres, 3).numpy()
    np.testing.assert_allclose(crops[0, :, 1, 1], centres[0].numpy(), atol=1e-4)


def test_flip_consistency_swaps_left_and_right_rois(faces):
    """Crops of a flipped face at flipped landmarks (pipeline convention) = mirrored crops, pair swapped."""
    imgs, lms = faces
    img, lm = imgs[:1, 4:196, 4:196], lms[:1] - 4.0  # 192 centre crop, like the input pipeline
    flip_img = img[:, :, ::-1]
    flip_lm = lm[:, FLIP_PERMUTATION]
    flip_lm[..., 0] = 191.0 - flip_lm[..., 0]
    pairs, shifts = au_center_spec(BP4D)
    for stride, size in ((1, 48), (4, 12)):
        # average pooling is flip-equivariant, like any stride-s map of a mirrored image
        fmap = tf.nn.avg_pool2d(img, stride, stride, "VALID")
        fmap_f = tf.nn.avg_pool2d(flip_img, stride, stride, "VALID")
        crops = crop_bilinear(fmap, to_map_coords(tf.reshape(au_centers_tf(lm, pairs, shifts), (1, -1, 2)), stride),
                              size).numpy().reshape(len(BP4D), 2, size, size, 3)
        crops_f = crop_bilinear(fmap_f, to_map_coords(tf.reshape(au_centers_tf(flip_lm, pairs, shifts), (1, -1, 2)),
                                                      stride), size).numpy().reshape(len(BP4D), 2, size, size, 3)
        mirrored_swapped = crops[:, ::-1, :, ::-1]
        err = np.abs(crops_f - mirrored_swapped).mean() / np.abs(crops).mean()
        assert err < 0.03, (stride, err)
        # and not trivially: unswapped crops differ
        assert np.abs(crops_f - crops[:, :, :, ::-1]).mean() / np.abs(crops).mean() > 5 * err


def test_blanked_fraction_is_exact():
    boxes = tf.constant([[[10.0, 10.0], [30.0, 10.0], [100.0, 100.0]]])
    blanks = tf.constant([[[10.0, 10.0], [14.0, 10.0]]])  # two overlapping squares
    frac = blanked_fraction(boxes, 4.0, blanks, 4.0).numpy()[0]
    # box 0 [6,14]: union covers x in [6,18] -> all of it; box 1 [26,34]: none; box 2 far away
    np.testing.assert_allclose(frac, [1.0, 0.0, 0.0], atol=1e-6)
    # box [12, 20] x [6, 14] vs the union [6, 18] x [6, 14]: 6 of 8 columns; the blanks' own overlap
    # [10, 14] lies inside both and must be counted once (inclusion-exclusion)
    frac = blanked_fraction(tf.constant([[[16.0, 10.0]]]), 4.0, blanks, 4.0).numpy()[0]
    np.testing.assert_allclose(frac, [0.75], atol=1e-6)


def test_sup_loss_ignores_cropped_aus(faces):
    tr = task.build_trainer(make_config("rtatl", "ci", overrides={"blank_fraction": 1.0}))  # every face blanked
    imgs, lms = faces
    batch = {"image": imgs[:, 4:196, 4:196], "landmarks": lms - 4.0, "au_labels": np.ones((2, 12), np.int32)}
    prep = tr.prepare(batch, step=5)
    intact = prep["intact"].numpy()
    chosen = prep["chosen"].numpy()
    assert np.all(intact[np.arange(2), chosen] == 0)  # the blanked AU never supervises
    assert 0 < intact.sum() < intact.size
    mask = prep["blank_mask"].numpy()
    assert 0 < mask.mean() < 0.5
    # blanked pixels hold the normalised mean (0); the patch itself was taken before blanking
    assert np.all(prep["normed"].numpy()[mask[..., 0] > 0] == 0)
    assert np.abs(prep["real"].numpy()).mean() > 0.1
    from keras_au.models.rtatl.losses import supervised_loss

    logits = tf.Variable(tf.zeros((2, 12)))  # also guards the BCE gradient at logit 0
    with tf.GradientTape() as tape:
        loss = supervised_loss(batch["au_labels"], logits, prep["intact"])
    grad = tape.gradient(loss, logits).numpy()
    assert np.all(grad[intact == 0] == 0) and np.all(grad[intact == 1] != 0)


def test_unblanked_faces_keep_every_label(faces):
    tr = task.build_trainer(make_config("rtatl", "ci", overrides={"blank_fraction": 0.0}))
    imgs, lms = faces
    prep = tr.prepare({"image": imgs[:, 4:196, 4:196], "landmarks": lms - 4.0}, step=5)
    assert np.all(prep["intact"].numpy() == 1) and np.all(prep["blank_mask"].numpy() == 0)
    assert np.all(prep["normed"].numpy() == prep["normed_intact"].numpy())


def test_bad_input_is_masked_and_counted_never_nan(ci_trainer, faces):
    tr = RTATLTrainer(ci_trainer.config_dict)
    tr.compile()
    imgs, lms = faces
    b = 4
    batch = tr.dummy_batch(b)
    batch["image"] = np.concatenate([imgs[:, 4:196, 4:196]] * 2)
    batch["image"][3, :5] = np.nan  # corrupt pixels
    lm = np.concatenate([lms - 4.0] * 2)
    lm[0] = 0.0  # has_landmarks = 0 as the pipeline writes it
    lm[1, 10] = np.nan  # non-finite landmark
    batch["landmarks"] = lm
    batch["has_landmarks"] = np.array([0, 1, 0, 1], np.float32)  # flag says missing, values look fine (#2)
    batch["au_labels"] = -np.ones((b, 12), np.int32)  # no labeled example at all
    batch["has_flow"] = np.zeros(b, np.float32)  # and no flow target
    logs = tr.train_step({k: tf.constant(v) for k, v in batch.items()})
    logs = {k: float(v) for k, v in logs.items()}
    assert all(np.isfinite(v) for v in logs.values()), logs
    assert logs["l_sup"] == 0.0 and logs["l_flow"] == 0.0
    assert logs["n_no_landmarks"] == 3 and logs["n_unlabeled"] == b and logs["n_no_flow"] == b
    assert logs["l_rec"] > 0  # the example with landmarks still trains the inpainting branch
    assert all(np.all(np.isfinite(v.numpy())) for v in tr.main_variables + tr.critic_variables)


def test_prior_graph_from_labels():
    y = np.array([[1, 1, 0], [1, 1, 0], [0, 0, 1], [1, -1, 0]])
    adj = prior_graph_from_labels(y)
    np.testing.assert_array_equal(adj, [[0, 1, 0], [1, 0, 0], [0, 0, 0]])


def test_resnet_weights_from_torch_style_npz(tmp_path):
    src, dst = resnet18(8), resnet18(8)
    x = tf.random.uniform((1, 64, 64, 3))
    to_torch = {torch_layer_name(f"layer{s}.{b}.{m}"): f"layer{s}.{b}.{m}" for s in range(1, 5) for b in range(2)
                for m in ("conv1", "bn1", "conv2", "bn2", "downsample.0", "downsample.1")}
    to_torch.update({"conv1_conv": "conv1", "conv1_bn": "bn1"})
    sd = {"fc.weight": np.zeros((10, 64), np.float32)}
    for layer in src.layers:
        for w in layer.weights:
            v = w.numpy()
            key = to_torch[layer.name]  # keras-hub stack1_block0_0_bn -> torchvision layer2.0.downsample.1
            if w.name == "kernel":
                sd[f"{key}.weight"] = v.transpose(3, 2, 0, 1)
            else:
                sd[f"{key}.{TORCH_BN[w.name]}"] = v
    path = str(tmp_path / "r18.npz")
    np.savez(path, **sd)
    assert not np.allclose(src(x)[-1], dst(x)[-1])
    assert load_resnet_weights(dst, path) == len([la for la in src.layers if la.weights]) == 40
    np.testing.assert_allclose(src(x)[-1], dst(x)[-1], atol=1e-5)
    with pytest.raises(FileNotFoundError, match="--init"):
        load_resnet_weights(dst, str(tmp_path / "missing.npz"))
    np.savez(str(tmp_path / "other.npz"), **{"fc.weight": np.zeros((2, 2)), "head.weight": np.zeros((2, 2))})
    with pytest.raises(ValueError):
        load_resnet_weights(dst, str(tmp_path / "other.npz"))


def test_flop_counter_counts_convs_and_matmuls():
    import keras

    inp = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same")(inp)
    x = keras.layers.Conv2DTranspose(2, 2, strides=2)(x)
    out = keras.layers.Dense(5)(keras.layers.Flatten()(x))
    model = keras.Model(inp, out)
    expected = 8 * 8 * 3 * 3 * 3 * 4 + 8 * 8 * 2 * 2 * 4 * 2 + 16 * 16 * 2 * 5
    assert count_macs(model, tf.TensorSpec((1, 8, 8, 3))) == expected
    assert count_params(model.weights) == model.count_params()


def test_paper_preset_sizes_within_ten_percent_of_the_paper():
    s = task.summary(model="rtatl", dataset="bp4d", preset="paper", flops=False)
    for part in ("training", "inference"):
        target = task.PAPER_SIZE[part]["params"]
        assert abs(s[part]["params"] / target - 1) < 0.10, (part, s[part]["params"])
    assert s["parts"]["generator"] > 0 and s["inference"]["params"] == s["parts"]["backbone"]


def test_summary_cli_json():
    out = subprocess.run([sys.executable, "-m", "keras_au.cli", "summary", "--model", "backbone_g", "--preset", "ci",
                          "--dataset", "disfa", "--json"], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert out.returncode == 0, out.stderr[-2000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert set(res) == {"training", "inference"}
    for part in res.values():
        assert set(part) == {"params", "flops"} and part["params"] > 0 and part["flops"] > 0
    # no auxiliary task in Backbone^G: training graph == inference graph
    assert res["training"]["params"] == res["inference"]["params"]
