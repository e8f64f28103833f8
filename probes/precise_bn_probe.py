"""Does the drift of a short RTATL run's held-out F1 come from its BatchNorm statistics? Answered without training.

    .venv/bin/python probes/precise_bn_probe.py RUN [RUN ...] [--batches 100] [--seed 1234]

For each finished RTATL-family run: every BatchNormalization layer of the backbone gets, as its moving mean and
variance, the plain average of ``--batches`` training batches' statistics ("precise BN": Wu & Johnson 2021,
pycls/detectron2's ``PreciseBN``; weights untouched), instead of the PyTorch-momentum (0.1) moving averages,
which weigh the last ≈ 10 batches of 16, from the few people a shuffle window holds. The batches are the run's
own training input (same folds, augmentation and batch size, another shuffle seed). The re-estimated copy and
the run itself are scored on the run's test fold with ``keras-au evaluate``; prints both and appends a row to
probes/results/precise_bn_probe.jsonl (docs/rtatl.md, "Whose faces refuse the gate").
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def precise_statistics(trainer, cfg, files: list, batches: int) -> list[tuple]:
    """(layer, mean, variance) for each backbone BatchNorm: averages of ``batches`` training batches' moments."""
    import keras
    import tensorflow as tf

    from keras_au.models.rtatl.inputs import training_dataset

    layers = [layer for layer in trainer.backbone._flatten_layers(include_self=False, recursive=True)
              if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in layers:
        layer.momentum = 0.0  # each training call then leaves exactly that batch's moments in the moving stats
    forward = tf.function(lambda b: trainer.backbone({"image": b["image"], "landmarks": b["landmarks"]},
                                                     training=True))
    sums = [[0.0, 0.0] for _ in layers]
    for batch in training_dataset(cfg, files, None).take(batches):
        forward(batch)
        for s, layer in zip(sums, layers):
            s[0] = s[0] + keras.ops.convert_to_numpy(layer.moving_mean)
            s[1] = s[1] + keras.ops.convert_to_numpy(layer.moving_variance)
    return [(layer, m / batches, v / batches) for layer, (m, v) in zip(layers, sums)]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", help="finished RTATL-family run directories")
    p.add_argument("--batches", type=int, default=100)
    p.add_argument("--seed", type=int, default=1234, help="shuffle seed of the re-estimation batches")
    a = p.parse_args()

    from keras_au.models.rtatl import task
    from keras_au.models.rtatl.builder import load_run
    from keras_au.models.rtatl.inputs import fold_files
    from keras_au.tasks.checkpoint import checkpoint_path, state_variables

    os.makedirs("probes/results", exist_ok=True)
    for run in a.runs:
        info, cfg, trainer = load_run(run)
        fold = info.get("fold", 0)
        cfg.train.seed = a.seed
        stats = precise_statistics(trainer, cfg, fold_files(info["data"], [k for k in range(3) if k != fold]),
                                   a.batches)
        where = {id(v): i for i, v in enumerate(state_variables(trainer)["model"])}
        with tempfile.TemporaryDirectory() as tmp:
            copy = os.path.join(tmp, "run")
            shutil.copytree(run, copy, ignore=shutil.ignore_patterns("eval", "logs"))
            ckpt = checkpoint_path(copy)
            with np.load(ckpt) as z:
                arrays = {k: z[k] for k in z.files}
            for layer, mean, var in stats:
                for v, value in ((layer.moving_mean, mean), (layer.moving_variance, var)):
                    key = f"model/{where[id(v)]:05d}"
                    arrays[key] = value.astype(arrays[key].dtype)
            np.savez(ckpt, **arrays)
            new = task.evaluate(copy, out=os.path.join(tmp, "eval-precise"))
            old = task.evaluate(run, out=os.path.join(tmp, "eval-run"))
        row = {"run": os.path.abspath(run), "batches": a.batches, "bn_layers": len(stats),
               "all_positive_f1": old["baseline"]["mean_f1"],
               "moving": {"auc": old["mean_auc"], "f1": old["mean_f1"]},
               "precise": {"auc": new["mean_auc"], "f1": new["mean_f1"]}}
        print(f"{run}: moving statistics AUC {100 * old['mean_auc']:.1f} F1 {100 * old['mean_f1']:.1f}; "
              f"precise AUC {100 * new['mean_auc']:.1f} F1 {100 * new['mean_f1']:.1f} "
              f"(all-positive {100 * row['all_positive_f1']:.1f})")
        with open("probes/results/precise_bn_probe.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
