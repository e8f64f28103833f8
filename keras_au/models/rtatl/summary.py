"""Parameters and FLOPs of an RTATL variant's training and inference graphs (``keras-au summary``)."""

from __future__ import annotations

from typing import Optional

from keras_au.au import dataset_aus
from keras_au.models.rtatl.builder import build_trainer
from keras_au.models.rtatl.config import make_config

PAPER_SIZE = {"training": {"params": 54.62e6, "flops": 10.75e9}, "inference": {"params": 19.12e6, "flops": 5.57e9}}


def summary(model: str = "rtatl", dataset: str = "bp4d", preset: str = "paper", overrides: Optional[dict] = None,
            flops: bool = True, **options) -> dict:
    """Parameters and FLOPs (multiply-adds, 1 MAC = 1 FLOP) of the training and inference graphs for one image."""
    import tensorflow as tf

    from keras_au.models.flops import count_macs, count_params

    cfg = make_config(model, preset, aus=dataset_aus(dataset), overrides=overrides)
    trainer = build_trainer(cfg, compile=False)
    m = cfg.model
    s = m.input_size
    spec = {"image": tf.TensorSpec((1, s, s, 3), tf.float32), "landmarks": tf.TensorSpec((1, 68, 2), tf.float32)}
    result = {
        "training": {"params": count_params(trainer.trainable_weights)},
        "inference": {"params": count_params(trainer.backbone.trainable_weights)},
    }
    if flops:
        train_spec = dict(spec, au_labels=tf.TensorSpec((1, m.num_aus), tf.int32))
        result["training"]["flops"] = count_macs(lambda d: trainer.training_forward(d), train_spec)
        result["inference"]["flops"] = count_macs(lambda d: trainer.backbone(d), spec)
    parts = {"backbone": trainer.backbone}
    for name in ("generator", "discriminator", "au_classifier", "flow_head"):
        if hasattr(trainer, name):
            parts[name] = getattr(trainer, name)
    result["parts"] = {k: count_params(v.trainable_weights) for k, v in parts.items()}
    result["notes"] = [
        f"{model} ({preset} preset, {dataset}: {m.num_aus} AUs), input {s}x{s}; trainable parameters only",
        "FLOPs = multiply-adds of convs/matmuls/einsums for one image (1 MAC = 1 FLOP; x2 for the other convention)",
        "training graph = backbone + flow head + G on 2 patches + D and C on 2 real + 2 generated patches",
        "paper (RTATL, BP4D): training 54.62 M / 10.75 GFLOPs, inference 19.12 M / 5.57 GFLOPs",
    ]
    return result
