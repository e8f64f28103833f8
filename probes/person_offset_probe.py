"""Whose resting face moves a held-out AU score: per test person, the AU's label rate, the score's AUC within
that person and its median level, with the base photo the person was made from.

    .venv/bin/python probes/person_offset_probe.py RUN --sample SAMPLE [--aus 6,7,12]

RUN is a finished RTATL-family run (its records and test fold are read from run.json); SAMPLE is the
``keras-au sample-data`` folder those records were preprocessed from (its manifest names each subject's still
and the AUs that still already shows, labelled unknown). A frame-level AUC near chance with high within-person
AUCs means the score detects the AU inside each face, but its level follows the face: the gate's frame-level AUC
and F1 at 0.5 pay for that (docs/rtatl.md, "Whose faces refuse the gate"). Prints a table per AU and appends
the rows to probes/results/person_offset_probe.jsonl.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def held_out_scores(run: str) -> tuple[list, np.ndarray, np.ndarray, np.ndarray]:
    """(model AUs, probabilities, labels, subject per frame) on the run's test fold."""
    import tensorflow as tf

    from keras_au.data.input_pipeline import InputConfig, build_dataset
    from keras_au.models.rtatl.builder import load_run
    from keras_au.models.rtatl.inputs import fold_files

    info, cfg, trainer = load_run(run)
    m = cfg.model
    ic = InputConfig(fold_files(info["data"], [info.get("fold", 0)]), batch_size=64, crop_size=m.input_size,
                     training=False, flow_size=m.flow_size if cfg.ofe else None, num_aus=m.num_aus)
    predict = tf.function(lambda b: trainer.backbone({"image": b["image"], "landmarks": b["landmarks"]}))
    probs, labels, subjects = [], [], []
    for b in build_dataset(ic):
        probs.append(predict(b).numpy())
        labels.append(b["au_labels"].numpy())
        subjects.extend(s.decode() for s in b["subject"].numpy())
    return list(m.aus), np.concatenate(probs), np.concatenate(labels), np.array(subjects)


def person_rows(au_index: int, probs: np.ndarray, labels: np.ndarray, subjects: np.ndarray) -> list[dict]:
    from keras_au.metrics import au_auc

    rows = []
    for s in sorted(set(subjects)):
        mine = subjects == s
        known = mine & (labels[:, au_index] >= 0)
        y = labels[known, au_index]
        within = au_auc(y[:, None], probs[known, au_index][:, None])[0] if known.any() else np.nan
        rows.append({"subject": s, "known_frames": int(known.sum()),
                     "label_rate": float(y.mean()) if known.any() else None,
                     "within_person_auc": None if np.isnan(within) else float(within),
                     "median_score": float(np.median(probs[mine, au_index]))})
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run")
    p.add_argument("--sample", required=True, help="the sample-data folder the run's records came from")
    p.add_argument("--aus", default="6,7,12")
    a = p.parse_args()

    from keras_au.metrics import au_auc

    with open(os.path.join(a.sample, "manifest.json")) as f:
        clips = [c for c in json.load(f)["clips"] if c["dataset"] == "bp4d"]
    still = {c["subject"]: c["still"].split("/", 1)[1] for c in clips}
    base = {c["subject"]: c.get("base_aus_unknown", []) for c in clips}
    aus, probs, labels, subjects = held_out_scores(a.run)
    os.makedirs("probes/results", exist_ok=True)
    for au in (int(x) for x in a.aus.split(",")):
        j = aus.index(au)
        rows = person_rows(j, probs, labels, subjects)
        frame_auc = au_auc(labels[:, [j]], probs[:, [j]])[0]
        print(f"AU{au:02d}: frame-level AUC {frame_auc:.2f}")
        print(f"  {'subject':8s} {'still':28s} {'known':>5s} {'rate':>5s} {'within':>6s} {'median':>6s}")
        for r in rows:
            rate = "-" if r["label_rate"] is None else f"{r['label_rate']:.2f}"
            within = "-" if r["within_person_auc"] is None else f"{r['within_person_auc']:.2f}"
            note = " (labelled unknown: the still shows it)" if au in base.get(r["subject"], []) else ""
            print(f"  {r['subject']:8s} {still.get(r['subject'], '?')[:28]:28s} {r['known_frames']:5d} {rate:>5s} "
                  f"{within:>6s} {r['median_score']:6.2f}{note}")
            r["still"] = still.get(r["subject"])
        with open("probes/results/person_offset_probe.jsonl", "a") as f:
            f.write(json.dumps({"run": os.path.abspath(a.run), "au": au, "frame_auc": float(frame_auc),
                                "people": rows}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
