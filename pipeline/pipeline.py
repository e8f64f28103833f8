"""The keras-au TFX pipeline (penguin-template ``create_pipeline``).

    Preprocess (Beam) -> Examples, splits fold-0 / fold-1 / fold-2 [/ unlabeled]
      -> StatisticsGen (scalar features) -> SchemaGen -> ExampleValidator
      [latest_blessed_model_resolver -> every Trainer's base_model, with warm_start]
      -> Trainer_fold<k> (GenericExecutor, run_fn; trains on the other folds)   for each held-out fold k
      -> AUEvaluator_fold<k> (per-AU F1 on fold k)                                for each fold k
      ServedModelEvaluator (the newest loadable version in serving_dir, on every fold)
      -> FoldReport (fold-mean table, served model beside it, blessing by pipeline.gate)
      -> KerasAuPusher (best fold's model -> <serving_dir>/keras_au/<version>/, if blessed)

The runners (``local_runner``, ``kubeflow_runner``) only differ in how the Trainer finds its code:
locally TFX packages ``pipeline/trainer/`` as a wheel (``module_file``), on Kubeflow the code is
referenced by ``run_fn`` path inside the container image.
"""

from __future__ import annotations

import hashlib
import os
from typing import Optional

from pipeline.configs import PipelineConfig, split_name

TRAINER_RUN_FN = "pipeline.trainer.run_fn.run_fn"


def trainer_module_file() -> str:
    """Path of ``pipeline/trainer/run_fn.py`` (TFX packages its folder for local runs)."""
    from pipeline.trainer import run_fn

    return os.path.abspath(run_fn.__file__)


def input_fingerprint(path: Optional[str]) -> str:
    """Hash of the file names, sizes and modification times below a local ``path`` ("" if remote/absent).

    Passed to the Preprocess component as a parameter, so editing the raw data invalidates its cache.
    """
    if not path or "://" in path or not os.path.exists(path):
        return ""
    h = hashlib.sha256()
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            st = os.stat(os.path.join(root, name))
            h.update(f"{os.path.relpath(os.path.join(root, name), path)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


CODE_PACKAGES = ("keras_au", "pipeline", "serving")


def code_fingerprint() -> str:
    """Hash of the Python sources of keras-au's packages.

    TFX's cache key covers a component's inputs and parameters, not the library code it imports; passed
    as a parameter to Preprocess and the Trainers, it makes an upgraded or edited keras-au re-run them
    (and everything downstream) instead of serving results of the old code."""
    import importlib

    h = hashlib.sha256()
    for package in CODE_PACKAGES:
        root = os.path.dirname(os.path.abspath(importlib.import_module(package).__file__))
        for folder, dirs, files in os.walk(root):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(f for f in files if f.endswith(".py")):
                path = os.path.join(folder, name)
                with open(path, "rb") as f:
                    h.update(f"{package}/{os.path.relpath(path, root)}\0".encode() + f.read())
    return h.hexdigest()[:16]


def trainer_custom_config(cfg: PipelineConfig, fold: int, code: str = "") -> dict:
    config = {"model": cfg.model, "preset": cfg.preset, "fold": int(fold), "seed": cfg.seed,
              "overrides": dict(cfg.overrides), "code_fingerprint": code}
    for key in ("epochs", "steps_per_epoch", "batch_size"):
        if getattr(cfg, key) is not None:
            config[key] = int(getattr(cfg, key))
    if cfg.init is not None:
        config["init"] = str(cfg.init)
    if cfg.warm_start:
        config["warm_start"] = True
    if cfg.trainer_distribute:
        config["distribute"] = cfg.trainer_distribute
    return config


def vertex_training_config(cfg: PipelineConfig) -> dict:
    """custom_config keys that make the Trainer a Vertex AI custom job: a chief pool and a worker pool, each
    replica with ``trainer_gpus`` GPUs; Vertex sets TF_CONFIG (chief / worker) in every replica."""
    from tfx import v1 as tfx

    machine = {"machine_type": cfg.trainer_machine_type}
    if cfg.trainer_gpus:
        machine.update(accelerator_type=cfg.trainer_gpu_type, accelerator_count=cfg.trainer_gpus)
    pool = {"machine_spec": machine, "container_spec": {"image_uri": cfg.image}}
    vertex = tfx.extensions.google_cloud_ai_platform
    return {vertex.ENABLE_VERTEX_KEY: True, vertex.VERTEX_REGION_KEY: cfg.vertex_region,
            vertex.TRAINING_ARGS_KEY: {"project": cfg.vertex_project, "worker_pool_specs": [
                {**pool, "replica_count": 1}, {**pool, "replica_count": cfg.trainer_replicas - 1}]}}


def latest_blessed_model_resolver():
    """TFX's warm-start Resolver: the newest Model whose ModelBlessing (FoldReport's, which names the blessed
    best-fold model by ``current_model_id``) says ``blessed``; empty when nothing is blessed yet."""
    from tfx import v1 as tfx

    return tfx.dsl.Resolver(
        strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
        model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
        model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
    ).with_id("latest_blessed_model_resolver")


def create_pipeline(
    cfg: PipelineConfig,
    trainer_code: str = "module_file",
    metadata_connection_config=None,
):
    """Builds the TFX pipeline; ``trainer_code`` is ``"module_file"`` (local) or ``"run_fn"`` (Kubeflow)."""
    import tensorflow_data_validation as tfdv
    from tfx import v1 as tfx

    from pipeline.components.au_evaluator import AUEvaluator
    from pipeline.components.fold_report import FoldReport
    from pipeline.components.preprocess import Preprocess
    from pipeline.components.pusher import KerasAuPusher
    from pipeline.components.served_evaluator import ServedModelEvaluator
    from keras_au.inference.savedmodel import MODEL_NAME

    if trainer_code not in ("module_file", "run_fn"):
        raise ValueError(f"trainer_code must be module_file or run_fn, got {trainer_code!r}")
    code_version = code_fingerprint()
    preprocess = Preprocess(
        dataset=cfg.dataset, input_dir=cfg.data_dir, folds=cfg.folds, unlabeled_dir=cfg.unlabeled_dir,
        flow=cfg.flow, options=cfg.preprocess_options, unlabeled_options=cfg.unlabeled_options,
        input_fingerprint=input_fingerprint(cfg.data_dir)
        + input_fingerprint(cfg.unlabeled_dir),
        code_fingerprint=code_version,
    )
    examples = preprocess.outputs["examples"]
    statistics_gen = tfx.components.StatisticsGen(
        examples=examples, stats_options=tfdv.StatsOptions(feature_allowlist=list(cfg.stats_features))
    )
    schema_gen = tfx.components.SchemaGen(statistics=statistics_gen.outputs["statistics"], infer_feature_shape=True)
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"]
    )
    components = [preprocess, statistics_gen, schema_gen, example_validator]

    code = {"module_file": trainer_module_file()} if trainer_code == "module_file" else {"run_fn": TRAINER_RUN_FN}
    models, evaluations = {}, {}
    # Several replicas: the Vertex Trainer launches a custom job with worker pools (they get TF_CONFIG).
    vertex = cfg.trainer_replicas > 1
    trainer_class = tfx.extensions.google_cloud_ai_platform.Trainer if vertex else tfx.components.Trainer
    base_model = {}
    if cfg.warm_start:
        resolver = latest_blessed_model_resolver()
        components.append(resolver)
        base_model = {"base_model": resolver.outputs["model"]}
    for k in cfg.held_out_folds:
        trainer = trainer_class(
            examples=examples,
            **base_model,
            train_args=tfx.proto.TrainArgs(splits=[split_name(j) for j in cfg.folds if j != k]),
            eval_args=tfx.proto.EvalArgs(splits=[split_name(k)]),
            custom_config={**trainer_custom_config(cfg, k, code_version),
                           **(vertex_training_config(cfg) if vertex else {})},
            **code,
        ).with_id(f"Trainer_fold{k}")
        evaluator = AUEvaluator(
            examples=examples, model=trainer.outputs["model"], fold=k, batch_size=cfg.eval_batch_size
        ).with_id(f"AUEvaluator_fold{k}")
        models[k], evaluations[k] = trainer.outputs["model"], evaluator.outputs["evaluation"]
        components += [trainer, evaluator]
    served = ServedModelEvaluator(
        examples=examples, serving_dir=cfg.serving_root, folds=cfg.held_out_folds, batch_size=cfg.eval_batch_size,
        # The serving dir is no input artifact: its fingerprint keeps the cache from reusing a stale baseline.
        serving_fingerprint=input_fingerprint(os.path.join(cfg.serving_root, MODEL_NAME)),
    )
    report = FoldReport(evaluations=evaluations, gate=cfg.gate, served_evaluation=served.outputs["evaluation"],
                        dataset=cfg.dataset, models=models)
    pusher = KerasAuPusher(models=models, model_blessing=report.outputs["blessing"], serving_dir=cfg.serving_root,
                           dataset=cfg.dataset)
    components += [served, report, pusher]

    return tfx.dsl.Pipeline(
        pipeline_name=cfg.pipeline_name,
        pipeline_root=cfg.pipeline_root,
        components=components,
        enable_cache=cfg.enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=list(cfg.beam_pipeline_args),
    )
