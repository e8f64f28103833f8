"""The in-the-wild model's ``Task``: train, evaluate, summary, export, landmark_error (the base,
``keras_au.tasks.Task``, owns the run directory, checkpoints and the output files).

Run directory layout (``--out``)::

    run.json                  model name, variant, preset, full config, data splits, AU weights, history
    splits.json               the protocol's train / validation / test records of both domains
    checkpoint/stage1.npz     landmark pretraining (weights + optimizer, epoch, history)
    checkpoint/stage2.npz     joint training (weights + the three optimizers, epoch, history)
    checkpoint/finetune.npz   ``--fine-tune`` from the best stage-2 snapshot (same, own optimizers)
    finetune_from.json        which snapshot fine-tuning started from
    snapshots/<stage>-epochNN.weights.h5   network weights after every epoch (protocols with validation)
    best.json                 validation F1 per epoch and the best epoch (what evaluate/export load by default)
    logs/stage1, logs/stage2, logs/finetune  TensorBoard
    model.weights.h5          final WildNetwork weights (the last epoch)
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Optional

from keras_au.models.wild.config import make_config
from keras_au.models.wild.scoring import MODEL, build_network, landmark_error, load_run, resolve_weights, score
from keras_au.models.wild.summary import summary
from keras_au.tasks import Task, TrainOptions

__all__ = ["TASK", "WildTask", "WildTrainOptions", "train", "evaluate", "export", "summary", "landmark_error",
           "load_run", "resolve_weights", "make_config", "build_network"]


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

@dataclass
class WildTrainOptions(TrainOptions):
    """``train`` options of the in-the-wild model; the shared ones are in ``TrainOptions``.

    ``source`` falls back to ``data`` and ``target`` to ``unlabeled``. ``protocol`` (``protocols.py``):
    ``folds`` (default) holds fold ``fold`` (default: the first) of each domain out for ``evaluate``; ``sample``
    and ``adld`` also hold out a validation split, scored after every stage-2/fine-tuning epoch (``best.json``,
    snapshots). ``fine_tune`` fine-tunes the best stage-2 snapshot after stage 2.
    """

    model: str = MODEL
    source: Optional[str] = None
    target: Optional[str] = None
    variant: Optional[str] = None
    protocol: Optional[str] = None
    fine_tune: bool = False


STALE = ("snapshots", "best.json")  # an old best.json would name another run's epochs


def _fit_stage(stage: str, net, cfg, run, optimizers, weights: tuple, paired: dict, epochs: int, spe: int,
               seed: int, callbacks: list, verbose) -> None:
    """Stage 2 or fine-tuning: a WildTrainer over ``net`` built under the strategy (``optimizers()`` creates its
    three optimizers there), resumed from the stage's checkpoint and fitted up to ``epochs``."""
    from keras_au.distribute import fit_ready
    from keras_au.models.wild import data as wild_data
    from keras_au.models.wild.trainer import WildTrainer
    from keras_au.tasks.checkpoint import restore

    dist = run.dist
    with dist.scope():  # the fine-tuning trainer keeps its own name (its checkpoint holds its optimizers)
        trainer = WildTrainer(net, cfg, *weights, **({"name": "wild_finetune"} if stage == "finetune" else {}))
        trainer.compile(*optimizers(), jit_compile=cfg.xla, run_eagerly=cfg.run_eagerly)
        trainer.build()
        trainer.build_optimizers()
    fit_ready(trainer)
    start = restore(trainer, run.checkpoint(stage))
    if start < epochs:
        ds = wild_data.paired_dataset(*paired["files"], cfg.batch_size, cfg.crop_size, seed, paired["target_select"])
        trainer.fit(dist.prepare_dataset(ds), epochs=epochs, initial_epoch=start, steps_per_epoch=spe,
                    callbacks=callbacks, verbose=verbose)


def _core(config: dict) -> dict:
    """Config fields that must match to resume (training length may change)."""
    return {k: v for k, v in config.items() if k not in ("epochs", "stage1_epochs", "steps_per_epoch",
                                                       "stage1_steps_per_epoch", "xla", "run_eagerly",
                                                       "finetune_epochs", "keep_snapshots")}


class WildTask(Task):
    """The in-the-wild model (paper Table 3 variants bl/ml/as)."""

    family = "wild"
    model_names = (MODEL,)
    options_class = WildTrainOptions
    evaluate_options = (*Task.evaluate_options, "snapshot")
    export_options = ("path", "snapshot")

    def fit(self, run, opts: WildTrainOptions) -> dict:
        """Stage 1 (landmark branch, ml/as), stage 2 (joint) and, with ``fine_tune``, fine-tuning of the best stage-2
        snapshot, on source (labeled) + target (unlabeled) records; every stage resumes from its checkpoint."""
        import keras

        from keras_au.distribute import fit_ready, set_sync_batchnorm
        from keras_au.losses import balanced_pos_weight
        from keras_au.models.wild import data as wild_data
        from keras_au.models.wild import selection
        from keras_au.models.wild.landmark_pretrainer import LandmarkPretrainer
        from keras_au.models.wild.losses import au_class_weights
        from keras_au.models.wild.protocols import check_labeled_splits, make_splits
        from keras_au.tasks.checkpoint import read_meta, restore

        source, target = opts.source or opts.data, opts.target or opts.unlabeled
        if not source or not target:
            raise ValueError("the wild model needs --source (labeled records) and --target (unlabeled records)")
        for name, path in (("source", source), ("target", target)):
            if not os.path.exists(path):
                raise FileNotFoundError(f"--{name} {path} does not exist")
        cfg = make_config(opts.preset, opts.variant, opts.overrides, epochs=opts.epochs,
                          steps_per_epoch=opts.steps_per_epoch, batch_size=opts.batch_size, seed=opts.seed,
                          xla=opts.xla, mixed_precision=opts.mixed_precision)
        old = run.previous(MODEL, opts.resume, STALE)
        if old is not None and _core(old.get("config", {})) != _core(cfg.to_dict()):
            raise ValueError(f"{run.path} holds a run with a different configuration; use --no-resume or another --out")
        dist = run.dist
        dist.check_batch(cfg.batch_size)
        dist.check_batch(cfg.stage1_batch_size, "stage-1 batch size")
        run.precision(cfg.mixed_precision)  # float16 (loss-scaled optimizers) on GPU, bfloat16 elsewhere
        keras.utils.set_random_seed(cfg.seed)

        # Data: the protocol's splits, AU selection by au_ids, label statistics for the weighted cross-entropy.
        def positions(files):
            return wild_data.au_positions(wild_data.record_au_ids(files), cfg.aus)

        splits = make_splits(opts.protocol or "folds", source, target, opts.fold, positions, positions)
        check_labeled_splits(splits, positions)
        src_train, src_eval = splits.source["train"].files, splits.source["test"].files
        tgt_train, tgt_eval = splits.target["train"].files, splits.target["test"].files
        tgt_select = splits.target["train"].select  # adld: labeled target images only validate and test
        run.write(splits.to_dict(), "splits.json")
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
            "model": MODEL, "family": "wild", "variant": cfg.variant, "preset": opts.preset, "config": cfg.to_dict(),
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
        run.write(info)

        with dist.scope():  # every variable (modules, optimizers, metrics) mirrored across replicas
            net = build_network(cfg)
        if dist.sync_bn:
            set_sync_batchnorm(net, True)
        validate = selection.validator(net, splits, cfg) if splits.has_validation else None

        def callbacks(stage):
            # Selection first: its val_*_f1 join the logs that the checkpoint's history and TensorBoard record.
            select = [selection.EpochSelection(run.write_path, stage, net, validate, cfg.select_by, cfg.keep_snapshots)
                      ] if validate and stage != "stage1" else []
            return [*select, *run.callbacks(stage)]

        # Stage 1: landmark branch alone; then E_f <- its first two parts.
        if cfg.use_landmark_branch:
            with dist.scope():
                pre = LandmarkPretrainer(net.landmark_branch, cfg.crop_size, cfg.stage1_on_target)
                pre.compile(optimizer=keras.optimizers.Adam(cfg.stage1_lr, cfg.task_beta_1, cfg.task_beta_2),
                            jit_compile=cfg.xla, run_eagerly=cfg.run_eagerly)
                pre.build()
                pre.optimizer.build(net.landmark_branch.trainable_variables)
            fit_ready(pre)  # every variable exists: no symbolic build from a data batch under a strategy
            start = restore(pre, run.checkpoint("stage1"))
            if start < cfg.stage1_epochs:
                ds1 = wild_data.paired_dataset(src_train, tgt_train, src_pos, tgt_pos, cfg.stage1_batch_size,
                                               cfg.crop_size, cfg.seed, tgt_select)
                pre.fit(dist.prepare_dataset(ds1), epochs=cfg.stage1_epochs, initial_epoch=start, steps_per_epoch=spe1,
                        callbacks=callbacks("stage1"), verbose=opts.verbose)
            net.feature_extractor.init_from_landmark_branch(net.landmark_branch)

        # Stage 2: everything, three optimizers, the paper's lr schedule.
        paired = dict(files=(src_train, tgt_train, src_pos, tgt_pos), target_select=tgt_select)
        _fit_stage("stage2", net, cfg, run, lambda: _optimizers(cfg, spe), (au_weights, pos_weight), paired,
                   cfg.epochs, spe, cfg.seed + 2, callbacks("stage2") + opts.callbacks, opts.verbose)

        # Fine-tuning (paper: "then fine-tune the best model"): from the best stage-2 snapshot, fresh optimizers at
        # constant rates, selected the same way; a killed fine-tuning resumes from its own checkpoint.
        stages = ["stage1", "stage2"]
        if opts.fine_tune:
            stages.append("finetune")
            if read_meta(run.checkpoint("finetune"))["epoch"] == 0:
                start_entry = (selection.load_best(run.path) or {}).get("best_stage2")
                if start_entry:
                    net.load_weights(os.path.join(run.path, start_entry["weights"]))
                run.write(start_entry or {"stage": "stage2", "epoch": cfg.epochs, "weights": "last epoch"},
                          "finetune_from.json")
            info["finetune_from"] = run.read("finetune_from.json")
            _fit_stage("finetune", net, cfg, run, lambda: _optimizers(cfg, spe, finetune=True),
                       (au_weights, pos_weight), paired, cfg.finetune_epochs, spe, cfg.seed + 4,
                       callbacks("finetune"), opts.verbose)
        net.save_weights(os.path.join(run.write_path, "model.weights.h5"))

        history = {s: read_meta(run.checkpoint(s, write=True))["history"] for s in stages}
        best = (selection.load_best(run.write_path) or {}).get("best")
        info["best"] = best
        skipped = {d: int(sum(sum(history[s].get(f"lm_skipped_{d}", [])) for s in history))
                   for d in ("source", "target")}
        info.update({"history": history, "skipped_no_landmarks": skipped, "complete": True})
        run.write(info)
        final = {k: v[-1] for k, v in history["stage2"].items() if v}
        return {"run_dir": run.path, "model": MODEL, "variant": cfg.variant, "protocol": splits.protocol,
                "final": final, "best": best, "skipped_no_landmarks": skipped}

    score = staticmethod(score)
    summary = staticmethod(summary)

    def inference(self, run_dir: str, path: Optional[str] = None, snapshot: Optional[str] = None) -> tuple:
        """The inference model (inputs {"image" (B,176,176,3) raw RGB, "landmarks" (B,68,2)} -> AU probabilities)
        and its export metadata."""
        from keras_au.models.wild.inference import build_inference_model

        info, cfg, net = load_run(run_dir, snapshot)
        if info.get("mean_landmarks") is None:
            raise ValueError(f"{run_dir}: no training record had landmarks, so export.json cannot hold mean_landmarks")
        path = path or cfg.export_path
        meta = {
            "model": MODEL, "variant": cfg.variant, "aus": list(cfg.aus),
            "input_size": cfg.crop_size, "network_input_size": cfg.input_size,
            "normalisation": "raw RGB in [0, 255] (aligned 200x200 face, centre 176 crop); the model scales to [-1, 1]",
            "output": "au_probs (B, A) sigmoid", "landmarks_used": False,
            "path": "E_f -> (E_l, G_b) -> G_st -> F_au" if path == "target" else "E_f -> F_au",
            "mean_landmarks": info.get("mean_landmarks"),
            "weights": {k: v for k, v in info["loaded_weights"].items() if k != "file"},
        }
        return build_inference_model(net, path), meta


TASK = WildTask()
train, evaluate, export = TASK.train, TASK.evaluate, TASK.export
