"""Model selection as in ADLD's protocol: validation F1 after every epoch, a weights snapshot per epoch, and
``best.json`` naming the epoch with the best target-domain validation F1 (paper 3.1.2: "fine-tune the best model").

``best.json``::

    {"select_by": "target", "metric": "val_target_f1",
     "epochs": [{"stage": "stage2", "epoch": 1, "val_target_f1": .., "val_source_f1": .., "val_target_auc": ..,
                 "val_source_auc": .., "weights": ..}, ...],
     "best": {...},            # over every stage (fine-tuning never selects a model worse on validation)
     "best_stage2": {...},     # where --fine-tune starts
     "best_finetune": {...}}

Epochs count from 1 (the snapshot after one epoch is epoch 1). Ties go to the earlier epoch.
"""

from __future__ import annotations

import json
import os
from typing import Callable, Optional

import keras
import numpy as np

from keras_au.jsonio import write_json

BEST = "best.json"
SNAPSHOTS = "snapshots"
STAGES = ("stage2", "finetune")


def snapshot_name(stage: str, epoch: int) -> str:
    return os.path.join(SNAPSHOTS, f"{stage}-epoch{epoch:02d}.weights.h5")


def load_best(run_dir: str) -> Optional[dict]:
    path = os.path.join(run_dir, BEST)
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def pick_best(entries: list[dict], metric: str) -> Optional[dict]:
    """The entry with the highest ``metric`` (None values ignored); the earliest on ties."""
    scored = [e for e in entries if e.get(metric) is not None]
    if not scored:
        return None
    order = {s: i for i, s in enumerate(STAGES)}
    scored.sort(key=lambda e: (-e[metric], order.get(e["stage"], len(order)), e["epoch"]))
    return scored[0]


def record_epoch(run_dir: str, entry: dict, select_by: str = "target", keep: str = "all") -> dict:
    """Adds (or replaces, after a resumed epoch) one epoch's entry, re-picks the bests, writes ``best.json``
    atomically; with ``keep="best"`` deletes snapshots no best names. Returns the new content."""
    metric = f"val_{select_by}_f1"
    state = load_best(run_dir) or {"select_by": select_by, "metric": metric, "epochs": []}
    epochs = [e for e in state["epochs"] if (e["stage"], e["epoch"]) != (entry["stage"], entry["epoch"])]
    epochs.append(entry)
    epochs.sort(key=lambda e: (STAGES.index(e["stage"]) if e["stage"] in STAGES else 99, e["epoch"]))
    state.update(epochs=epochs, best=pick_best(epochs, metric))
    for stage in STAGES:
        state[f"best_{stage}"] = pick_best([e for e in epochs if e["stage"] == stage], metric)
    write_json(os.path.join(run_dir, BEST), state)
    if keep == "best":
        wanted = {state[k]["weights"] for k in ("best", *(f"best_{s}" for s in STAGES)) if state.get(k)}
        for e in epochs:
            path = os.path.join(run_dir, e["weights"])
            if e["weights"] not in wanted and os.path.isfile(path):
                os.remove(path)
    return state


class EpochSelection(keras.callbacks.Callback):
    """After every epoch: ``validate()`` -> {"target": mean F1 or None, "source": ..., "target_auc": mean ROC AUC,
    "source_auc": ...} into the logs (``val_target_f1``, ``val_target_auc``, ...: history, TensorBoard; selection
    stays by F1, AUC shows whether the chosen epoch ranks faces at all), the network's weights to
    ``snapshots/<stage>-epochNN.weights.h5`` and ``best.json`` updated. Runs before the epoch checkpoint, so a
    kill in between only repeats the epoch (its entry is replaced)."""

    def __init__(self, run_dir: str, stage: str, network, validate: Callable[[], dict], select_by: str = "target",
                 keep: str = "all"):
        super().__init__()
        self.run_dir, self.stage, self.network = run_dir, stage, network
        self.validate, self.select_by, self.keep = validate, select_by, keep

    def on_epoch_end(self, epoch, logs=None):
        scores = self.validate()
        entry = {"stage": self.stage, "epoch": epoch + 1, "weights": snapshot_name(self.stage, epoch + 1)}
        for dom in ("target", "source"):
            for key, name in ((dom, f"val_{dom}_f1"), (f"{dom}_auc", f"val_{dom}_auc")):
                entry[name] = scores.get(key)
                if logs is not None and scores.get(key) is not None:
                    logs[name] = float(scores[key])
        path = os.path.join(self.run_dir, entry["weights"])
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = path[: -len(".weights.h5")] + ".tmp.weights.h5"
        self.network.save_weights(tmp)
        os.replace(tmp, path)
        record_epoch(self.run_dir, entry, self.select_by, self.keep)


def validator(net, splits, cfg):
    """Per-epoch validation: mean F1 of the target split on the target path (what best.json selects by) and of
    the source split on the source path, each with its mean ROC AUC; the steps are traced once and reused."""
    from keras_au.metrics import au_auc, au_scores
    from keras_au.models.wild.evaluation import make_au_step, predict_au, split_stream

    steps, streams = {}, {}

    def validate() -> dict:
        out = {}
        for domain in ("target", "source"):
            sp = getattr(splits, domain).get("val")
            if sp is None:
                out[domain] = None
                continue
            if domain not in steps:
                steps[domain] = make_au_step(net, domain)
                streams[domain] = split_stream(net, sp.files, sp.subjects, sp.select)
            labels, probs = predict_au(net, sp.files, domain, steps[domain], dataset=streams[domain])
            out[domain] = float(au_scores(labels, probs, aus=cfg.aus).mean_f1)
            auc = au_auc(labels, probs)  # threshold-free: F1 alone cannot tell a learned epoch from all-positive
            out[f"{domain}_auc"] = float(np.nanmean(auc)) if np.isfinite(auc).any() else None
        return out

    return validate
