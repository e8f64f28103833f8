"""``keras-au`` entry points for the in-the-wild model: train, evaluate, summary, export, landmark_error.

Run directory layout (``--out``)::

    run.json                  model name, variant, preset, full config, data splits, AU weights, history
    splits.json               the protocol's train / validation / test records of both domains
    checkpoints/stage1.*      landmark pretraining (weights + optimizer, epoch state)
    checkpoints/stage2.*      joint training (weights + the three optimizers, epoch state)
    checkpoints/finetune.*    ``--fine-tune`` from the best stage-2 snapshot (same, own optimizers)
    snapshots/<stage>-epochNN.weights.h5   network weights after every epoch (protocols with validation)
    best.json                 validation F1 per epoch and the best epoch (what evaluate/export load by default)
    logs/stage1, logs/stage2, logs/finetune  TensorBoard
    model.weights.h5          final WildNetwork weights (the last epoch)
"""

from __future__ import annotations

import json
import math
import os
import shutil
from typing import Optional

import numpy as np

from keras_au.jsonio import write_json

MODEL = "wild"


# --- config -------------------------------------------------------------------------------------------

def make_config(preset: str = "paper", variant: Optional[str] = None, overrides: Optional[dict] = None, **flags):
    """Preset + variant + ``--set`` overrides + explicit CLI flags (epochs, batch_size, ...)."""
    from keras_au.models.wild.config import preset_config

    changes = dict(overrides or {})
    changes.update({k: v for k, v in flags.items() if v is not None})
    stored_variant = changes.pop("variant", None)
    return preset_config(preset or "paper", variant or stored_variant or "as", **changes)


def _build_network(cfg):
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


def load_network(run_dir: str, snapshot: Optional[str] = None):
    """The trained ``WildNetwork`` of a run directory (by default the best snapshot, see ``resolve_weights``),
    with its config and run info (``info["loaded_weights"]`` says which weights)."""
    from keras_au.models import registry
    from keras_au.models.wild.config import WildConfig

    info = registry.run_info(run_dir)
    if info.get("model") != MODEL:
        raise ValueError(f"{run_dir} holds a {info.get('model')!r} run, not {MODEL!r}")
    chosen = resolve_weights(run_dir, info, snapshot)
    if not os.path.isfile(chosen["file"]):
        raise FileNotFoundError(f"{chosen['file']} not found: training did not finish (resume with `keras-au train`)")
    cfg = WildConfig.from_dict(info["config"])
    net = _build_network(cfg)
    net.load_weights(chosen["file"])
    info["loaded_weights"] = chosen
    return net, cfg, info


def _optimizers(cfg, steps_per_epoch: int, finetune: bool = False):
    """Task, generator and discriminator Adams; stage 2: the ``lr_decay`` schedule; fine-tuning: constant rates
    ``finetune_lr_scale`` x the base rates."""
    import keras

    from keras_au.models.wild.lr_schedule import make_schedule

    def sched(lr):
        if finetune:
            return lr * cfg.finetune_lr_scale
        return make_schedule(cfg.lr_decay, lr, steps_per_epoch, cfg.epochs, cfg.hold_epochs, cfg.decay_every)

    task = keras.optimizers.Adam(sched(cfg.task_lr), cfg.task_beta_1, cfg.task_beta_2, name="task_adam")
    gen = keras.optimizers.Adam(sched(cfg.gen_lr), cfg.gen_beta_1, cfg.gen_beta_2, name="generator_adam")
    disc = keras.optimizers.Adam(sched(cfg.disc_lr), cfg.gen_beta_1, cfg.gen_beta_2, name="discriminator_adam")
    return task, gen, disc


# --- train --------------------------------------------------------------------------------------------

def train(
    model: str = MODEL, out: Optional[str] = None, source: Optional[str] = None, target: Optional[str] = None,
    variant: Optional[str] = None, fold: Optional[int] = None, epochs: Optional[int] = None,
    steps_per_epoch: Optional[int] = None, batch_size: Optional[int] = None, seed: Optional[int] = None,
    xla: Optional[bool] = None, mixed_precision: Optional[bool] = None, resume: bool = True, preset: str = "paper",
    overrides: Optional[dict] = None, data: Optional[str] = None, unlabeled: Optional[str] = None,
    verbose="auto", distribute: Optional[str] = None, cpu_replicas: Optional[int] = None,
    sync_bn: Optional[bool] = None, extra_callbacks: Optional[list] = None,
    protocol: Optional[str] = None, fine_tune: bool = False, **options,
) -> dict:
    """Stage 1 (landmark branch, ml/as), stage 2 (joint) and, with ``fine_tune``, fine-tuning of the best stage-2
    snapshot, on source (labeled) + target (unlabeled) records.

    ``--source`` falls back to ``--data`` and ``--target`` to ``--unlabeled``. ``protocol`` (``protocols.py``):
    ``folds`` (default) holds fold ``fold`` (default: the first) of each domain out for ``evaluate``; ``sample``
    and ``adld`` also hold out a validation split, scored after every stage-2/fine-tuning epoch (``best.json``,
    snapshots). ``distribute`` trains every stage under a ``tf.distribute`` strategy (``keras_au.distribute``);
    only the chief writes into ``out``.
    """
    import keras

    from keras_au.distribute import fit_ready, mixed_policy, resolve, set_sync_batchnorm

    # First, before any TF op: multiworker collectives and logical CPU devices are fixed at TF start-up.
    dist = resolve(distribute, cpu_replicas, sync_bn)

    from keras_au.losses import balanced_pos_weight
    from keras_au.models.wild import checkpoint as ckpt
    from keras_au.models.wild import data as wild_data
    from keras_au.models.wild import selection
    from keras_au.models.wild.landmark_pretrainer import LandmarkPretrainer
    from keras_au.models.wild.protocols import make_splits
    from keras_au.models.wild.losses import au_class_weights

    source, target = source or data, target or unlabeled
    if not out:
        raise ValueError("--out is required")
    if not source or not target:
        raise ValueError("the wild model needs --source (labeled records) and --target (unlabeled records)")
    for name, path in (("source", source), ("target", target)):
        if not os.path.exists(path):
            raise FileNotFoundError(f"--{name} {path} does not exist")
    cfg = make_config(preset, variant, overrides, epochs=epochs, steps_per_epoch=steps_per_epoch,
                      batch_size=batch_size, seed=seed, xla=xla, mixed_precision=mixed_precision)
    run_path = os.path.join(out, "run.json")
    ck_dir = os.path.join(out, "checkpoints")
    if os.path.isfile(run_path) and resume:
        with open(run_path) as f:
            old = json.load(f)
        if old.get("model") != MODEL or _core(old.get("config", {})) != _core(cfg.to_dict()):
            raise ValueError(f"{out} holds a run with a different configuration; use --no-resume or another --out")
    elif not resume and dist.is_chief:
        for stale in ("checkpoints", "snapshots"):  # an old best.json would name another run's epochs
            if os.path.isdir(os.path.join(out, stale)):
                shutil.rmtree(os.path.join(out, stale))
        if os.path.isfile(os.path.join(out, selection.BEST)):
            os.remove(os.path.join(out, selection.BEST))
    w_out = dist.writable(out)  # out on the chief; other workers write to a scratch directory
    w_ck_dir = os.path.join(w_out, "checkpoints")
    os.makedirs(w_out, exist_ok=True)
    dist.check_batch(cfg.batch_size)
    dist.check_batch(cfg.stage1_batch_size, "stage-1 batch size")

    if cfg.mixed_precision:  # float16 (loss-scaled optimizers) on GPU, bfloat16 (no scaling needed) elsewhere
        keras.mixed_precision.set_global_policy(mixed_policy(True))
    keras.utils.set_random_seed(cfg.seed)

    # Data: the protocol's splits, AU selection by au_ids, label statistics for the weighted cross-entropy.
    def positions(files):
        return wild_data.au_positions(wild_data.record_au_ids(files), cfg.aus)

    splits = make_splits(protocol or "folds", source, target, fold, positions, positions)
    _check_labeled_splits(splits, positions)
    src_train, src_eval = splits.source["train"].files, splits.source["test"].files
    tgt_train, tgt_eval = splits.target["train"].files, splits.target["test"].files
    tgt_select = splits.target["train"].select  # adld: labeled target images only validate and test
    write_json(os.path.join(w_out, "splits.json"), splits.to_dict())
    src_ids, tgt_ids = wild_data.record_au_ids(src_train), wild_data.record_au_ids(tgt_train)
    src_pos, tgt_pos = wild_data.au_positions(src_ids, cfg.aus), wild_data.au_positions(tgt_ids, cfg.aus)
    if all(p < 0 for p in src_pos):
        raise ValueError(f"source records label AUs {list(src_ids)}, none of the model's AUs {list(cfg.aus)}")
    stats = wild_data.scan_records(src_train, src_pos, cfg.crop_size)
    tgt_stats = wild_data.scan_records(tgt_train, tgt_pos, cfg.crop_size)
    mean_landmarks = stats.mean_landmarks if stats.mean_landmarks is not None else tgt_stats.mean_landmarks
    au_weights = au_class_weights(stats.labels)
    pos_weight = balanced_pos_weight(stats.labels) if cfg.balance_au else None
    spe = cfg.steps_per_epoch or max(1, math.ceil(stats.count / cfg.batch_size))
    spe1 = cfg.stage1_steps_per_epoch or max(1, math.ceil(stats.count / cfg.stage1_batch_size))

    info = {
        "model": MODEL, "variant": cfg.variant, "preset": preset, "config": cfg.to_dict(),
        "source": os.path.abspath(source), "target": os.path.abspath(target), "fold": splits.fold,
        "protocol": splits.protocol, "splits": "splits.json", "validation": splits.has_validation,
        "source_train_files": src_train, "source_eval_files": src_eval,
        "target_train_files": tgt_train, "target_eval_files": tgt_eval,
        "eval_on_train": splits.eval_on_train,
        "source_au_ids": list(src_ids), "target_au_ids": list(tgt_ids),
        "au_weights": [float(w) for w in au_weights],
        "au_pos_weight": None if pos_weight is None else [float(w) for w in pos_weight],
        "mean_landmarks": None if mean_landmarks is None else mean_landmarks.tolist(),
        "source_train_records": stats.count, "source_train_with_landmarks": stats.with_landmarks,
        "target_train_records": tgt_stats.count, "target_train_with_landmarks": tgt_stats.with_landmarks,
        "steps_per_epoch": {"stage1": spe1, "stage2": spe}, "weights": "model.weights.h5", "complete": False,
        "distribute": dist.describe(),
    }
    write_json(os.path.join(w_out, "run.json"), info)

    with dist.scope():  # every variable (modules, optimizers, metrics) mirrored across replicas
        net = _build_network(cfg)
    if dist.sync_bn:
        set_sync_batchnorm(net, True)
    validate = _validator(net, splits, cfg) if splits.has_validation else None

    def callbacks(stage):
        # Selection first: its val_*_f1 join the logs that the checkpoint's history and TensorBoard record.
        select = [selection.EpochSelection(w_out, stage, net, validate, cfg.select_by, cfg.keep_snapshots)
                  ] if validate and stage != "stage1" else []
        return [*select, ckpt.EpochCheckpoint(w_ck_dir, stage),
                keras.callbacks.TensorBoard(os.path.join(w_out, "logs", stage), write_graph=False)]

    # Stage 1: landmark branch alone; then E_f <- its first two parts.
    if cfg.use_landmark_branch:
        with dist.scope():
            pre = LandmarkPretrainer(net.landmark_branch, cfg.crop_size, cfg.stage1_on_target)
            pre.compile(optimizer=keras.optimizers.Adam(cfg.stage1_lr, cfg.task_beta_1, cfg.task_beta_2),
                        jit_compile=cfg.xla, run_eagerly=cfg.run_eagerly)
            pre.build()
            pre.optimizer.build(net.landmark_branch.trainable_variables)
        fit_ready(pre)  # every variable exists: no symbolic build from a data batch under a strategy
        start = ckpt.restore(pre, ck_dir, "stage1")
        if start < cfg.stage1_epochs:
            ds1 = wild_data.paired_dataset(src_train, tgt_train, src_pos, tgt_pos, cfg.stage1_batch_size,
                                           cfg.crop_size, cfg.seed, tgt_select)
            pre.fit(dist.prepare_dataset(ds1), epochs=cfg.stage1_epochs, initial_epoch=start, steps_per_epoch=spe1,
                    callbacks=callbacks("stage1"), verbose=verbose)
        net.feature_extractor.init_from_landmark_branch(net.landmark_branch)

    # Stage 2: everything, three optimizers, the paper's lr schedule.
    paired = dict(files=(src_train, tgt_train, src_pos, tgt_pos), target_select=tgt_select)
    _fit_stage("stage2", net, cfg, dist, lambda: _optimizers(cfg, spe), (au_weights, pos_weight), paired,
               cfg.epochs, spe, cfg.seed + 2, ck_dir, callbacks("stage2") + list(extra_callbacks or []), verbose)

    # Fine-tuning (paper: "then fine-tune the best model"): from the best stage-2 snapshot, fresh optimizers at
    # constant rates, selected the same way; a killed fine-tuning resumes from its own checkpoint.
    stages = ["stage1", "stage2"]
    if fine_tune:
        stages.append("finetune")
        from_path = os.path.join(w_ck_dir, "finetune_from.json")
        if ckpt.load_state(ck_dir, "finetune")["epoch"] == 0:
            start_entry = (selection.load_best(out) or {}).get("best_stage2")
            if start_entry:
                net.load_weights(os.path.join(out, start_entry["weights"]))
            write_json(from_path, start_entry or {"stage": "stage2", "epoch": cfg.epochs, "weights": "last epoch"})
        with open(from_path) as f:
            info["finetune_from"] = json.load(f)
        _fit_stage("finetune", net, cfg, dist, lambda: _optimizers(cfg, spe, finetune=True),
                   (au_weights, pos_weight), paired, cfg.finetune_epochs, spe, cfg.seed + 4, ck_dir,
                   callbacks("finetune"), verbose)
    net.save_weights(os.path.join(w_out, "model.weights.h5"))

    history = {s: ckpt.load_state(w_ck_dir, s)["history"] for s in stages}
    best = (selection.load_best(w_out) or {}).get("best")
    info["best"] = best
    skipped = {d: int(sum(sum(history[s].get(f"lm_skipped_{d}", [])) for s in history)) for d in ("source", "target")}
    info.update({"history": history, "skipped_no_landmarks": skipped, "complete": True})
    write_json(os.path.join(w_out, "run.json"), info)
    final = {k: v[-1] for k, v in history["stage2"].items() if v}
    return {"run_dir": out, "model": MODEL, "variant": cfg.variant, "protocol": splits.protocol, "final": final,
            "best": best, "skipped_no_landmarks": skipped}


def _fit_stage(stage: str, net, cfg, dist, optimizers, weights: tuple, paired: dict, epochs: int, spe: int,
               seed: int, ck_dir: str, callbacks: list, verbose) -> None:
    """Stage 2 or fine-tuning: a WildTrainer over ``net`` built under the strategy (``optimizers()`` creates its
    three optimizers there), resumed from the stage's checkpoint and fitted up to ``epochs``."""
    from keras_au.distribute import fit_ready
    from keras_au.models.wild import checkpoint as ckpt
    from keras_au.models.wild import data as wild_data
    from keras_au.models.wild.trainer import WildTrainer

    with dist.scope():  # the fine-tuning trainer keeps its own name (its checkpoint holds its optimizers)
        trainer = WildTrainer(net, cfg, *weights, **({"name": "wild_finetune"} if stage == "finetune" else {}))
        trainer.compile(*optimizers(), jit_compile=cfg.xla, run_eagerly=cfg.run_eagerly)
        trainer.build()
        trainer.build_optimizers()
    fit_ready(trainer)
    start = ckpt.restore(trainer, ck_dir, stage)
    if start < epochs:
        ds = wild_data.paired_dataset(*paired["files"], cfg.batch_size, cfg.crop_size, seed, paired["target_select"])
        trainer.fit(dist.prepare_dataset(ds), epochs=epochs, initial_epoch=start, steps_per_epoch=spe,
                    callbacks=callbacks, verbose=verbose)


def _core(config: dict) -> dict:
    """Config fields that must match to resume (training length may change)."""
    return {k: v for k, v in config.items() if k not in ("epochs", "stage1_epochs", "steps_per_epoch",
                                                       "stage1_steps_per_epoch", "xla", "run_eagerly",
                                                       "finetune_epochs", "keep_snapshots")}


def _check_labeled_splits(splits, positions) -> None:
    """Validation and test splits must hold labeled faces of the model's AUs: an F1 over no labels would read
    as a silent 0. (The ``folds`` protocol's unlabeled target stays allowed: evaluate reports its F1 as n/a.)"""
    from keras_au.models.wild.protocols import scan_subjects

    if not splits.has_validation:
        return
    for domain in ("source", "target"):
        for part, name in (("val", "validation"), ("test", "test")):
            sp = getattr(splits, domain)[part]
            counts = scan_subjects(sp.files, positions(sp.files))
            keep = counts if sp.subjects is None else {k: v for k, v in counts.items() if k in set(sp.subjects)}
            if sum(keep.values()) == 0:
                raise ValueError(
                    f"protocol {splits.protocol}: the {domain} {name} split ({len(keep)} subject(s) in "
                    f"{len(sp.files)} file(s)) holds no labeled faces for the model's AUs; model selection and "
                    f"testing need {domain} labels there (they are never used to train)")


def _validator(net, splits, cfg):
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


# --- evaluate -----------------------------------------------------------------------------------------

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

    net, cfg, info = load_network(run_dir)
    preds = predict_records(net, progress=progress, **_eval_split(run_dir, info, "source", data, None))
    return landmark_report(preds, bool(cfg.au_centre_landmarks))


def evaluate(
    run_dir: str, data: Optional[str] = None, fold: Optional[int] = None, out: Optional[str] = None,
    figures: bool = False, json: bool = False, progress: bool = True, snapshot: Optional[str] = None, **options,
) -> dict:
    """F1/accuracy per AU on the target domain (target path) and the source domain (source path), landmark
    NME on both; prints a table, writes ``scores.json`` and ``f1.png``. ``data`` replaces the target test records.
    Top-level ``per_au``/``mean_f1``/``mean_accuracy`` are the target domain's (the paper's headline); they are
    None (n/a), never 0, when the target test records carry no known label. ``snapshot``: "best" (default when
    the run has ``best.json``), "final" or a weights file."""
    import json as _json

    from keras_au.metrics import au_scores, detection_report
    from keras_au.models.wild.evaluation import (
        bar_plot, format_table, landmark_report, make_predict_step, predict_records,
    )

    net, cfg, info = load_network(run_dir, snapshot)
    out = out or os.path.join(run_dir, "eval")
    os.makedirs(out, exist_ok=True)
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
    files = [os.path.join(out, "scores.json"), bar_plot(scores, cfg.aus, os.path.join(out, "f1.png"))]
    result["files"] = files
    with open(files[0], "w") as f:
        _json.dump(result, f, indent=2)
    return result


# --- summary ------------------------------------------------------------------------------------------

def summary(model: str = MODEL, dataset: Optional[str] = None, preset: str = "paper", overrides: Optional[dict] = None,
            variant: Optional[str] = None, **options) -> dict:
    """Params and forward FLOPs (batch 1) of the stage-2 training graph (one source + one target image, every
    module incl. discriminators and projectors) and of the exported inference path.

    ``dataset`` does not change the AU set: the wild model detects the AUs shared by source and target
    (EmotioNet-6 by default; change with ``--set aus=[...]``).
    """
    import tensorflow as tf

    from keras_au.models.flops import count_macs, count_params
    from keras_au.models.wild.inference import build_inference_model
    from keras_au.models.wild.trainer import WildTrainer

    cfg = make_config(preset, variant, overrides)
    net = _build_network(cfg)
    trainer = WildTrainer(net, cfg, np.ones(len(cfg.aus)))
    s = cfg.crop_size
    img = tf.TensorSpec((1, s, s, 3), tf.float32)
    lm = tf.TensorSpec((1, 68, 2), tf.float32)

    def training_forward(src_img, tgt_img, src_lm, tgt_lm):
        batch = {d: {"image": im, "landmarks": l, "has_landmarks": tf.ones((1,)),
                     "au_labels": tf.zeros((1, len(cfg.aus)), tf.int32)}
                 for d, im, l in (("source", src_img, src_lm), ("target", tgt_img, tgt_lm))}
        t = trainer._targets(batch)
        o = net.translate(src_img, tgt_img, training=True, self_reconstruction=bool(cfg.lambda_self))
        return trainer._discriminator_loss(o, t)["d_loss"] + trainer._generator_loss(o, t)["loss"]

    inference = build_inference_model(net)
    train_vars = net.discriminator_variables() + net.generator_variables() + net.task_variables()
    train_vars += [v for v in net.non_trainable_variables if not _in_idle_parts(v, net)]
    result = {
        "training": {"params": count_params(train_vars), "flops": count_macs(training_forward, img, img, lm, lm)},
        "inference": {"params": inference.count_params(),
                      "flops": count_macs(lambda x, l: inference({"image": x, "landmarks": l}), img, lm)},
    }
    result["notes"] = [
        f"variant {cfg.variant}, preset {preset}, input {cfg.crop_size} (network {cfg.input_size}), "
        f"AUs {list(cfg.aus)}",
        "FLOPs: multiply-accumulates of one forward pass (1 multiply-add = 1 FLOP, keras_au.models.flops); "
        "training = one source + one target image through every stage-2 module (incl. D_l, D_d, P_ij), no backward",
        f"inference path ({cfg.export_path}): " + ("E_f -> (E_l, G_b) -> G_st -> F_au" if cfg.export_path == "target"
                                                   else "E_f -> F_au"),
    ]
    return result


def _in_idle_parts(variable, net) -> bool:
    """Landmark-branch parts 1-2 are copied into E_f and idle in stage 2 (not counted twice)."""
    if net.landmark_branch is None:
        return False
    idle = {id(v) for p in net.landmark_branch.parts[:2] for v in p.variables}
    return id(variable) in idle


# --- export -------------------------------------------------------------------------------------------

def export(run_dir: str, out: str, path: Optional[str] = None, snapshot: Optional[str] = None, **options) -> str:
    """``<out>/model.keras`` (inputs {"image" (B,176,176,3) raw RGB, "landmarks" (B,68,2)} -> AU probabilities)
    and ``<out>/export.json``."""
    from keras_au.au import au_labels
    from keras_au.models.wild.inference import build_inference_model

    net, cfg, info = load_network(run_dir, snapshot)
    if info.get("mean_landmarks") is None:
        raise ValueError(f"{run_dir}: no training record had landmarks, so export.json cannot hold mean_landmarks")
    path = path or cfg.export_path
    model = build_inference_model(net, path)
    os.makedirs(out, exist_ok=True)
    model.save(os.path.join(out, "model.keras"))
    meta = {
        "model": MODEL, "variant": cfg.variant, "aus": list(cfg.aus), "au_names": au_labels(cfg.aus),
        "input_size": cfg.crop_size, "network_input_size": cfg.input_size,
        "normalisation": "raw RGB in [0, 255] (aligned 200x200 face, centre 176 crop); the model scales to [-1, 1]",
        "inputs": {"image": [None, cfg.crop_size, cfg.crop_size, 3], "landmarks": [None, 68, 2]},
        "output": "au_probs (B, A) sigmoid", "landmarks_used": False,
        "path": "E_f -> (E_l, G_b) -> G_st -> F_au" if path == "target" else "E_f -> F_au",
        "mean_landmarks": info.get("mean_landmarks"), "source_run": os.path.abspath(run_dir),
        "weights": {k: v for k, v in info["loaded_weights"].items() if k != "file"},
    }
    write_json(os.path.join(out, "export.json"), meta)
    return out
