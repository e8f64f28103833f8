"""Shapes of every module of the in-the-wild model, config/variant switches, 49-point mapping, lr schedule."""

from __future__ import annotations

import numpy as np
import pytest

from keras_au.models.wild import landmarks49
from keras_au.models.wild.config import preset_config

S = 176


@pytest.fixture(scope="module")
def cfg():
    return preset_config("ci")


@pytest.fixture(scope="module")
def net(cfg):
    from keras_au.models.wild.network import WildNetwork

    n = WildNetwork.from_wild_config(cfg)
    n.build()
    return n


@pytest.fixture(scope="module")
def faces(astronaut, grace_hopper):
    """Two real faces as a (2, 176, 176, 3) batch in [0, 255]."""
    import cv2

    return np.stack([cv2.resize(img, (S, S)) for img in (astronaut, grace_hopper)]).astype("float32")


def test_module_shapes(cfg, net, faces):
    g, c, w = cfg.feature_size, cfg.feature_channels, cfg.separation_width
    stem, f = net.feature_extractor(faces, return_stem=True)
    assert tuple(f.shape) == (2, g, g, c) and tuple(stem.shape) == (2, g, g, c)
    assert float(np.max(np.abs(f))) <= 1.0  # tanh
    assert tuple(net.landmark_branch(faces).shape) == (2, 49, 2)
    assert tuple(net.landmarks_from_stem(stem).shape) == (2, 49, 2)
    att, fl, logits = net.landmark_encoder(f)
    assert tuple(att.shape) == tuple(logits.shape) == (2, g, g, 49) and tuple(fl.shape) == (2, g, g, w)
    np.testing.assert_allclose(np.sum(np.asarray(att), axis=(1, 2)), 1.0, rtol=1e-4)  # spatial softmax
    fb = net.background_generator(f)
    assert tuple(fb.shape) == (2, g, g, c)
    assert tuple(net.feature_generator((att, fb)).shape) == (2, g, g, c)
    assert tuple(net.landmark_discriminator(fb).shape) == (2, g, g, 49)
    assert net.source_discriminator(f).shape[0] == 2 and net.source_discriminator(f).shape[-1] == 1
    assert tuple(net.au_detector(f).shape) == (2, len(cfg.aus))
    assert {k: tuple(p(fl if k in ("sl", "tl") else f).shape)[-1] for k, p in net.projectors.items()} == \
        {"s": c, "t": c, "sl": w, "sb": c, "tl": w, "tb": c}
    for path in (net.predict_source, net.predict_target):
        p = np.asarray(path(faces))
        assert p.shape == (2, 6) and np.all((p >= 0) & (p <= 1))


def test_translate_gives_both_rounds(net, faces):
    o = net.translate(faces, faces[::-1], training=False, self_reconstruction=True)
    for key in ("F_sltb", "F_tlsb", "F2_s", "F2_t", "Fl2_sl", "Fl2_tl", "Fb2_sb", "Fb2_tb", "F_ss", "F_tt"):
        assert o[key].shape[0] == 2 and np.all(np.isfinite(np.asarray(o[key])))
    assert tuple(o["au_s"].shape) == tuple(o["au_sltb"].shape) == (2, 6)


def test_cbam_attends_per_channel_and_position():
    from keras_au.models.wild.cbam import CBAM

    layer = CBAM(reduction=2, kernel_size=3)
    x = np.random.default_rng(0).normal(size=(2, 5, 5, 8)).astype("float32")
    y = np.asarray(layer(x))
    assert y.shape == x.shape
    ratio = y / np.where(np.abs(x) > 1e-3, x, np.nan)  # attention weights in (0, 1)
    assert np.nanmax(ratio) < 1.0 and np.nanmin(ratio) > 0.0
    assert np.nanstd(ratio) > 1e-4  # not a constant scaling


def test_second_round_landmark_encoder_is_frozen(net, faces):
    """Round 2 uses E_l as a fixed copy: its losses reach G_st/G_b but never E_l's weights (ADLD)."""
    import tensorflow as tf

    with tf.GradientTape(persistent=True) as tape:
        o = net.translate(faces, faces[::-1], training=True)
        loss = tf.reduce_mean(o["R2_sl"]) + tf.reduce_mean(o["Fl2_tl"])
    enc = tape.gradient(loss, net.landmark_encoder.trainable_variables)
    gen = tape.gradient(loss, net.feature_generator.trainable_variables)
    assert all(g is None or float(tf.reduce_max(tf.abs(g))) == 0.0 for g in enc)
    assert any(g is not None and float(tf.reduce_max(tf.abs(g))) > 0.0 for g in gen)
    # G_b and G_st see detached E_f features: reconstruction never trains E_f (ADLD's stop-gradients).
    ef = tape.gradient(tf.reduce_mean(o["F2_s"]), net.feature_extractor.trainable_variables)
    assert all(g is None for g in ef)


def test_variants_switch_modules_and_weights():
    bl, ml, as_ = (preset_config("ci", v) for v in ("bl", "ml", "as"))
    assert (bl.use_landmark_branch, bl.use_contrastive, bl.lambda_fl, bl.lambda_c) == (False, False, 0.0, 0.0)
    assert (bl.lambda_cycle, bl.lambda_self) == (40.0, 3.0)
    assert (ml.use_landmark_branch, ml.use_contrastive, ml.lambda_fl) == (True, False, 0.1)
    assert (as_.use_contrastive, as_.lambda_c, as_.lambda_cycle, as_.lambda_self) == (True, 100.0, 0.0, 0.0)
    paper = preset_config()
    assert (paper.lambda_c, paper.lambda_l, paper.lambda_adl, paper.lambda_adf, paper.lambda_au, paper.lambda_fl) == \
        (100.0, 0.6, 400.0, 1.2, 1.0, 0.1)
    assert paper.aus == (1, 2, 4, 6, 12, 17) and paper.crop_size == 176 and paper.feature_size == 44
    assert preset_config("paper", "as", lambda_c=5.0).lambda_c == 5.0
    with pytest.raises(ValueError, match="unknown"):
        preset_config("ci", "as", no_such_field=1)
    with pytest.raises(ValueError, match="variant"):
        preset_config("ci", "xx")


def test_landmarks49_mapping():
    lm68 = np.stack([np.arange(68), 100 + np.arange(68)], axis=1).astype("float32")
    lm49 = landmarks49.to_49(lm68)
    assert lm49.shape == (49, 2)
    assert list(lm49[:43, 0]) == list(range(17, 60))
    assert list(lm49[43:, 0]) == [61, 62, 63, 65, 66, 67]  # no contour, no inner-mouth corners 60/64
    # Eye centres of 68-pt 36-41 / 42-47.
    d = float(landmarks49.inter_ocular(lm49[None])[0])
    assert d == pytest.approx(np.hypot(6.0, 6.0))


def test_step_linear_decay_schedule():
    from keras_au.models.wild.lr_schedule import StepLinearDecay

    sched = StepLinearDecay(1e-4, steps_per_epoch=10, total_epochs=12, hold_epochs=4, decay_every=4)
    lrs = [float(sched(e * 10)) for e in range(12)]
    assert lrs[:4] == pytest.approx([1e-4] * 4)
    assert lrs[4:8] == pytest.approx([1e-4 * 2 / 3] * 4)
    assert lrs[8:] == pytest.approx([1e-4 / 3] * 4)
