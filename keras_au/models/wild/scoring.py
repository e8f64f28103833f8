"""Loading a trained wild run and scoring it: which weights, the test splits, F1/AUC per domain and path,
landmark error (``WildTask.score`` behind ``keras-au evaluate``)."""

from __future__ import annotations

import json
import os
from typing import Optional

import numpy as np

from keras_au.tasks.base_task import LoadedRun

MODEL = "wild"


def build_network(cfg):
    from keras_au.models.wild.network import WildNetwork

    net = WildNetwork.from_wild_config(cfg, name="wild_network")
    net.build()
    return net


def resolve_weights(run_dir: str, info: dict, snapshot: Optional[str] = None) -> dict:
    """Which weights ``snapshot`` means: None/"best" -> the epoch ``best.json`` names (the final weights when the
    run has no validation split), "final" -> ``model.weights.h5``, else a file path. {"snapshot", "file", ...}."""
    from keras_au.models.wild.selection import load_best

    if snapshot in (None, "best"):
        best = (load_best(run_dir) or {}).get("best")
        if best:
            return {"snapshot": "best", **best, "file": os.path.join(run_dir, best["weights"])}
        if snapshot == "best":
            raise FileNotFoundError(f"{run_dir} has no best.json: train with a protocol that has a validation "
                                    "split (--protocol sample|adld), or use --snapshot final")
        snapshot = "final"
    if snapshot == "final":
        return {"snapshot": "final", "file": os.path.join(run_dir, info.get("weights", "model.weights.h5"))}
    return {"snapshot": "file", "file": snapshot}


def load_run(run_dir: str, snapshot: Optional[str] = None) -> LoadedRun:
    """(run info, config, the trained ``WildNetwork``) of a run directory: by default the best snapshot (see
    ``resolve_weights``); ``info["loaded_weights"]`` says which weights."""
    from keras_au.models import registry
    from keras_au.models.wild.config import WildConfig

    info = registry.run_info(run_dir)
    if info.get("model") != MODEL:
        raise ValueError(f"{run_dir} holds a {info.get('model')!r} run, not {MODEL!r}")
    chosen = resolve_weights(run_dir, info, snapshot)
    if not os.path.isfile(chosen["file"]):
        raise FileNotFoundError(f"{chosen['file']} not found: training did not finish (resume with `keras-au train`)")
    cfg = WildConfig.from_dict(info["config"])
    net = build_network(cfg)
    net.load_weights(chosen["file"])
    info["loaded_weights"] = chosen
    return LoadedRun(info, cfg, net)


def _eval_split(run_dir: str, info: dict, domain: str, data: Optional[str], fold: Optional[int]) -> dict:
    """Keyword arguments of ``predict_records`` for a domain's test records: ``data`` (all of it), another
    ``fold`` (``folds`` protocol), or the run's own test split (``splits.json``: subjects/selection included)."""
    from keras_au.data.input_pipeline import list_files
    from keras_au.models.wild import data as wild_data
    from keras_au.models.wild.protocols import Splits

    if data:
        return {"files": list_files(data)}
    if fold is not None and fold != info.get("fold"):
        if info.get("protocol", "folds") != "folds":
            raise ValueError(f"--fold {fold}: the run was trained with --protocol {info['protocol']}, which fixes "
                             "its test split; evaluate another fold with --data")
        return {"files": wild_data.split_files(info[domain], fold)[1]}
    path = os.path.join(run_dir, info.get("splits") or "splits.json")
    if os.path.isfile(path):
        with open(path) as f:
            test = getattr(Splits.from_dict(json.load(f)), domain)["test"]
        return {"files": test.files, "subjects": test.subjects, "select": test.select}
    return {"files": info[f"{domain}_eval_files"]}


def landmark_error(run_dir: str, data: Optional[str] = None, progress: bool = True) -> dict:
    """Normalised mean error (by the eye-centre inter-ocular distance) of the landmark branch and of E_l's
    soft-argmax against the records' (dlib) landmarks; ``data`` defaults to the run's held-out source records."""
    from keras_au.models.wild.evaluation import landmark_report, predict_records

    info, cfg, net = load_run(run_dir)
    preds = predict_records(net, progress=progress, **_eval_split(run_dir, info, "source", data, None))
    return landmark_report(preds, bool(cfg.au_centre_landmarks))


def score(run_dir: str, out: str, data: Optional[str] = None, fold: Optional[int] = None, figures: bool = False,
           json: bool = False, progress: bool = True, snapshot: Optional[str] = None) -> dict:
    """F1/accuracy per AU on the target domain (target path) and the source domain (source path), landmark
    NME on both; prints a table and writes ``f1.png``. ``data`` replaces the target test records.
    Top-level ``per_au``/``mean_f1``/``mean_accuracy`` are the target domain's (the paper's headline); they are
    None (n/a), never 0, when the target test records carry no known label. ``snapshot``: "best" (default when
    the run has ``best.json``), "final" or a weights file."""
    from keras_au.metrics import au_scores, detection_report
    from keras_au.models.wild.evaluation import (
        bar_plot, format_table, landmark_report, make_predict_step, predict_records,
    )

    info, cfg, net = load_run(run_dir, snapshot)
    step = make_predict_step(net)
    tgt = predict_records(net, progress=progress, step=step, **_eval_split(run_dir, info, "target", data, fold))
    src = predict_records(net, progress=progress, step=step, **_eval_split(run_dir, info, "source", None, fold))
    scores = {
        "target": au_scores(tgt.labels, tgt.probs_target_path, aus=cfg.aus),
        "source": au_scores(src.labels, src.probs_source_path, aus=cfg.aus),
    }
    reports = {"target": detection_report(tgt.labels, tgt.probs_target_path, cfg.aus),
               "source": detection_report(src.labels, src.probs_source_path, cfg.aus)}
    # Each domain through the other path too: shows whether the domain or the path loses AU information.
    crossed = {"source_with_target_path": detection_report(src.labels, src.probs_target_path, cfg.aus),
               "target_with_source_path": detection_report(tgt.labels, tgt.probs_source_path, cfg.aus)}
    au_centre = bool(cfg.au_centre_landmarks)  # E_l learned the AU-centre targets: score it against them
    result = {
        **reports["target"], **reports,
        **crossed,
        "landmark_error": {"source": landmark_report(src, au_centre), "target": landmark_report(tgt, au_centre)},
        "records": {"target": int(len(tgt.labels)), "source": int(len(src.labels))},
        "target_labelled": int(np.sum(tgt.labels >= 0)),
        "eval_on_train": info.get("eval_on_train"), "variant": cfg.variant, "protocol": info.get("protocol", "folds"),
        "weights": {k: v for k, v in info["loaded_weights"].items() if k != "file"},
        "paths": {"target": "E_f -> (E_l, G_b) -> G_st -> F_au", "source": "E_f -> F_au"},
    }
    if result["target_labelled"] == 0:  # no F1 at all rather than a silent 0
        result.update(target=None, per_au={}, mean_f1=None, mean_accuracy=None, mean_auc=None, baseline=None)
        del scores["target"]
    table = format_table(scores, cfg.aus)
    lm = result["landmark_error"]["source"]
    fmt = lambda v: "n/a" if v is None else f"{v:.4f}"  # noqa: E731
    print(table)
    pct = lambda v: "n/a" if v is None else f"{100 * v:.1f}"  # noqa: E731
    print("macro AUC / all-positive F1: " + ", ".join(
        f"{d} {pct(r['mean_auc'])} / {pct(r['baseline']['mean_f1'])}" for d, r in reports.items() if d in scores))
    print("macro AUC by test path (rows: domain): " + ", ".join(
        f"{d} via {p} path {pct(r['mean_auc'])}" for d, p, r in (
            ("source", "source", reports["source"]), ("source", "target", crossed["source_with_target_path"]),
            ("target", "target", reports["target"]), ("target", "source", crossed["target_with_source_path"]))
        if d in scores))
    print(f"landmark NME (source, {lm['faces']} faces): branch {fmt(lm['landmark_branch_nme'])}, "
          f"E_l {fmt(lm['e_l_nme'])}")
    if result["target_labelled"] == 0:
        print("target F1: n/a - the target test records carry no known labels (scores.json: target null)")
    w = result["weights"]
    print(f"weights: {w['snapshot']}" + (f" ({w['stage']} epoch {w['epoch']}, validation target F1 "
                                         f"{pct(w.get('val_target_f1'))})" if w["snapshot"] == "best" else ""))
    result["files"] = {"f1_plot": bar_plot(scores, cfg.aus, os.path.join(out, "f1.png"))}
    return result
