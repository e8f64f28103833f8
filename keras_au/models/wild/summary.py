"""Parameters and FLOPs of the wild model's stage-2 training graph and of its inference path."""

from __future__ import annotations

from typing import Optional

import numpy as np

from keras_au.models.wild.config import make_config
from keras_au.models.wild.scoring import MODEL, build_network


def summary(model: str = MODEL, dataset: Optional[str] = None, preset: str = "paper", overrides: Optional[dict] = None,
            variant: Optional[str] = None, **options) -> dict:
    """Params and forward FLOPs (batch 1) of the stage-2 training graph (one source + one target image, every
    module incl. discriminators and projectors) and of the exported inference path.

    ``dataset`` does not change the AU set: the wild model detects the AUs shared by source and target
    (EmotioNet-6 by default; change with ``--set aus=[...]``).
    """
    import tensorflow as tf

    from keras_au.models.flops import count_macs, count_params
    from keras_au.models.wild.inference import build_inference_model
    from keras_au.models.wild.trainer import WildTrainer

    cfg = make_config(preset, variant, overrides)
    net = build_network(cfg)
    trainer = WildTrainer(net, cfg, np.ones(len(cfg.aus)))
    s = cfg.crop_size
    img = tf.TensorSpec((1, s, s, 3), tf.float32)
    lm = tf.TensorSpec((1, 68, 2), tf.float32)

    def training_forward(src_img, tgt_img, src_lm, tgt_lm):
        batch = {d: {"image": im, "landmarks": l, "has_landmarks": tf.ones((1,)),
                     "au_labels": tf.zeros((1, len(cfg.aus)), tf.int32)}
                 for d, im, l in (("source", src_img, src_lm), ("target", tgt_img, tgt_lm))}
        losses = trainer.training_forward(batch)
        return losses["d_loss"] + losses["loss"]

    inference = build_inference_model(net)
    train_vars = net.discriminator_variables() + net.generator_variables() + net.task_variables()
    train_vars += [v for v in net.non_trainable_variables if not _in_idle_parts(v, net)]
    result = {
        "training": {"params": count_params(train_vars), "flops": count_macs(training_forward, img, img, lm, lm)},
        "inference": {"params": inference.count_params(),
                      "flops": count_macs(lambda x, l: inference({"image": x, "landmarks": l}), img, lm)},
    }
    result["notes"] = [
        f"variant {cfg.variant}, preset {preset}, input {cfg.crop_size} (network {cfg.input_size}), "
        f"AUs {list(cfg.aus)}",
        "FLOPs: multiply-accumulates of one forward pass (1 multiply-add = 1 FLOP, keras_au.models.flops); "
        "training = one source + one target image through every stage-2 module (incl. D_l, D_d, P_ij), no backward",
        f"inference path ({cfg.export_path}): " + ("E_f -> (E_l, G_b) -> G_st -> F_au" if cfg.export_path == "target"
                                                   else "E_f -> F_au"),
    ]
    return result


def _in_idle_parts(variable, net) -> bool:
    """Landmark-branch parts 1-2 are copied into E_f and idle in stage 2 (not counted twice)."""
    if net.landmark_branch is None:
        return False
    idle = {id(v) for p in net.landmark_branch.parts[:2] for v in p.variables}
    return id(variable) in idle
