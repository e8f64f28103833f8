"""How much does a short RTATL run's held-out score depend on the step it stops at, and would averaging its
last weights help? Answered from one training run.

    .venv/bin/python probes/trajectory_probe.py --data RECORDS --out RUN [--seed 0] [--snap 300,330,...,450]
        [--ramps 10,3] [--set key=value ...]

Trains ``keras-au train --model rtatl --preset demo --fold 0`` (or ``--preset``) for max(--snap) steps
(epochs of 150 steps when that divides, else one epoch), keeps the backbone's weights after every step in
--snap and, at the last step, exponential averages of them with TF's ramp (decay min(0.999, (1 + n) / (W + n))
for each W in --ramps; BatchNorm statistics averaged too: ``keras_au.tasks.weight_average``). Each
snapshot is written over a copy of the run's checkpoint and scored on fold 0 with ``keras-au evaluate``; prints
AUC, F1 and the all-positive F1 per snapshot and writes probes/results/trajectory_probe.jsonl (docs/rtatl.md,
"Averaged weights").
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="preprocessed records (fold-<k>/)")
    p.add_argument("--out", required=True, help="run directory (trained afresh)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--preset", default="demo")
    p.add_argument("--snap", default="300,330,360,390,420,450", help="steps whose live weights are scored")
    p.add_argument("--ramps", default="10", help="ramps W of the averages scored at the last step")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override")
    a = p.parse_args()

    import keras

    from keras_au.models.rtatl import task
    from keras_au.tasks.checkpoint import checkpoint_path, state_variables
    from keras_au.tasks.weight_average import WeightAverage

    snaps = sorted(int(s) for s in a.snap.split(","))
    ramps = [float(w) for w in a.ramps.split(",")]
    steps = snaps[-1]
    epochs, per_epoch = (steps // 150, 150) if steps % 150 == 0 else (1, steps)

    class Snapshots(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.vars = [v for v in self.model.backbone.variables if "float" in str(v.dtype)]
            where = {id(v): i for i, v in enumerate(state_variables(self.model)["model"])}
            self.positions = [where[id(v)] for v in self.vars]
            # The library's average, stepped here (not as a callback: it would write itself over the weights).
            self.avg = {w: WeightAverage(self.vars, 0.999, w) for w in ramps}
            for average in self.avg.values():
                average.apply(reverse=True)
            self.n, self.snaps = 0, {}

        def on_train_batch_end(self, batch, logs=None):
            for average in self.avg.values():
                average.update()
            self.n += 1
            if self.n in snaps:
                self.snaps[f"{self.n}-last"] = [keras.ops.convert_to_numpy(v).copy() for v in self.vars]
                if self.n == steps:
                    self.snaps.update({f"{self.n}-average{w:g}": [keras.ops.convert_to_numpy(x) for x in a.averages]
                                       for w, a in self.avg.items()})

    snap = Snapshots()
    overrides = dict(s.split("=", 1) for s in a.set) or None
    t0 = time.time()
    task.train(model="rtatl", out=a.out, data=a.data, fold=0, preset=a.preset, epochs=epochs,
               steps_per_epoch=per_epoch, seed=a.seed, callbacks=[snap], overrides=overrides, resume=False,
               verbose=2)
    row = {"data": a.data, "seed": a.seed, "set": a.set, "train_seconds": round(time.time() - t0, 1), "scores": {}}
    for name, values in snap.snaps.items():
        copy = f"{a.out}-{name}"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(a.out, copy, ignore=shutil.ignore_patterns("eval", "logs"))
        ckpt = checkpoint_path(copy)
        with np.load(ckpt) as z:
            arrays = {k: z[k] for k in z.files}
        for pos, value in zip(snap.positions, values):
            key = f"model/{pos:05d}"
            arrays[key] = value.astype(arrays[key].dtype)
        np.savez(ckpt + ".tmp.npz", **arrays)
        os.replace(ckpt + ".tmp.npz", ckpt)
        s = task.evaluate(copy)
        row["scores"][name] = {"auc": s["mean_auc"], "f1": s["mean_f1"], "all_positive_f1": s["baseline"]["mean_f1"]}
        shutil.rmtree(copy)
        v = row["scores"][name]
        print(f"{name:>16}: AUC {100 * v['auc']:.1f}  F1 {100 * v['f1']:.1f}  "
              f"all-positive {100 * v['all_positive_f1']:.1f}")
    os.makedirs("probes/results", exist_ok=True)
    with open("probes/results/trajectory_probe.jsonl", "a") as f:
        f.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
