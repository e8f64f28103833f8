"""RTATL family entry points for the ``keras-au`` CLI (see ``keras_au.models.registry``).

``train`` -> run directory (``run.json``, ``checkpoint/state.npz``, ``logs/`` for TensorBoard,
``history.json``); ``evaluate`` -> per-AU F1 table, ``scores.json``, ``f1.png`` (+ Figs. 5-7);
``summary`` -> params/FLOPs of the training and inference graphs; ``export`` -> inference-only model.
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import Optional, Sequence

import numpy as np
from tqdm import tqdm

from keras_au.au import au_label, dataset_aus
from keras_au.data.record_scan import RecordScan, scan_records
from keras_au.data.schema import IMAGE_SIZE
from keras_au.jsonio import write_json
from keras_au.models.rtatl.config import VARIANTS, RTATLConfig, make_config

MODEL_KEYS = ("image", "landmarks", "has_landmarks", "au_labels", "labeled", "flow", "has_flow")
PAPER_SIZE = {"training": {"params": 54.62e6, "flops": 10.75e9}, "inference": {"params": 19.12e6, "flops": 5.57e9}}


# -- helpers ---------------------------------------------------------------------------------------
def precision_policy(mixed):
    """Builds layers under mixed precision (float16 on GPU, bfloat16 on CPU, or the named policy) and
    restores the policy afterwards."""
    from keras_au.distribute import precision_policy as policy

    return policy(mixed)


def build_trainer(cfg: RTATLConfig, weights: Optional[str] = None, mixed=False, xla: bool = False,
                  compile: bool = True, dist=None):
    """Trainer with every variable created (and optimizers built when ``compile``).

    ``mixed``: False, True (float16 on GPU, bfloat16 elsewhere) or "mixed_float16"/"mixed_bfloat16".
    ``dist`` (a ``keras_au.distribute.Distribution``): variables are created in its strategy's scope and
    BatchNorm is synchronised across replicas when ``dist.sync_bn``.
    """
    from keras_au.distribute import fit_ready, set_sync_batchnorm
    from keras_au.models.rtatl.trainer import RTATLTrainer

    scope = dist.scope() if dist is not None else contextlib.nullcontext()
    with scope, precision_policy(mixed):
        trainer = RTATLTrainer(cfg.to_dict(), weights_path=weights)
        if dist is not None and dist.sync_bn:
            set_sync_batchnorm(trainer, True)
        if compile:
            trainer.compile(jit_compile=bool(xla))
        else:
            trainer.build_all()
    if dist is not None:
        fit_ready(trainer)  # build_all created every variable
    return trainer


def record_aus(files: list) -> tuple[int, ...]:
    """AU numbers stored in the first record (``au_ids``)."""
    import tensorflow as tf

    from keras_au.data.input_pipeline import _compression

    for raw in tf.data.TFRecordDataset(files[:1], compression_type=_compression(files[0])).take(1):
        ex = tf.train.Example.FromString(raw.numpy())
        return tuple(int(a) for a in ex.features.feature["au_ids"].int64_list.value)
    raise ValueError(f"{files[0]} holds no records")


def _flow_sources(cfg: RTATLConfig, train: RecordScan, unlabeled: Optional[RecordScan]) -> Optional[dict]:
    """OFE's flow targets per TV-L1 source; refuses a mix unless ``allow_mixed_flow`` (None without OFE)."""
    if not cfg.ofe:
        return None
    from keras_au.data.input_pipeline import check_one_flow_source

    counts = dict(train.flow_sources)
    for key, n in (unlabeled.flow_sources if unlabeled else {}).items():
        counts[key] = counts.get(key, 0) + n
    check_one_flow_source(counts, cfg.train.allow_mixed_flow)
    return counts


def _files(data: str, folds: list[int]) -> list[str]:
    from keras_au.data.input_pipeline import fold_files

    if not data:
        raise ValueError("--data is required (a preprocessing output with fold-<k>/ shards)")
    if not os.path.isdir(data):
        raise FileNotFoundError(f"--data {data} is not a directory")
    return fold_files(data, folds)


def _keep_model_keys(example: dict) -> dict:
    return {k: v for k, v in example.items() if k in MODEL_KEYS}


def select_subjects(subjects: list, n: Optional[int], seed: int) -> Optional[list]:
    """A seeded choice of ``n`` distinct training subjects (paper Fig. 4: "randomly chosen"); None keeps all."""
    if n is None:
        return None
    pool = sorted(set(subjects))
    if not 1 <= int(n) <= len(pool):
        raise ValueError(f"--labeled-subjects {n}: the training folds hold {len(pool)} subjects")
    rng = np.random.default_rng(int(seed))
    return sorted(str(x) for x in rng.choice(pool, int(n), replace=False))


def training_dataset(cfg: RTATLConfig, files: list, unlabeled_files: Optional[list], skip_batches: int = 0,
                     keep_subjects: Optional[list] = None, demote_unlabeled: bool = False,
                     stream_sizes: tuple[int, int] = (1, 1)):
    """Deterministic (given ``cfg.train.seed``) repeating batches, labeled and unlabeled mixed.

    ``keep_subjects`` restricts the labeled stream to those subjects; with ``demote_unlabeled`` the other
    subjects' frames join the unlabeled stream without labels (mixed with ``unlabeled_files`` in proportion
    to ``stream_sizes`` = (demoted frames, external unlabeled records)).
    """
    import tensorflow as tf

    from keras_au.data.input_pipeline import InputConfig, build_dataset, mix_datasets, peek_num_aus

    m, t = cfg.model, cfg.train
    flow_size = m.flow_size if cfg.ofe else None

    def stream(pattern, num_aus, subject_filter=None):
        ic = InputConfig(pattern, batch_size=t.batch_size, crop_size=m.input_size, training=True,
                         flow_size=flow_size, num_aus=num_aus, shuffle_buffer=t.shuffle_buffer, seed=t.seed)
        ds = build_dataset(ic, batched=False)
        if subject_filter is not None:
            ds = ds.filter(subject_filter)
        return ds.map(_keep_model_keys)

    def unlabel(e):  # another AU list (e.g. EmotioNet-6) or demoted frames: every label unknown here
        return {**e, "au_labels": -tf.ones((m.num_aus,), tf.int32), "labeled": tf.constant(0.0)}

    keep = None if keep_subjects is None else tf.constant(list(keep_subjects))
    labeled = stream(files, m.num_aus, None if keep is None else lambda e: tf.reduce_any(tf.equal(e["subject"], keep)))
    unl = []
    if keep is not None and demote_unlabeled:
        unl.append(stream(files, m.num_aus, lambda e: tf.logical_not(tf.reduce_any(tf.equal(e["subject"], keep))))
                   .map(unlabel))
    if unlabeled_files:
        unl.append(stream(unlabeled_files, peek_num_aus(unlabeled_files)).map(unlabel))
    if unl:
        if len(unl) == 2:
            w = np.asarray(stream_sizes, np.float64)
            unl = [tf.data.Dataset.sample_from_datasets(unl, weights=(w / w.sum()).tolist(), seed=t.seed)]
        ds = mix_datasets(labeled, unl[0], t.unlabeled_fraction, t.batch_size, seed=t.seed)
    else:
        ds = labeled.batch(t.batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
    return ds.skip(skip_batches) if skip_batches else ds


# -- train -----------------------------------------------------------------------------------------
def train(model: str = "rtatl", out: str = "", data: Optional[str] = None, fold: Optional[int] = None,
          unlabeled: Optional[str] = None, dataset: Optional[str] = None, epochs: Optional[int] = None,
          steps_per_epoch: Optional[int] = None, batch_size: Optional[int] = None, seed: Optional[int] = None,
          weights: Optional[str] = None, xla: Optional[bool] = None, mixed_precision: Optional[bool] = None,
          resume: bool = True, preset: str = "paper", overrides: Optional[dict] = None, verbose="auto",
          callbacks: Optional[list] = None, labeled_subjects: Optional[int] = None, demote_unlabeled: bool = False,
          distribute: Optional[str] = None, cpu_replicas: Optional[int] = None, sync_bn: Optional[bool] = None,
          **options) -> dict:
    """Trains one variant on folds != ``fold`` of ``data`` (+ ``unlabeled`` records) into ``out``.

    ``labeled_subjects`` keeps a seeded subset of that many training subjects (paper Fig. 4) and drops the
    rest, or with ``demote_unlabeled`` moves their frames, labels removed, into the unlabeled stream.

    Resumes from ``out/checkpoint`` when present, giving the same final weights as an uninterrupted run
    (up to the round-off of multi-threaded CPU kernels): input order, augmentation and in-step randomness
    are all keyed on the seed and the step. ``callbacks`` are extra Keras callbacks, run after the
    checkpoint is written.

    ``distribute`` ("none", "mirrored", "multiworker"; see ``keras_au.distribute``) trains under a
    ``tf.distribute`` strategy at the same global batch; only the chief writes into ``out``.
    """
    import keras

    from keras_au.distribute import resolve

    # First, before any TF op: multiworker collectives and logical CPU devices are fixed at TF start-up.
    dist = resolve(distribute, cpu_replicas, sync_bn)
    if not out:
        raise ValueError("--out is required")
    with dist.write_dir(out) as write_out:
        return _train(dist, write_out, model, out, data, fold, unlabeled, dataset, epochs, steps_per_epoch,
                      batch_size, seed, weights, xla, mixed_precision, resume, preset, overrides, verbose, callbacks,
                      labeled_subjects, demote_unlabeled)


def _train(dist, write_out, model, out, data, fold, unlabeled, dataset, epochs, steps_per_epoch, batch_size, seed,
           weights, xla, mixed_precision, resume, preset, overrides, verbose, callbacks, labeled_subjects,
           demote_unlabeled) -> dict:
    """``train`` once the strategy is resolved: reads from ``out``, writes to ``write_out`` (``out`` on the chief)."""
    import keras

    from keras_au.data.input_pipeline import list_files, peek_num_aus
    from keras_au.models.rtatl.checkpoint import EpochCheckpoint, checkpoint_path, load_state
    from keras_au.models.rtatl.grad_probe import GradientProbe

    if model not in VARIANTS:
        raise ValueError(f"{model!r} is not an RTATL variant ({', '.join(VARIANTS)})")
    fold = 0 if fold is None else int(fold)
    if fold not in (0, 1, 2):
        raise ValueError(f"--fold must be 0, 1 or 2, got {fold}")
    train_files = _files(data, [k for k in range(3) if k != fold])
    unlabeled_files = list_files(unlabeled) if unlabeled else None
    ckpt = checkpoint_path(out)
    run_json = os.path.join(out, "run.json")
    resuming = bool(resume) and os.path.isfile(ckpt) and os.path.isfile(run_json)

    if resuming:
        with open(run_json) as f:
            info = json.load(f)
        if info.get("model") != model:
            raise ValueError(f"{out} holds a {info.get('model')} run; use another --out or --no-resume")
        cfg = RTATLConfig.from_dict(info["config"])
        # Only the schedule may change on resume (e.g. more epochs); the model must not.
        cfg.train.epochs = int(epochs) if epochs is not None else cfg.train.epochs
    else:
        aus = record_aus(train_files)
        if dataset and tuple(dataset_aus(dataset)) != aus:
            raise ValueError(f"--dataset {dataset} has AUs {dataset_aus(dataset)} but the records hold {aus}")
        cfg = make_config(model, preset, aus=aus, overrides=overrides, epochs=epochs,
                          steps_per_epoch=steps_per_epoch, batch_size=batch_size, seed=seed, xla=xla,
                          mixed_precision=mixed_precision)
        scan = scan_records(train_files, cfg.model.num_aus)
        subjects, labels = scan.subjects, scan.labels
        if demote_unlabeled and labeled_subjects is None:
            raise ValueError("--demote-unlabeled needs --labeled-subjects N")
        keep = select_subjects(subjects, labeled_subjects, cfg.train.seed)
        kept = np.isin(np.asarray(subjects), keep) if keep is not None else np.ones(len(labels), bool)
        n_demoted = int((~kept).sum()) if demote_unlabeled else 0
        unlabeled_scan = scan_records(unlabeled_files) if unlabeled_files and (demote_unlabeled or cfg.ofe) else None
        n_external = unlabeled_scan.count if unlabeled_scan and demote_unlabeled else 0
        labels = labels[kept]
        mean_lm = scan.mean_landmarks(cfg.model.input_size)
        if mean_lm is not None:
            cfg.model.mean_landmarks = mean_lm.round(3).tolist()
        if cfg.train.balance_sup:
            from keras_au.losses import balanced_pos_weight

            cfg.train.sup_pos_weight = balanced_pos_weight(labels).round(4).tolist()
        if cfg.relation == "gcn":
            from keras_au.models.rtatl.gcn_relation import prior_graph_from_labels

            cfg.model.prior_graph = prior_graph_from_labels(labels).tolist()
        flow = _flow_sources(cfg, scan, unlabeled_scan)
        os.makedirs(write_out, exist_ok=True)
        info = {"model": model, "family": "rtatl", "preset": preset, "data": os.path.abspath(data), "fold": fold,
                "unlabeled": os.path.abspath(unlabeled) if unlabeled else None, "weights": weights,
                "aus": list(cfg.model.aus), "train_records": int(len(labels)),
                "train_records_with_landmarks": scan.landmark_count, "train_subjects": sorted(set(subjects)),
                "labeled_subjects": labeled_subjects, "kept_subjects": keep, "demote_unlabeled": bool(demote_unlabeled),
                "demoted_records": n_demoted, "unlabeled_records": n_external, "flow_sources": flow,
                "config": cfg.to_dict()}
    info["distribute"] = dist.describe()  # may differ on resume (e.g. more GPUs); the global batch may not
    dist.check_batch(cfg.train.batch_size)
    write_json(os.path.join(write_out, "run.json"), info)

    t = cfg.train
    keras.utils.set_random_seed(t.seed)
    trainer = build_trainer(cfg, weights=None if resuming else weights, mixed=t.mixed_precision, xla=t.xla, dist=dist)
    initial_epoch = load_state(trainer, ckpt) if resuming else 0
    history = {}
    if resuming and os.path.isfile(os.path.join(out, "history.json")):
        with open(os.path.join(out, "history.json")) as f:
            history = json.load(f)
    history_path = os.path.join(write_out, "history.json")
    if initial_epoch < t.epochs:
        stream = dict(keep_subjects=info.get("kept_subjects"), demote_unlabeled=bool(info.get("demote_unlabeled")),
                      stream_sizes=(max(info.get("demoted_records", 1), 1), max(info.get("unlabeled_records", 1), 1)))
        ds = dist.prepare_dataset(training_dataset(cfg, train_files, unlabeled_files,
                                                   skip_batches=initial_epoch * t.steps_per_epoch, **stream))
        cbs = [EpochCheckpoint(checkpoint_path(write_out)),
               keras.callbacks.TensorBoard(os.path.join(write_out, "logs"))]
        probe = None
        if t.grad_probe_every > 0:
            probe_batch = next(iter(training_dataset(cfg, train_files, unlabeled_files, **stream)))
            probe = GradientProbe(probe_batch, t.grad_probe_every, os.path.join(write_out, "logs", "grad_probe"))
            cbs.append(probe)
        h = trainer.fit(ds, epochs=t.epochs, steps_per_epoch=t.steps_per_epoch, initial_epoch=initial_epoch,
                        callbacks=[*cbs, *(callbacks or [])], verbose=verbose)
        for k, v in h.history.items():
            history.setdefault(k, []).extend(float(x) for x in v)
        if probe is not None:
            history.setdefault("grad_probe", []).extend(probe.records)
        write_json(history_path, history)
    info.update(completed_epochs=t.epochs, resumed_from_epoch=initial_epoch if resuming else None,
                checkpoint=os.path.relpath(ckpt, out))
    write_json(os.path.join(write_out, "run.json"), info)
    last = {k: v[-1] for k, v in history.items() if v and not isinstance(v[-1], dict)}
    return {"run_dir": out, "model": model, "epochs": t.epochs, "resumed_from_epoch": info["resumed_from_epoch"],
            "final_metrics": last}


# -- loading a run ---------------------------------------------------------------------------------
def load_run(run_dir: str):
    """(run info, config, trainer with the latest checkpoint's model weights; float32, not compiled)."""
    from keras_au.models.registry import run_info
    from keras_au.models.rtatl.checkpoint import checkpoint_path, load_state

    info = run_info(run_dir)
    cfg = RTATLConfig.from_dict(info["config"])
    trainer = build_trainer(cfg, compile=False)
    load_state(trainer, checkpoint_path(run_dir), groups=("model",))
    return info, cfg, trainer


# -- evaluate --------------------------------------------------------------------------------------
def evaluate(run_dir: str, data: Optional[str] = None, fold: Optional[int] = None, out: Optional[str] = None,
             figures: bool = False, json: bool = False, batch_size: int = 32, **options) -> dict:
    """Per-AU F1/accuracy on the run's test fold (or ``data``): prints a table, writes JSON + bar plot.
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
        files = _files(data, [fold])
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
    out = out or os.path.join(run_dir, "eval")
    os.makedirs(out, exist_ok=True)
    ic = InputConfig(files, batch_size=batch_size, crop_size=m.input_size, training=False,
                     flow_size=m.flow_size if cfg.ofe else None, num_aus=len(record_aus))
    predict = tf.function(lambda b: trainer.backbone({"image": b["image"], "landmarks": b["landmarks"]}))
    labels, probs, subjects, n_no_lm = [], [], [], 0
    for b in tqdm(build_dataset(ic), desc="evaluate", unit="batch", disable=None):
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
    files_written = {"scores": os.path.join(out, "scores.json"),
                     "f1_plot": figs.plot_f1_bars(scores, os.path.join(out, "f1.png"), title)}
    if figures:
        files_written.update(write_figures(trainer, cfg, ic, out, positions=positions))
    scores["files"] = files_written
    write_json(files_written["scores"], scores)
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


# -- summary ---------------------------------------------------------------------------------------
def summary(model: str = "rtatl", dataset: str = "bp4d", preset: str = "paper", overrides: Optional[dict] = None,
            flops: bool = True, **options) -> dict:
    """Parameters and FLOPs (multiply-adds, 1 MAC = 1 FLOP) of the training and inference graphs for one image."""
    import tensorflow as tf

    from keras_au.models.flops import count_macs, count_params

    cfg = make_config(model, preset, aus=dataset_aus(dataset), overrides=overrides)
    trainer = build_trainer(cfg, compile=False)
    m = cfg.model
    s = m.input_size
    spec = {"image": tf.TensorSpec((1, s, s, 3), tf.float32), "landmarks": tf.TensorSpec((1, 68, 2), tf.float32)}
    result = {
        "training": {"params": count_params(trainer.trainable_weights)},
        "inference": {"params": count_params(trainer.backbone.trainable_weights)},
    }
    if flops:
        train_spec = dict(spec, au_labels=tf.TensorSpec((1, m.num_aus), tf.int32))
        result["training"]["flops"] = count_macs(lambda d: trainer.training_forward(d), train_spec)
        result["inference"]["flops"] = count_macs(lambda d: trainer.backbone(d), spec)
    parts = {"backbone": trainer.backbone}
    for name in ("generator", "discriminator", "au_classifier", "flow_head"):
        if hasattr(trainer, name):
            parts[name] = getattr(trainer, name)
    result["parts"] = {k: count_params(v.trainable_weights) for k, v in parts.items()}
    result["notes"] = [
        f"{model} ({preset} preset, {dataset}: {m.num_aus} AUs), input {s}x{s}; trainable parameters only",
        "FLOPs = multiply-adds of convs/matmuls/einsums for one image (1 MAC = 1 FLOP; x2 for the other convention)",
        "training graph = backbone + flow head + G on 2 patches + D and C on 2 real + 2 generated patches",
        "paper (RTATL, BP4D): training 54.62 M / 10.75 GFLOPs, inference 19.12 M / 5.57 GFLOPs",
    ]
    return result


# -- export ----------------------------------------------------------------------------------------
def export(run_dir: str, out: str, **options) -> str:
    """Writes ``out/model.keras`` (backbone only: {"image", "landmarks"} -> probabilities) + ``export.json``."""
    from keras_au.models.rtatl.backbone import build_inference_model

    info, cfg, trainer = load_run(run_dir)
    m = cfg.model
    model = build_inference_model(trainer.backbone)
    os.makedirs(out, exist_ok=True)
    model.save(os.path.join(out, "model.keras"))
    meta = {
        "model": info["model"], "family": "rtatl", "aus": list(m.aus), "au_names": [au_label(a) for a in m.aus],
        "input_size": m.input_size, "inputs": {"image": [None, m.input_size, m.input_size, 3],
                                                "landmarks": [None, 68, 2]},
        "output": "au_probabilities", "threshold": 0.5,
        "normalisation": "raw RGB in [0, 255]; ImageNet mean/std applied inside the model",
        "landmarks_frame": f"68 dlib points in the centre-cropped {m.input_size}x{m.input_size} frame of the "
                           f"{IMAGE_SIZE}x{IMAGE_SIZE} aligned face",
        "mean_landmarks": np.round(m.resolved_mean_landmarks(), 3).tolist(),
        "custom_objects_module": "keras_au.models.rtatl",
        "params": int(sum(int(np.prod(w.shape)) for w in model.weights)),
        "source_run": os.path.abspath(run_dir),
    }
    with open(os.path.join(out, "export.json"), "w") as f:
        json.dump(meta, f, indent=2)
    return out
