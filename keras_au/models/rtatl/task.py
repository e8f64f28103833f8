"""The RTATL family's ``Task`` (paper Table 1 rows; see ``keras_au.tasks.base_task`` for what the base owns).

``train`` -> run directory (``run.json``, ``checkpoint/state.npz``, ``logs/`` for TensorBoard,
``history.json``); ``evaluate`` -> per-AU F1 table, ``scores.json``, ``f1.png`` (+ Figs. 5-7);
``summary`` -> params/FLOPs of the training and inference graphs; ``export`` -> inference-only model.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional

import numpy as np

from keras_au.au import dataset_aus
from keras_au.data.record_scan import scan_records
from keras_au.data.schema import IMAGE_SIZE
from keras_au.models import backbone_init
from keras_au.models.backbone_init import SCRATCH
from keras_au.models.rtatl.builder import build_trainer, load_run
from keras_au.models.rtatl.config import VARIANTS, RTATLConfig, make_config
from keras_au.models.rtatl.inputs import (MODEL_KEYS, flow_sources, fold_files, record_aus, select_subjects,
                                          training_dataset)
from keras_au.models.rtatl.scoring import score, write_figures
from keras_au.models.rtatl.summary import PAPER_SIZE, summary
from keras_au.tasks import Task, TrainOptions

__all__ = ["TASK", "RTATLTask", "RTATLTrainOptions", "train", "evaluate", "export", "summary", "build_trainer",
           "load_run", "training_dataset", "select_subjects", "record_aus", "write_figures", "MODEL_KEYS",
           "PAPER_SIZE"]


# -- train -----------------------------------------------------------------------------------------
@dataclass
class RTATLTrainOptions(TrainOptions):
    """``train`` options of the RTATL family (paper Table 1 rows); the shared ones are in ``TrainOptions``.

    ``labeled_subjects`` keeps a seeded subset of that many training subjects (paper Fig. 4) and drops the
    rest, or with ``demote_unlabeled`` moves their frames, labels removed, into the unlabeled stream.
    ``init``: ``scratch`` (default), ``imagenet``, a keras-hub preset name or a local preset folder
    (``keras_au.models.backbone_init``); ``weights`` imports a torchvision ``.npz`` / Keras weights file.
    """

    model: str = "rtatl"
    dataset: Optional[str] = None
    weights: Optional[str] = None
    init: Optional[str] = None
    labeled_subjects: Optional[int] = None
    demote_unlabeled: bool = False
    warm_start: str | None = None  # weights file (keras_au.tasks.warm_start) to start from at step 0


def _new_run(opts: RTATLTrainOptions, train_files: list, unlabeled_files: Optional[list]) -> dict:
    """``run.json`` of a fresh run: the config completed from the training records' statistics."""
    aus = record_aus(train_files)
    if opts.dataset and tuple(dataset_aus(opts.dataset)) != aus:
        raise ValueError(f"--dataset {opts.dataset} has AUs {dataset_aus(opts.dataset)} but the records hold {aus}")
    cfg = make_config(opts.model, opts.preset, aus=aus, overrides=opts.overrides, epochs=opts.epochs,
                      steps_per_epoch=opts.steps_per_epoch, batch_size=opts.batch_size, seed=opts.seed,
                      xla=opts.xla, mixed_precision=opts.mixed_precision)
    scan = scan_records(train_files, cfg.model.num_aus)
    subjects, labels = scan.subjects, scan.labels
    if opts.demote_unlabeled and opts.labeled_subjects is None:
        raise ValueError("--demote-unlabeled needs --labeled-subjects N")
    keep = select_subjects(subjects, opts.labeled_subjects, cfg.train.seed)
    kept = np.isin(np.asarray(subjects), keep) if keep is not None else np.ones(len(labels), bool)
    n_demoted = int((~kept).sum()) if opts.demote_unlabeled else 0
    demote = opts.demote_unlabeled
    unlabeled_scan = scan_records(unlabeled_files) if unlabeled_files and (demote or cfg.ofe) else None
    n_external = unlabeled_scan.count if unlabeled_scan and demote else 0
    labels = labels[kept]
    mean_lm = scan.mean_landmarks(cfg.model.input_size)
    if mean_lm is not None:
        cfg.model.mean_landmarks = mean_lm.round(3).tolist()
    if cfg.train.balance_sup:
        from keras_au.losses import balanced_pos_weight

        cfg.train.sup_pos_weight = balanced_pos_weight(labels, rule=cfg.train.sup_weight_rule).round(4).tolist()
    if cfg.relation == "gcn":
        from keras_au.models.rtatl.gcn_relation import prior_graph_from_labels

        cfg.model.prior_graph = prior_graph_from_labels(labels).tolist()
    return {"model": opts.model, "family": "rtatl", "preset": opts.preset, "data": os.path.abspath(opts.data),
            "fold": opts.fold, "unlabeled": os.path.abspath(opts.unlabeled) if opts.unlabeled else None,
            "weights": opts.weights, "aus": list(cfg.model.aus), "train_records": int(len(labels)),
            "train_records_with_landmarks": scan.landmark_count, "train_subjects": sorted(set(subjects)),
            "labeled_subjects": opts.labeled_subjects, "kept_subjects": keep, "demote_unlabeled": bool(demote),
            "demoted_records": n_demoted, "unlabeled_records": n_external,
            "flow_sources": flow_sources(cfg, scan, unlabeled_scan), "config": cfg.to_dict()}


def _warm_start(trainer, cfg: RTATLConfig, opts: RTATLTrainOptions) -> dict | None:
    """Step-0 weights from ``opts.warm_start`` (None: not asked); on failure the init stays, with the reason."""
    from keras_au.tasks.warm_start import load_weights

    if not opts.warm_start:
        return None
    return load_weights(trainer, opts.warm_start,
                        {"model": opts.model, "aus": list(cfg.model.aus), "fold": opts.fold})


class RTATLTask(Task):
    """RTATL and the other rows of the paper's Table 1 (one trainer, switched by ``VARIANTS``)."""

    family = "rtatl"
    model_names = tuple(VARIANTS)
    options_class = RTATLTrainOptions
    evaluate_options = (*Task.evaluate_options, "batch_size")

    def fit(self, run, opts: RTATLTrainOptions) -> dict:
        """Trains on folds != ``fold`` of ``data`` (+ ``unlabeled``). Resuming gives the same final weights as an
        uninterrupted run (up to multi-threaded CPU round-off): input order, augmentation and in-step
        randomness are keyed on the seed and the step."""
        import keras

        from keras_au.data.input_pipeline import list_files
        from keras_au.models.rtatl.grad_probe import GradientProbe
        from keras_au.tasks.checkpoint import load_state, read_meta
        from keras_au.tasks.weight_average import WeightAverage

        opts.fold = 0 if opts.fold is None else int(opts.fold)
        if opts.fold not in (0, 1, 2):
            raise ValueError(f"--fold must be 0, 1 or 2, got {opts.fold}")
        train_files = fold_files(opts.data, [k for k in range(3) if k != opts.fold])
        unlabeled_files = list_files(opts.unlabeled) if opts.unlabeled else None
        ckpt = run.checkpoint()
        if opts.weights and opts.init not in (None, SCRATCH):
            raise ValueError("--weights and --init are alternatives: give one")
        info = run.previous(opts.model, opts.resume)
        resuming = info is not None and os.path.isfile(ckpt)
        preset = None
        if resuming:
            cfg = RTATLConfig.from_dict(info["config"])
            # Only the schedule may change on resume (e.g. more epochs); the model must not. The checkpoint
            # holds the weights: the recorded --init is never loaded again over it.
            cfg.train.epochs = int(opts.epochs) if opts.epochs is not None else cfg.train.epochs
            recorded = (info.get("init") or {}).get("init", SCRATCH)
            if opts.init not in (None, recorded):
                print(f"resuming {opts.out}: its checkpoint was initialised from --init {recorded}; "
                      f"--init {opts.init} is ignored (use --no-resume to start afresh)")
        else:
            info = _new_run(opts, train_files, unlabeled_files)
            cfg = RTATLConfig.from_dict(info["config"])
            # Loaded and checked before run.json is written: a bad preset leaves the run directory empty.
            preset = backbone_init.load(opts.init, cfg.model.resnet_width)
            if preset is not None:
                cfg.model.input_scale, cfg.model.input_offset = preset.input_scale, preset.input_offset
                info["config"] = cfg.to_dict()
            info["init"] = preset.describe() if preset is not None else backbone_init.describe_scratch()
        info["distribute"] = run.dist.describe()  # may differ on resume (e.g. more GPUs); the global batch may not
        run.dist.check_batch(cfg.train.batch_size)
        run.write(info)

        t = cfg.train
        keras.utils.set_random_seed(t.seed)
        trainer = build_trainer(cfg, weights=None if resuming else opts.weights, mixed=t.mixed_precision, xla=t.xla,
                                dist=run.dist, init=preset)
        preset = None  # the preset's own copy of the backbone is no longer needed
        if t.weight_average:  # before the restore: its state is part of the checkpoint
            with run.dist.scope():
                trainer.weight_average = WeightAverage(trainer.backbone.variables, t.weight_average,
                                                       t.weight_average_ramp)
        initial_epoch = load_state(trainer, ckpt) if resuming else 0
        if not resuming:  # a resumed run keeps the record of how it started
            info["warm_start"] = _warm_start(trainer, cfg, opts)
            run.write(info)
        history = (run.read("history.json") or read_meta(ckpt)["history"]) if resuming else {}
        if initial_epoch < t.epochs:
            sizes = (max(info.get("demoted_records", 1), 1), max(info.get("unlabeled_records", 1), 1))
            stream = dict(keep_subjects=info.get("kept_subjects"),
                          demote_unlabeled=bool(info.get("demote_unlabeled")), stream_sizes=sizes)
            ds = run.dist.prepare_dataset(training_dataset(cfg, train_files, unlabeled_files,
                                                           skip_batches=initial_epoch * t.steps_per_epoch, **stream))
            cbs = run.callbacks()
            probe = None
            if t.grad_probe_every > 0:
                probe_batch = next(iter(training_dataset(cfg, train_files, unlabeled_files, **stream)))
                probe_dir = os.path.join(run.write_path, "logs", "grad_probe")
                probe = GradientProbe(probe_batch, t.grad_probe_every, probe_dir)
                cbs.append(probe)
            # The average goes first: at the last epoch's end it is written over the backbone before the checkpoint.
            average = [trainer.weight_average] if t.weight_average else []
            trainer.fit(ds, epochs=t.epochs, steps_per_epoch=t.steps_per_epoch, initial_epoch=initial_epoch,
                        callbacks=[*average, *cbs, *opts.callbacks], verbose=opts.verbose)
            history = {k: list(v) for k, v in cbs[0].history.items()}
            if probe is not None:
                history["grad_probe"] = (run.read("history.json") or {}).get("grad_probe", []) if resuming else []
                history["grad_probe"] += probe.records
            run.write(history, "history.json")
        info.update(completed_epochs=t.epochs, resumed_from_epoch=initial_epoch if resuming else None,
                    checkpoint=os.path.relpath(ckpt, opts.out))
        run.write(info)
        last = {k: v[-1] for k, v in history.items() if v and not isinstance(v[-1], dict)}
        return {"run_dir": opts.out, "model": opts.model, "epochs": t.epochs,
                "resumed_from_epoch": info["resumed_from_epoch"], "final_metrics": last}

    score = staticmethod(score)
    summary = staticmethod(summary)

    def inference(self, run_dir: str) -> tuple:
        """The backbone alone ({"image", "landmarks"} -> probabilities) and its export metadata."""
        from keras_au.models.rtatl.backbone import build_inference_model

        info, cfg, trainer = load_run(run_dir)
        m = cfg.model
        meta = {
            "model": info["model"], "aus": list(m.aus), "input_size": m.input_size,
            "output": "au_probabilities", "threshold": 0.5,
            "normalisation": "raw RGB in [0, 255]; x * input_scale + input_offset inside the model",
            "input_scale": list(m.input_scale), "input_offset": list(m.input_offset),
            "init": info.get("init") or backbone_init.describe_scratch(),
            "landmarks_frame": f"68 dlib points in the centre-cropped {m.input_size}x{m.input_size} frame of the "
                               f"{IMAGE_SIZE}x{IMAGE_SIZE} aligned face",
            "mean_landmarks": np.round(m.resolved_mean_landmarks(), 3).tolist(),
            "custom_objects_module": "keras_au.models.rtatl",
        }
        return build_inference_model(trainer.backbone), meta

    def check_init(self, init: str | None, preset: str, overrides: dict | None = None) -> None:
        backbone_init.preflight(init, make_config(preset=preset, overrides=overrides).model.resnet_width)

    def warm_start_weights(self, run_dir: str, out: str) -> str | None:
        from keras_au.models.registry import run_info
        from keras_au.tasks.checkpoint import checkpoint_path
        from keras_au.tasks.warm_start import write_weights

        info = run_info(run_dir)
        meta = {"model": info["model"], "family": self.family, "fold": info.get("fold"), "aus": info["aus"],
                "preset": info.get("preset"), "source_run": os.path.abspath(run_dir)}
        return write_weights(checkpoint_path(run_dir), out, meta)


TASK = RTATLTask()
train, evaluate, export = TASK.train, TASK.evaluate, TASK.export
