"""How fast can a small CNN learn the sample's AUs, and what limits it: unseen people or the AU cues themselves?

A diagnostic for the demo's accuracy bar (docs/rtatl.md, "What limits the demo"): trains a small ResNet-style
CNN (4 stages, global pooling, one logit per AU; masked BCE as RTATL's L_sup) from scratch on preprocessed
records and scores it two ways:

* ``--split identity``: the held-out fold's people are unseen (the paper's protocol, what the gate scores);
* ``--split clip``: every person is seen, their last two clips are held out (what is left when identity is not
  the problem).

Reports frame-level macro ROC AUC, the same after removing each held-out person's median logit
(``keras_au.person_calibration``), within-person AUC, F1 at 0.5 and the all-positive F1. Options probe the usual
countermeasures to an identity shortcut: ``--geo`` (random anisotropic scale and shift instead of random crops),
``--standardize`` (per-image standardisation), ``--identity-adversary L`` (a subject classifier behind a
gradient-reversal layer of weight L on the pooled features). One thread, as one demo fold gets.

    .venv/bin/python probes/identity_probe.py --data RECORDS [--split identity|clip] [--steps 600] [--size 96]
        [--geo] [--standardize] [--identity-adversary 0] [--lr 1e-3] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # this checkout's keras_au, not an installed one

RESULTS = os.path.join(HERE, "results", "identity_probe.jsonl")


def load(data: str, size: int) -> dict:
    """Every record of ``data`` decoded, centre-cropped to 192 and resized to ``size``."""
    import tensorflow as tf

    from keras_au.data import schema
    from keras_au.data.input_pipeline import list_files, peek_num_aus

    files = list_files(os.path.join(data, "**", "*.tfrecord*"))
    spec = {k: v for k, v in schema.feature_spec(peek_num_aus(files)).items()
            if k in ("image", "au_labels", "au_ids", "subject", "sequence", "fold")}

    def decode(e):
        im = tf.io.decode_jpeg(e["image"], channels=3)[4:196, 4:196]
        e["image"] = tf.cast(tf.round(tf.image.resize(im, (size, size), antialias=True)), tf.uint8)
        return e

    ds = tf.data.Dataset.from_tensor_slices(files).flat_map(schema.read_records)
    ds = ds.map(lambda s: decode(tf.io.parse_single_example(s, spec)))
    cols = {k: [] for k in spec}
    for e in ds.as_numpy_iterator():
        for k in cols:
            cols[k].append(e[k])
    out = {k: np.stack(v) for k, v in cols.items()}
    for k in ("subject", "sequence"):
        out[k] = np.array([s.decode() for s in out[k]])
    return out


def split(d: dict, how: str, fold: int) -> tuple[np.ndarray, np.ndarray]:
    if how == "identity":
        return d["fold"] != fold, d["fold"] == fold
    test = np.zeros(len(d["subject"]), bool)
    for s in np.unique(d["subject"]):
        test |= np.isin(d["sequence"], sorted(set(d["sequence"][d["subject"] == s]))[-2:])
    return ~test, test


def build(num_aus: int, size: int, width: int):
    import keras
    from keras import layers as L

    def block(x, c, s):
        y = L.Conv2D(c, 3, s, padding="same", use_bias=False)(x)
        y = L.ReLU()(L.BatchNormalization()(y))
        y = L.BatchNormalization()(L.Conv2D(c, 3, padding="same", use_bias=False)(y))
        if s != 1 or x.shape[-1] != c:
            x = L.BatchNormalization()(L.Conv2D(c, 1, s, use_bias=False)(x))
        return L.ReLU()(x + y)

    inp = keras.Input((size, size, 3))
    x = L.ReLU()(L.BatchNormalization()(L.Conv2D(width, 5, 2, padding="same", use_bias=False)(inp)))
    for c, s in ((width, 1), (2 * width, 2), (4 * width, 2), (8 * width, 2)):
        x = block(x, c, s)
    feat = L.GlobalAveragePooling2D()(x)
    return keras.Model(inp, [L.Dense(num_aus)(feat), feat])


def run(args: argparse.Namespace, d: dict) -> dict:
    import keras
    import tensorflow as tf

    from keras_au.metrics import all_positive_baseline, au_auc, au_scores, within_group_auc
    from keras_au.person_calibration import person_calibrate

    keras.utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    train, test = split(d, args.split, args.fold)
    x_all, y_all = d["image"], d["au_labels"].astype(np.float32)
    subjects = sorted(set(d["subject"][train]))
    sid = np.array([subjects.index(s) if s in subjects else 0 for s in d["subject"]])
    size, num_aus = x_all.shape[1], y_all.shape[1]
    net = build(num_aus, size, args.width)
    id_head = keras.Sequential([keras.layers.Dense(64, activation="relu"), keras.layers.Dense(len(subjects))])
    opt, id_opt = keras.optimizers.Adam(args.lr), keras.optimizers.Adam(1e-3)

    def prep(x):
        x = tf.cast(x, tf.float32) / 255.0
        if args.standardize:
            mean, var = tf.nn.moments(x, [1, 2, 3], keepdims=True)
            return (x - mean) / tf.sqrt(var + 1e-4)
        return (x - 0.5) / 0.25

    def augment(x):
        b = tf.shape(x)[0]
        x = tf.where(tf.random.uniform([b, 1, 1, 1]) < 0.5, tf.reverse(x, [2]), x)
        if not args.geo:
            return tf.image.random_crop(tf.image.resize_with_crop_or_pad(x, size + 8, size + 8), [b, size, size, 3])
        sx, sy = tf.random.uniform([b], 0.9, 1.1), tf.random.uniform([b], 0.9, 1.1)
        tx, ty = tf.random.uniform([b], -0.05, 0.05) * size, tf.random.uniform([b], -0.05, 0.05) * size
        c, z = size / 2.0, tf.zeros([b])
        m = tf.stack([1 / sx, z, c - c / sx + tx, z, 1 / sy, c - c / sy + ty, z, z], 1)
        return tf.raw_ops.ImageProjectiveTransformV3(images=x, transforms=m, output_shape=[size, size],
                                                     fill_value=0.0, interpolation="BILINEAR", fill_mode="REFLECT")

    @tf.custom_gradient
    def reverse(x):
        return tf.identity(x), lambda g: -args.identity_adversary * g

    @tf.function
    def step(x, y, s):
        x = augment(prep(x))
        with tf.GradientTape(persistent=True) as tape:
            logits, feat = net(x, training=True)
            known = tf.cast(y >= 0, tf.float32)
            bce = tf.nn.sigmoid_cross_entropy_with_logits(tf.maximum(y, 0.0), logits)
            sup = tf.reduce_sum(known * bce) / tf.maximum(tf.reduce_sum(known), 1.0)
            ident = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(s, id_head(reverse(feat))))
            total = sup + ident if args.identity_adversary > 0 else sup
        opt.apply_gradients(zip(tape.gradient(total, net.trainable_variables), net.trainable_variables))
        if args.identity_adversary > 0:
            id_opt.apply_gradients(zip(tape.gradient(ident, id_head.trainable_variables), id_head.trainable_variables))
        return sup

    idx, t0 = np.where(train)[0], time.time()
    for i in range(args.steps):
        b = rng.choice(idx, args.batch_size)
        loss = step(x_all[b], y_all[b], sid[b])
        if i % 200 == 0 or i == args.steps - 1:
            print(f"step {i}: L_sup {float(loss):.3f} ({time.time() - t0:.0f} s)", flush=True)
    te = np.where(test)[0]
    logits = np.concatenate([net(prep(x_all[te[j:j + 256]]), training=False)[0].numpy()
                             for j in range(0, len(te), 256)])
    probs, y, who = 1 / (1 + np.exp(-logits)), d["au_labels"][te], d["subject"][te]
    calibrated = person_calibrate(probs, who)
    aus = [int(a) for a in d["au_ids"][0]]
    within = within_group_auc(y, probs, who)

    def per_au(values) -> dict:
        return {f"AU{a:02d}": (None if v is None or np.isnan(v) else round(float(v), 3)) for a, v in zip(aus, values)}

    cross = {}
    if 14 in aus and 12 in aus:  # does the AU14 score track AU14, or the smile (AU12) it used to be drawn as?
        i14, i12 = aus.index(14), aus.index(12)
        for name, col in (("au14_labels", i14), ("au12_labels", i12)):
            v = within_group_auc(y[:, [col]], probs[:, [i14]], who)[0]
            cross[name] = None if v is None else round(float(v), 3)
        # AU14 and AU12 co-occur in BP4D (and in the v4 sample): AU14 against its labels with AU12 held fixed
        for name, on in (("au14_labels_au12_off", 0), ("au14_labels_au12_on", 1)):
            keep = y[:, i12] == on
            v = within_group_auc(y[keep][:, [i14]], probs[keep][:, [i14]], who[keep])[0]
            cross[name] = None if v is None else round(float(v), 3)
    if args.save_scores:
        np.savez_compressed(args.save_scores, probs=probs, labels=y, subject=who, aus=np.array(aus))
    known = y >= 0
    return {
        "data": os.path.abspath(args.data), "tag": args.tag,
        "split": args.split, "steps": args.steps, "size": size, "batch": args.batch_size, "lr": args.lr,
        "seed": args.seed, "geo": args.geo, "standardize": args.standardize,
        "identity_adversary": args.identity_adversary, "train_faces": int(train.sum()), "test_faces": len(te),
        "auc": float(np.nanmean(au_auc(y, probs))), "person_calibrated_auc": float(np.nanmean(au_auc(y, calibrated))),
        "within_person_auc": float(np.nanmean([a for a in within_group_auc(y, probs, who) if a is not None])),
        "f1": au_scores(y, probs, aus=aus).mean_f1, "all_positive_f1": all_positive_baseline(y, aus).mean_f1,
        "per_au_auc": per_au(au_auc(y, probs)),
        "per_au_person_calibrated_auc": per_au(au_auc(y, calibrated)),
        "per_au_within_person_auc": per_au(within),
        "au14_score_within_person_auc": cross,
        "test_positive_rate": per_au([(y[:, j][known[:, j]] == 1).mean() for j in range(len(aus))]),
        "train_seconds": round(time.time() - t0, 1),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="preprocessed records (fold-k/ folders)")
    p.add_argument("--split", choices=("identity", "clip"), default="identity")
    p.add_argument("--fold", type=int, default=0, help="held-out fold for --split identity")
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--size", type=int, default=96, help="input side (from the 192 centre crop)")
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--geo", action="store_true")
    p.add_argument("--standardize", action="store_true")
    p.add_argument("--identity-adversary", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save-scores", help="also write the held-out probabilities, labels and subjects (.npz)")
    p.add_argument("--tag", default="", help="free text stored with the result (e.g. the sample generator version)")
    p.add_argument("--out", default=RESULTS, help="JSON lines file the result is appended to")
    args = p.parse_args()
    import tensorflow as tf

    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.config.threading.set_intra_op_parallelism_threads(1)
    result = run(args, load(args.data, args.size))
    print(json.dumps(result, indent=1))
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "a") as f:
        f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
