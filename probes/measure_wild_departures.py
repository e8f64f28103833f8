"""Short CPU measurement of three ADLD-fidelity switches of the in-the-wild model (docs/wild.md, "Departures").

Trains the ``ci`` model for a few joint steps on records of two real faces (source BP4D-style, target
EmotioNet-style, fold 0 held out; the records the wild model's tests use) once per setting and reports, on the
held-out target faces:

* ``self_recon_l1``: mean |G_st(A_t, G_b(F_t)) - F_t|, how well the target test path reproduces the feature it
  replaces (what ``lambda_self`` trains);
* ``bn_gap``: mean over F_au's first BatchNorm channels of |moving mean - batch mean| / sqrt(moving variance) on
  target-path features (what ``au_bn_all_domains`` changes): 0 = the inference statistics fit the target path;
* ``target_f1``: target-path mean F1 (two identities, fixed labels: a smoke number, not accuracy).

    .venv/bin/python probes/measure_wild_departures.py [--steps 20] [--out probes/results/wild_departures.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # this checkout's keras_au, not an installed one

SETTINGS = {
    "as + lambda_self=3 (ADLD self-reconstruction)": {"lambda_self": 3.0},
    "as, Eq. 3 (lambda_self=0; the paper preset)": {"lambda_self": 0.0},
    "as + lambda_self=3, au_bn_all_domains=false": {"lambda_self": 3.0, "au_bn_all_domains": False},
}


POSITIVE = {"astronaut": {1, 2, 7, 12, 14}, "hopper": {4, 6, 10, 17, 23}}  # a fixed label pattern per face


def real_faces() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, aligned 200x200 RGB, its landmarks) for the faces scikit-image and matplotlib ship."""
    import matplotlib
    from skimage import data

    from keras_au.geometry import FaceDetector, align_face, load_image

    images = {"astronaut": data.astronaut(),
              "hopper": load_image(os.path.join(matplotlib.get_data_path(), "sample_data", "grace_hopper.jpg"))}
    detector = FaceDetector()
    aligned = {k: align_face(v, detector.detect(v).largest.landmarks) for k, v in images.items()}
    return [(k, a.image, a.landmarks) for k, a in aligned.items()]


def write_records(out_dir: str, domain: str, per_fold: int) -> str:
    """Three folds of shifted copies of the real faces, as ``tests/models/wild/conftest.py`` writes them.

    Source (BP4D AUs): every 4th record without landmarks, a few unknown labels. Target (EmotioNet AUs): low
    contrast and a blue cast (a visibly different domain), only fold 0 labeled, every other without landmarks.
    """
    from keras_au.au import dataset_aus
    from keras_au.data import schema

    source = domain == "source"
    aus = dataset_aus("bp4d" if source else "emotionet")
    faces, rng = real_faces(), np.random.default_rng(7 if source else 8)
    for fold in range(3):
        records = []
        for i in range(per_fold):
            name, img, lm = faces[i % len(faces)]
            dx, dy = rng.integers(-3, 4, size=2)
            img = np.roll(img, shift=(dy, dx), axis=(0, 1))
            labels = np.array([int(a in POSITIVE[name]) for a in aus])
            if source and i % 4 == 1:
                labels[rng.integers(0, len(aus))] = -1
            if not source:
                img = np.clip(img.astype(np.float32) * [0.5, 0.6, 0.8] + [50, 50, 70], 0, 255).astype(np.uint8)
                labels = labels if fold == 0 else np.full(len(aus), -1)
            keep_lm = i % 4 != 3 if source else i % 2 == 0
            records.append(schema.FaceRecord(
                image=img, au_ids=aus, au_labels=labels, subject=f"{name}-{fold}", frame=i, fold=fold,
                dataset="bp4d" if source else "emotionet", landmarks=lm + [dx, dy] if keep_lm else None))
        path = os.path.join(out_dir, f"fold-{fold}", f"{domain}-00000-of-00001.tfrecord.gz")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        schema.write_tfrecord(path, records)
    return out_dir


def measure(run_dir: str, target: str) -> dict:
    from keras import ops

    from keras_au.metrics import au_scores
    from keras_au.models.wild import data as wild_data
    from keras_au.models.wild import task

    info, cfg, net = task.load_run(run_dir, "final")
    _, held, _ = wild_data.split_files(target, 0)
    pos = wild_data.au_positions(wild_data.record_au_ids(held), cfg.aus)
    batch = next(iter(wild_data.domain_stream(held, pos, 64, cfg.crop_size, training=False)))
    f = net.feature_extractor(batch["image"], training=False)
    att, _, _ = net.landmark_encoder(f)
    rec = net.feature_generator((att, net.background_generator(f)))
    first = net.au_detector.blocks[0]
    x = first.conv(rec)
    bn = first.norm_layer
    gap = ops.abs(bn.moving_mean - ops.mean(x, axis=(0, 1, 2))) / ops.sqrt(bn.moving_variance + 1e-5)
    probs = np.asarray(net.predict_target(batch["image"]))
    return {"self_recon_l1": float(ops.mean(ops.abs(rec - f))), "bn_gap": float(ops.mean(gap)),
            "target_f1": au_scores(batch["au_labels"].numpy(), probs, aus=cfg.aus).mean_f1}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20, help="joint steps per setting (ci preset)")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "wild_departures.json"))
    args = ap.parse_args(argv)
    from keras_au.models.wild import task

    tmp = tempfile.mkdtemp(prefix="wild_departures_")
    src = write_records(os.path.join(tmp, "source"), "source", per_fold=8)
    tgt = write_records(os.path.join(tmp, "target"), "target", per_fold=6)
    rows = {}
    for name, overrides in SETTINGS.items():
        t0 = time.time()
        run = os.path.join(tmp, f"run{len(rows)}")
        task.train(out=run, source=src, target=tgt, preset="ci", variant="as", verbose=0,
                   overrides=dict(epochs=1, steps_per_epoch=args.steps, stage1_epochs=1, stage1_steps_per_epoch=4,
                                  task_lr=3e-3, gen_lr=1e-3, disc_lr=1e-3, stage1_lr=3e-3, **overrides))
        rows[name] = {**measure(run, tgt), "seconds": round(time.time() - t0, 1)}
        print(f"{name:32s} " + "  ".join(f"{k} {v:.4f}" for k, v in rows[name].items()), flush=True)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"steps": args.steps, "preset": "ci", "rows": rows}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
