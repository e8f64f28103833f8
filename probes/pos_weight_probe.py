"""Which positive-weight rule would a trained RTATL run's F1 at 0.5 prefer? Answered from its own scores.

    .venv/bin/python probes/pos_weight_probe.py RUN [RUN ...] --data RECORDS [--fold 0]

A weighted BCE's optimum is the plain one shifted by log(w) per AU, so a run trained with one rule's weights
(w_run, read from its run.json; 1 for plain BCE) is moved to another's by adding log(w / w_run) to its logits,
with the weights computed from the training folds' labels as `keras-au train` computes them. For each run it
prints fold ``--fold``'s macro F1 at 0.5 under plain BCE, ``neg_over_pos`` and ``inverse_rate``, against the
all-positive F1, and writes probes/results/pos_weight_probe.jsonl. Features stay as trained: a probe, not a
training run (docs/rtatl.md, "F1 at 0.5 on a knife edge").
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

RULES = ("plain", "neg_over_pos", "inverse_rate")


def frame_scores(run: str, data: str, folds: list[int]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """fold -> (probabilities, labels) of every record, with the run's model."""
    import tensorflow as tf

    from keras_au.data.input_pipeline import InputConfig, build_dataset
    from keras_au.models.rtatl.builder import load_run
    from keras_au.models.rtatl.inputs import fold_files

    _, cfg, trainer = load_run(run)
    m = cfg.model
    predict = tf.function(lambda b: trainer.backbone({"image": b["image"], "landmarks": b["landmarks"]}))
    out = {}
    for f in folds:
        ic = InputConfig(fold_files(data, [f]), batch_size=64, crop_size=m.input_size, training=False,
                         flow_size=None, num_aus=m.num_aus)
        batches = [(predict(b).numpy(), b["au_labels"].numpy()) for b in build_dataset(ic)]
        out[f] = np.concatenate([p for p, _ in batches]), np.concatenate([y for _, y in batches])
    return out


def macro_f1(probs: np.ndarray, labels: np.ndarray, shift: np.ndarray) -> tuple[float, list[float]]:
    from sklearn.metrics import f1_score

    p = np.clip(probs, 1e-6, 1 - 1e-6)
    logits = np.log(p / (1 - p)) + shift
    per = [f1_score(labels[k, j], logits[k, j] > 0, zero_division=0)
           for j in range(labels.shape[1]) for k in [labels[:, j] >= 0]]
    return float(np.mean(per)), per


def probe(run: str, data: str, fold: int) -> dict:
    from keras_au.losses import balanced_pos_weight

    with open(os.path.join(run, "run.json")) as f:
        train = json.load(f)["config"]["train"]
    w_run = np.asarray(train.get("sup_pos_weight") or 1.0, float)
    scores = frame_scores(run, data, [0, 1, 2])
    train_labels = np.concatenate([scores[k][1] for k in (0, 1, 2) if k != fold])
    weights = {"plain": np.ones(train_labels.shape[1])}
    weights.update({r: balanced_pos_weight(train_labels, rule=r) for r in RULES[1:]})
    probs, labels = scores[fold]
    rates = np.array([(labels[labels[:, j] >= 0, j] == 1).mean() for j in range(labels.shape[1])])
    row = {"run": run, "fold": fold, "trained_with": train.get("sup_weight_rule", "neg_over_pos")
           if train.get("balance_sup") else "plain", "all_positive_f1": float(np.mean(2 * rates / (1 + rates)))}
    for rule in RULES:
        row[rule], row[f"{rule}_per_au"] = macro_f1(probs, labels, np.log(weights[rule] / w_run))
    return row


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+")
    p.add_argument("--data", required=True, help="the records the runs trained on (fold-k/ shards)")
    p.add_argument("--fold", type=int, default=0, help="held-out fold to score (default 0)")
    args = p.parse_args()
    os.makedirs("probes/results", exist_ok=True)
    for run in args.runs:
        row = probe(run, args.data, args.fold)
        print(f"{run}: all-positive {100 * row['all_positive_f1']:.1f} | " + " | ".join(
            f"{r} {100 * row[r]:.1f}" + (" (as trained)" if r == row["trained_with"] else "") for r in RULES))
        with open("probes/results/pos_weight_probe.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
