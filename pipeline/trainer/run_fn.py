"""TFX Trainer entry point (GenericExecutor): one fold of one keras-au model.

``fn_args.custom_config`` carries ``model``, ``preset``, ``fold`` and the optional ``epochs``,
``steps_per_epoch``, ``batch_size``, ``seed``, ``overrides``, ``distribute`` (none / mirrored / multiworker),
``init`` (the backbone's initial weights) and ``warm_start`` (``pipeline run --warm-start``: start from
``fn_args.base_model``, the latest blessed model, when there is one); ``fn_args.train_files`` /
``eval_files`` point at the Examples splits (``<uri>/Split-fold-<k>/*``). The model's task module
trains on the two training folds and exports the inference-only model into
``fn_args.serving_model_dir`` (``model.keras`` + ``export.json``), which the AUEvaluator scores and
the Pusher turns into a TF Serving SavedModel. The training run itself (checkpoints, logs,
``run.json``) lives in ``<component dir>/resume/<key>`` (see ``resume_dir``), outside the execution's
``model_run_dir``, so a Trainer killed mid-training and launched again continues from its last epoch.

TFX installs this file as a top-level module from a wheel, so it only uses absolute imports.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from typing import Any

TRAIN_KEYS = ("epochs", "steps_per_epoch", "batch_size", "seed", "distribute",  # distribute: docs/distributed.md
              "init")
UNLABELED_SPLIT = "unlabeled"
WARM_START_DIR = "warm_start"  # in the Model artifact's Format-Serving/, beside model.keras
NOTE = "[keras-au] "  # pipeline.components.progress.PREFIX: these lines reach the console


def _split_dir(pattern: str) -> str:
    """``<uri>/Split-fold-1/*`` -> ``<uri>/Split-fold-1``."""
    return pattern[:-2] if pattern.endswith("/*") else os.path.dirname(pattern)


def stage_folds(fn_args: Any, fold: int, staging: str) -> str:
    """Links the Examples splits as ``<staging>/fold-<k>/``, the layout the task modules read.

    Training folds come from ``train_files``, the held-out fold from ``eval_files``; the split's
    name says which fold it is, so the link names never depend on the order TFX lists them in.
    """
    os.makedirs(staging, exist_ok=True)
    for pattern in list(fn_args.train_files) + list(fn_args.eval_files):
        split_dir = _split_dir(pattern)
        name = os.path.basename(split_dir).removeprefix("Split-")
        if not name.startswith("fold-"):
            raise ValueError(f"Trainer split {name!r} is not a fold split (fold-<k>)")
        link = os.path.join(staging, name)
        if os.path.lexists(link):
            os.remove(link)
        os.symlink(os.path.abspath(split_dir), link)
    if not os.path.isdir(os.path.join(staging, f"fold-{fold}")):
        raise ValueError(f"the eval split of fold {fold} is missing from eval_files {fn_args.eval_files}")
    return staging


def unlabeled_dir(fn_args: Any) -> str | None:
    """The ``Split-unlabeled`` next to the fold splits, when preprocessing produced one."""
    root = os.path.dirname(_split_dir(fn_args.train_files[0]))
    path = os.path.join(root, f"Split-{UNLABELED_SPLIT}")
    return path if os.path.isdir(path) and os.listdir(path) else None


def resume_dir(fn_args: Any, custom_config: dict) -> str:
    """``<pipeline_root>/<Trainer id>/resume/<key>``: the key hashes the config and the input splits, so
    only a relaunch of the same training (same data, same settings) finds and continues its checkpoint.

    TFX gives every execution a fresh ``<Trainer id>/model_run/<execution id>``; a run kept there would
    start from scratch after a kill."""
    inputs = {"config": custom_config, "train": sorted(fn_args.train_files), "eval": sorted(fn_args.eval_files)}
    if custom_config.get("warm_start"):  # a relaunch starting from another blessed model is another training
        inputs["base_model"] = getattr(fn_args, "base_model", None)
    key = json.dumps(inputs, sort_keys=True)
    component_dir = os.path.dirname(os.path.dirname(os.path.abspath(fn_args.model_run_dir)))
    return os.path.join(component_dir, "resume", hashlib.sha256(key.encode()).hexdigest()[:16])


def warm_start_file(fn_args: Any, custom_config: dict) -> tuple[str | None, str]:
    """(the weights to start from, why): the blessed model's ``warm_start/weights.npz`` when warm start is on
    and the Resolver found a blessed model (``fn_args.base_model``), else None and the reason."""
    if not custom_config.get("warm_start"):
        return None, "warm start off"
    base = getattr(fn_args, "base_model", None)
    if not base:
        return None, "nothing blessed yet: training from the init"
    from keras_au.tasks.warm_start import WEIGHTS_FILE

    # A model blessed before keras-au wrote these weights has none: the task reports the missing file.
    return os.path.join(base, WARM_START_DIR, WEIGHTS_FILE), f"the latest blessed model {base}"


def _report_warm_start(run_dir: str, fold: int, asked: bool, why: str) -> None:
    """One console line per Trainer on how it started; a refused blessed model is a warning naming the file."""
    from absl import logging

    from keras_au.jsonio import read_json

    record = (read_json(os.path.join(run_dir, "run.json")) or {}).get("warm_start")
    if not asked:
        logging.info(f"{NOTE}Trainer fold {fold}: not warm-started ({why})")
    elif record and record.get("loaded"):
        logging.info(f"{NOTE}Trainer fold {fold}: warm-started from {record['from']}")
    elif record:
        logging.warning(f"{NOTE}Trainer fold {fold}: blessed model not used, trained from the init: "
                        f"{record.get('error')}")


def run_fn(fn_args: Any) -> None:
    """Trains ``custom_config['model']`` on fold ``custom_config['fold']`` and exports it."""
    import keras
    from absl import logging

    from keras_au.models import registry

    cfg = dict(fn_args.custom_config or {})
    model, fold = cfg["model"], int(cfg["fold"])
    task = registry.task_module(model)
    data = stage_folds(fn_args, fold, os.path.join(fn_args.model_run_dir, "data"))
    keep = resume_dir(fn_args, cfg)
    run_dir = os.path.join(keep, "run")
    options = {k: cfg[k] for k in TRAIN_KEYS if cfg.get(k) is not None}
    unlabeled = unlabeled_dir(fn_args)
    if unlabeled:
        options["unlabeled"] = unlabeled
    warm, why = warm_start_file(fn_args, cfg)
    if warm:
        options["warm_start"] = warm
    resumable = os.path.isdir(run_dir)
    logging.info(f"[keras-au] Trainer: {model} fold {fold}, preset {cfg.get('preset', 'paper')}, {options}"
                 + (f"; resuming the interrupted run in {keep}" if resumable else ""))
    task.train(model=model, out=run_dir, data=data, fold=fold, preset=cfg.get("preset", "paper"),
               overrides=dict(cfg.get("overrides") or {}), **options)
    if cfg.get("warm_start"):
        _report_warm_start(run_dir, fold, bool(warm), why)
    from keras_au.distribute import chief_in_env

    if cfg.get("distribute") == "multiworker" and not chief_in_env():
        return  # the chief alone wrote the run and exports the model
    # The finished run moves into this execution's folder; only unfinished runs stay resumable.
    final = os.path.join(fn_args.model_run_dir, "run")
    shutil.rmtree(final, ignore_errors=True)
    shutil.move(run_dir, final)
    shutil.rmtree(keep, ignore_errors=True)
    task.export(run_dir=final, out=fn_args.serving_model_dir)
    # Keras 3 cannot load the SavedModel the Pusher serves: a later --warm-start run reads these weights.
    task.warm_start_weights(final, os.path.join(fn_args.serving_model_dir, WARM_START_DIR))
    keras.backend.clear_session()  # the next fold's Trainer runs in the same process (LocalDagRunner)
