"""Scoring a trained RTATL run (``RTATLTask.score`` behind ``keras-au evaluate``): per-AU table, F1 bars and the
paper's Figs. 5-7."""

from __future__ import annotations

import os
from typing import Optional, Sequence

import numpy as np
from tqdm import tqdm

from keras_au.au import au_label
from keras_au.models.rtatl.builder import load_run
from keras_au.models.rtatl.config import RTATLConfig
from keras_au.models.rtatl.inputs import MODEL_KEYS, fold_files


def score(run_dir: str, out: str, data: Optional[str] = None, fold: Optional[int] = None, figures: bool = False,
           json: bool = False, batch_size: int = 32, progress: bool = True) -> dict:
    """Per-AU F1/accuracy/AUC on the run's test fold (or ``data``), printed as a table, + bar plot (+ Figs. 5-7).
    ``data`` may hold another dataset's records: they are scored on the AUs both the records and the model carry."""
    import tensorflow as tf

    from keras_au.data.au_selection import au_positions, record_au_ids, select_aus
    from keras_au.data.input_pipeline import InputConfig, build_dataset, list_files
    from keras_au.metrics import detection_report
    from keras_au.models.rtatl import figures as figs

    info, cfg, trainer = load_run(run_dir)
    m = cfg.model
    data = data or info.get("data")
    fold = info.get("fold", 0) if fold is None else int(fold)
    if data and os.path.isdir(os.path.join(data, f"fold-{fold}")):
        files = fold_files(data, [fold])
    else:
        files = list_files(data)
    if not files:
        raise ValueError(f"no records to evaluate in {data!r} (fold {fold})")
    # Records of another dataset (e.g. a BP4D model on DISFA) are scored on the AUs both carry.
    record_aus = record_au_ids(files)
    positions = au_positions(record_aus, m.aus)
    shared = [i for i, p in enumerate(positions) if p >= 0]
    if not shared:
        raise ValueError(f"the records in {data!r} carry AUs {list(record_aus)}; the model detects {list(m.aus)}: "
                         "no AU in common to evaluate")
    ic = InputConfig(files, batch_size=batch_size, crop_size=m.input_size, training=False,
                     flow_size=m.flow_size if cfg.ofe else None, num_aus=len(record_aus))
    predict = tf.function(lambda b: trainer.backbone({"image": b["image"], "landmarks": b["landmarks"]}))
    labels, probs, subjects, n_no_lm = [], [], [], 0
    for b in tqdm(build_dataset(ic), desc="evaluate", unit="batch", disable=None if progress else True):
        probs.append(predict(b).numpy()[:, shared])
        labels.append(select_aus(b["au_labels"], positions).numpy()[:, shared])
        subjects.extend(s.decode() for s in b["subject"].numpy())
        n_no_lm += int(np.sum(b["has_landmarks"].numpy() <= 0))
    if not labels:
        raise ValueError(f"no test records in {files}")
    labels, probs = np.concatenate(labels), np.concatenate(probs)
    aus = [m.aus[i] for i in shared]
    if len(aus) < len(m.aus):
        print(f"records carry AUs {list(record_aus)}: scoring the {len(aus)} of the model's {len(m.aus)} AUs they "
              f"share ({', '.join(f'AU{a:02d}' for a in aus)})")
    scores = detection_report(labels, probs, aus, groups=subjects)
    scores.update(model=info["model"], run_dir=run_dir, records=int(len(labels)), fold=fold,
                  model_aus=list(m.aus), record_aus=list(record_aus),
                  records_without_landmarks=n_no_lm, records_without_labels=int(np.sum(np.all(labels < 0, 1))))
    _print_table(scores, info["model"])
    title = f"{info['model']} fold {fold}: mean F1 {100 * scores['mean_f1']:.1f}"
    scores["files"] = {"f1_plot": figs.plot_f1_bars(scores, os.path.join(out, "f1.png"), title)}
    if figures:
        scores["files"].update(write_figures(trainer, cfg, ic, out, positions=positions))
    return scores


def _print_table(scores: dict, model: str) -> None:
    def pct(v) -> str:
        return f"{100 * v:6.1f}" if v is not None else f"{'-':>6s}"

    base = scores["baseline"]["f1"]
    print(f"{model}: per-AU F1 / accuracy / AUC (%) over {scores['records']} records; "
          "base = F1 of predicting every AU present")
    print(f"{'AU':6s} {'F1':>6s} {'acc':>6s} {'AUC':>6s} {'base':>6s} {'n':>7s}")
    for name, s in scores["per_au"].items():
        print(f"{name:6s} {pct(s['f1'])} {pct(s['accuracy'])} {pct(s['auc'])} {pct(base[name])} {s['support']:7d}")
    print(f"{'mean':6s} {pct(scores['mean_f1'])} {pct(scores['mean_accuracy'])} {pct(scores['mean_auc'])} "
          f"{pct(scores['baseline']['mean_f1'])}")
    cal = scores.get("person_calibrated")
    if cal:
        print(f"person-calibrated (each of {cal['groups']} people's median score removed; not the paper's "
              f"protocol): mean F1 {pct(cal['mean_f1']).strip()}, AUC {pct(cal['mean_auc']).strip()}; "
              f"AUC within each person {pct(cal['mean_within_person_auc']).strip()}")


def write_figures(trainer, cfg: RTATLConfig, ic, out: str, rows: int = 4,
                  positions: Optional[Sequence[int]] = None) -> dict:
    """Figs. 5 (flow, OFE variants), 6 (inpainting, RoII variants), 7 (AU indicators, transformer variants).
    ``positions`` maps the records' labels to the model's AUs (``au_selection.au_positions``) when they differ."""
    import tensorflow as tf

    from keras_au.data.au_selection import select_aus
    from keras_au.data.input_pipeline import build_dataset
    from keras_au.models.rtatl import figures as figs

    m = cfg.model
    written = {}
    batch = next(iter(build_dataset(ic)))
    batch = {k: v[:rows] for k, v in batch.items() if k in MODEL_KEYS}
    if positions is not None:
        batch["au_labels"] = select_aus(batch["au_labels"], positions)
    res = trainer.training_forward(batch, training=False, step=1)
    image = tf.image.resize(batch["image"], (m.image_size, m.image_size)).numpy() if m.image_size != m.input_size \
        else batch["image"].numpy()
    if cfg.ofe:
        has = batch["has_flow"].numpy() > 0
        if has.any():
            target = trainer.flow_target(batch).numpy()
            written["fig5"] = figs.plot_flow(image[has], target[has], res["flow"].numpy()[has],
                                             os.path.join(out, "fig5_flow.png"))
    if cfg.roii:
        _, unit, lm, _ = trainer.backbone.preprocess(batch["image"], batch["landmarks"])
        centers = trainer.backbone.au_centers(lm).numpy()
        chosen = trainer.prepare(batch, 1)["chosen"].numpy()
        orig = (unit.numpy() + 1.0) / 2.0
        mask = res["blank_mask"].numpy()
        blanked = orig * (1.0 - mask) + 0.5 * mask
        fake = (res["fake"].numpy().reshape(len(orig), 2, m.patch_size, m.patch_size, 3) + 1.0) / 2.0
        inpainted = np.stack([figs.paste_patches(blanked[i], fake[i], centers[i, chosen[i]])
                              for i in range(len(orig))])
        written["fig6"] = figs.plot_inpainting(orig, blanked, inpainted, [au_label(m.aus[c]) for c in chosen],
                                               os.path.join(out, "fig6_inpainting.png"))
    if trainer.backbone.au_indicators is not None:
        written["fig7"] = figs.plot_indicator_similarity(trainer.backbone.au_indicators, m.aus,
                                                         os.path.join(out, "fig7_au_indicators.png"))
    return written
