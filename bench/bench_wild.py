"""In-the-wild model benchmark: params/FLOPs per variant (paper size) and train/inference speed per preset.

Training speed is one full stage-2 step (discriminators, then generators and task nets; three Adam
optimizers) on random inputs at the preset's batch size, traced once and timed after a warm-up step;
inference is the exported path (E_f -> (E_l, G_b) -> G_st -> F_au) at batch 32.

    .venv/bin/python bench/bench_wild.py [--presets demo paper] [--steps 5] [--quick]

Prints a table and writes bench/results/wild.json.
"""

from __future__ import annotations

import argparse

import keras
import numpy as np
import tensorflow as tf
from _common import Timer, machine_info, results_path, write_results  # first: sets the import path

from keras_au.models.wild import task
from keras_au.models.wild.config import preset_config
from keras_au.models.wild.inference import build_inference_model
from keras_au.models.wild.network import WildNetwork
from keras_au.models.wild.trainer import WildTrainer

RESULTS = results_path("wild")


def random_batch(batch: int, size: int = 176) -> dict:
    rng = np.random.default_rng(0)

    def domain():
        return {"image": tf.constant(rng.uniform(0, 255, (batch, size, size, 3)), tf.float32),
                "landmarks": tf.constant(rng.uniform(20, size - 20, (batch, 68, 2)), tf.float32),
                "has_landmarks": tf.ones((batch,)),
                "au_labels": tf.constant(rng.integers(0, 2, (batch, 6)), tf.int32)}

    return {"source": domain(), "target": domain()}


def speed(preset: str, steps: int) -> dict:
    cfg = preset_config(preset)
    net = WildNetwork.from_wild_config(cfg)
    net.build()
    trainer = WildTrainer(net, cfg, np.ones(len(cfg.aus)))
    trainer.compile(keras.optimizers.Adam(1e-4), keras.optimizers.Adam(5e-5), keras.optimizers.Adam(5e-5))
    trainer.build()
    trainer.build_optimizers()
    step = tf.function(trainer.train_step, autograph=False)
    batch = random_batch(cfg.batch_size)
    with Timer() as first:
        step(batch)
    with Timer() as train:
        for _ in range(steps):
            step(batch)
    train_s = train.wall / steps

    model = build_inference_model(net)
    infer = tf.function(lambda x, l: model({"image": x, "landmarks": l}), autograph=False)
    x, lm = tf.random.uniform((32, 176, 176, 3), 0, 255), tf.zeros((32, 68, 2))
    infer(x, lm)
    with Timer() as t:
        for _ in range(steps):
            infer(x, lm)
    infer_s = t.wall / steps
    return {"preset": preset, "batch_size": cfg.batch_size, "network_input": cfg.input_size,
            "first_step_s": first.wall, "train_step_s": train_s,
            "train_pairs_per_s": cfg.batch_size / train_s, "inference_images_per_s": 32 / infer_s}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", nargs="+", default=["ci", "demo"])
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="ci preset only, 2 steps")
    args = ap.parse_args()
    presets, steps = (["ci"], 2) if args.quick else (args.presets, args.steps)
    machine = machine_info()

    sizes = {v: task.summary(preset="paper", variant=v) for v in ("bl", "ml", "as")}
    print("paper size (176x176, 6 AUs)      params (M)   GFLOPs (MACs)")
    for v, r in sizes.items():
        for part in ("training", "inference"):
            print(f"  {v:3s} {part:10s}                {r[part]['params'] / 1e6:8.2f}   {r[part]['flops'] / 1e9:8.2f}")
    rows = [speed(p, steps) for p in presets]
    print(f"\n{'preset':8s}{'batch':>6s}{'net in':>8s}{'1st step s':>12s}{'step s':>9s}{'pairs/s':>9s}"
          f"{'infer img/s':>13s}")
    for r in rows:
        print(f"{r['preset']:8s}{r['batch_size']:6d}{r['network_input']:8d}{r['first_step_s']:12.1f}"
              f"{r['train_step_s']:9.3f}{r['train_pairs_per_s']:9.1f}{r['inference_images_per_s']:13.1f}")
    result = {"sizes": {v: {k: r[k] for k in ("training", "inference")} for v, r in sizes.items()}, "speed": rows}
    print(f"\nwrote {write_results(RESULTS, result, machine)}")


if __name__ == "__main__":
    main()
