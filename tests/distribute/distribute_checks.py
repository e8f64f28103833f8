"""Runs the same short trainings single-device and mirrored over 2 logical CPU devices in ONE process
(logical devices must be configured before TensorFlow starts, so tests call this as a subprocess).

    python tests/distribute/distribute_checks.py CHECK OUT.json --records DIR [--unlabeled DIR] [--work DIR]

CHECK: ``backbone_t`` (deterministic Backbone^T, 5 steps: history and every checkpointed variable), ``rtatl`` or
``wild`` (a few steps: losses and per-step optimizer iteration counters), ``weight_average`` (a small model). Each builds its step twice, once per
strategy; under ``mirrored`` the first step's trace dominates (RTATL ~150 s on 2 cores: TF's custom-gradient
walk for every synchronised-BatchNorm all-reduce, see docs/distributed.md).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

from keras_au.distribute import configure_cpu_replicas  # noqa: E402

configure_cpu_replicas(2)  # before anything touches TF

import keras  # noqa: E402
import numpy as np  # noqa: E402


class Iterations(keras.callbacks.Callback):
    """Every optimizer's iteration counter after each step."""

    def __init__(self, names: tuple[str, ...]):
        super().__init__()
        self.names, self.rows, self.times = names, [], [time.time()]

    def on_train_batch_end(self, batch, logs=None):
        self.rows.append({n: int(keras.ops.convert_to_numpy(getattr(self.model, n).iterations)) for n in self.names})
        self.times.append(time.time())


AUS = (1, 2, 4, 6, 7, 10, 12, 14, 15, 17, 23, 24)


def rtatl_fit(model: str, records: str, unlabeled, kind: str, steps: int, sgd: bool, sync_bn=None) -> dict:
    """Builds the trainer under ``kind`` from seed 0 and fits ``steps`` steps of the real input pipeline
    (ci preset, global batch 4); returns the last step's logs, every variable and the iteration rows."""
    from keras_au.data.input_pipeline import fold_files
    from keras_au.distribute import resolve
    from keras_au.models.rtatl import task
    from keras_au.models.rtatl.config import make_config

    cfg = make_config(model, "ci", aus=AUS, overrides={"train.batch_size": 4}, seed=3)
    keras.utils.set_random_seed(0)
    dist = resolve(kind, 2 if kind == "mirrored" else None, sync_bn if kind == "mirrored" else None)
    trainer = task.build_trainer(cfg, dist=dist, compile=False)
    if sgd:  # plain SGD: Adam's first steps turn round-off in near-zero gradients into +-lr steps; a small rate
        # keeps 5 steps out of the regime where this tiny net amplifies round-off step by step
        with dist.scope():
            trainer.compile(optimizer=keras.optimizers.SGD(1e-3), critic_optimizer=keras.optimizers.SGD(1e-3))
    else:
        with dist.scope():
            trainer.compile()
    files = fold_files(records, [1, 2])
    unl = None if unlabeled is None else [os.path.join(unlabeled, f, n) for f in sorted(os.listdir(unlabeled))
                                         for n in sorted(os.listdir(os.path.join(unlabeled, f)))]
    ds = task.training_dataset(cfg, files, unl)
    names = ("optimizer", "critic_optimizer") if trainer.roii else ("optimizer",)
    it = Iterations(names)
    init = [keras.ops.convert_to_numpy(v) for v in trainer.variables]
    t0 = time.time()
    hist = trainer.fit(ds, epochs=1, steps_per_epoch=steps, verbose=0, callbacks=[it])
    return {"logs": {k: float(v[-1]) for k, v in hist.history.items()}, "iterations": it.rows,
            "variables": [(v.path, keras.ops.convert_to_numpy(v)) for v in trainer.variables], "init": init,
            "distribute": dist.describe(), "fit_seconds": round(time.time() - t0, 1)}


def _compare(a: dict, b: dict) -> dict:
    """Largest absolute difference over every variable (matched by position: names differ between builds)."""
    assert len(a["variables"]) == len(b["variables"])
    diffs = [(float(np.max(np.abs(x - y))) if x.size else 0.0, p) for (p, x), (_, y) in zip(a["variables"],
                                                                                          b["variables"])]
    worst = max(diffs)
    update = max(float(np.max(np.abs(x - x0))) if x.size else 0.0 for (_, x), x0 in zip(a["variables"], a["init"]))
    return {"max_weight_diff": worst[0], "worst_variable": worst[1], "n_variables": len(diffs),
            "max_update": update}


def check_backbone_t(args) -> dict:
    runs = {k: rtatl_fit("backbone_t", args.records, None, k, 5, sgd=True) for k in ("none", "mirrored")}
    return {"logs_single": runs["none"]["logs"], "logs_mirrored": runs["mirrored"]["logs"],
            "distribute": runs["mirrored"]["distribute"], **_compare(runs["none"], runs["mirrored"])}


def check_rtatl(args) -> dict:
    res = {}
    runs = {k: rtatl_fit("rtatl", args.records, args.unlabeled, k, 3, sgd=False, sync_bn=args.sync_bn)
            for k in ("none", "mirrored")}
    for kind, r in runs.items():
        res[f"rtatl_{kind}"] = {k: r[k] for k in ("logs", "iterations", "distribute", "fit_seconds")}
    res["rtatl_weights"] = _compare(runs["none"], runs["mirrored"])
    return res


def check_wild(args) -> dict:
    from keras_au.models.wild import task as wild_task

    res = {}
    for kind in ("none", "mirrored"):
        it = Iterations(("optimizer", "generator_optimizer", "discriminator_optimizer"))
        kw = dict(distribute=kind, cpu_replicas=2, sync_bn=args.sync_bn) if kind == "mirrored" else {}
        out = os.path.join(args.work, f"wild-{kind}")
        t0 = time.time()
        wild_task.train(out=out, source=args.records, target=args.unlabeled, preset="ci", epochs=1,
                        steps_per_epoch=3, seed=3, verbose=0, callbacks=[it], **kw)
        with open(os.path.join(out, "run.json")) as f:
            info = json.load(f)
        res[f"wild_{kind}"] = {"logs": {k: v[-1] for k, v in info["history"]["stage2"].items()},
                               "iterations": it.rows, "distribute": info["distribute"],
                               "train_seconds": round(time.time() - t0, 1)}
    return res


def check_weight_average(args) -> dict:
    """keras_au.tasks.weight_average on a small model, one device and mirrored: same count, same final weights."""
    import contextlib

    from keras_au.distribute import resolve
    from keras_au.tasks.weight_average import WeightAverage

    rng = np.random.RandomState(0)
    x, y = rng.normal(size=(32, 3)).astype("float32"), rng.normal(size=(32, 1)).astype("float32")
    res = {}
    for kind in ("none", "mirrored"):
        keras.utils.set_random_seed(1)
        dist = resolve(kind, 2 if kind == "mirrored" else None, None)
        with dist.scope() if kind == "mirrored" else contextlib.nullcontext():
            # No BatchNorm: unsynchronised per-replica batch statistics would differ from one device's anyway.
            m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, "tanh"), keras.layers.Dense(1)])
            m.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
            average = WeightAverage(m.variables, 0.9)
        m.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, callbacks=[average])
        res[kind] = {"count": int(keras.ops.convert_to_numpy(average.count)),
                     "weights": [keras.ops.convert_to_numpy(v).tolist() for v in m.variables],
                     "replicas": dist.describe().get("replicas")}
    return res


CHECKS = {"backbone_t": check_backbone_t, "rtatl": check_rtatl, "wild": check_wild,
          "weight_average": check_weight_average}


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("check", choices=sorted(CHECKS))
    p.add_argument("out")
    p.add_argument("--records", required=True)
    p.add_argument("--unlabeled")
    p.add_argument("--work", required=True)
    p.add_argument("--sync-bn", action=argparse.BooleanOptionalAction, default=None)
    args = p.parse_args()
    keras.utils.set_random_seed(0)
    res = CHECKS[args.check](args)
    with open(args.out, "w") as f:
        json.dump(res, f, indent=2, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
