"""`keras-au pipeline run|compile`: the TFX pipeline, locally (cached, MLMD in SQLite) or as a Kubeflow spec.

Unknown ``--flags`` are Beam pipeline args and go to every Beam-using component
(e.g. ``--direct_running_mode=multi_processing --direct_num_workers=2``). ``--runner dask``
[``--dask-address ADDR``] runs only the Preprocess component on Dask: TFX's own Beam components
(statistics, schema, evaluation) use transforms Beam's DaskRunner does not translate.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Optional

from keras_au.cli import CommandError
from keras_au.cli._options import parse_overrides, positive_int
from keras_au.models import registry


def config_from_args(args: argparse.Namespace):
    """PipelineConfig from the shared flags (+ Beam args from the unknown ones)."""
    from pipeline.configs import PipelineConfig

    try:
        return PipelineConfig(
            data_dir=args.data,
            pipeline_root=args.root,
            pipeline_name=args.name,
            dataset=args.dataset,
            unlabeled_dir=args.unlabeled,
            model=args.model,
            preset=args.preset,
            epochs=args.epochs,
            steps_per_epoch=args.steps_per_epoch,
            batch_size=args.batch_size,
            seed=args.seed,
            held_out=args.held_out,
            overrides=parse_overrides(args.set),
            init=args.init,
            warm_start=args.warm_start,
            flow=args.flow,
            preprocess_options=_preprocess_options(args),
            min_mean_f1=args.min_f1,
            min_f1_gain=args.min_f1_gain,
            min_auc=args.min_auc,
            max_f1_drop=args.max_f1_drop,
            serving_dir=args.serving_dir,
            beam_pipeline_args=_beam_args(args),
            enable_cache=args.cache,
            **_trainer_hardware(args),
        )
    except (ValueError, argparse.ArgumentTypeError) as e:
        raise CommandError(str(e)) from e


def _trainer_hardware(args: argparse.Namespace) -> dict:
    """``pipeline compile`` only: GPUs / replicas per Trainer (docs/distributed.md)."""
    keys = ("trainer_gpus", "trainer_replicas", "trainer_gpu_type", "trainer_machine_type", "vertex_project",
            "vertex_region")
    return {k: getattr(args, k) for k in keys if getattr(args, k, None) is not None}


def _preprocess_options(args: argparse.Namespace) -> dict:
    """run_preprocess keyword args from the runner flags (Dask applies to Preprocess only)."""
    from pipeline.beam.dask_cluster import is_dask

    opts: dict = {"workers": args.workers} if args.workers else {}
    if getattr(args, "shards", None):  # given only: the default keeps earlier runs' cache keys
        opts["num_shards"] = args.shards
    if getattr(args, "detect_max_side", None):  # given only: the default keeps earlier runs' cache keys
        opts["detect_max_side"] = args.detect_max_side
    if is_dask(getattr(args, "runner", None)):
        opts["runner"] = "dask"
        if args.dask_address:
            opts["dask_address"] = args.dask_address
    elif getattr(args, "dask_address", None):
        raise CommandError(f"--dask-address {args.dask_address} needs --runner dask")
    return opts


def _beam_args(args: argparse.Namespace) -> list[str]:
    """Beam args for every Beam component: the unknown flags, plus ``--runner`` unless it is dask."""
    from pipeline.beam.dask_cluster import is_dask

    extra = list(getattr(args, "extra", []) or [])
    runner = getattr(args, "runner", None)
    return extra + [f"--runner={runner}"] if runner and not is_dask(runner) else extra


def print_run(summary: dict) -> None:
    """Fold table, push result and cache use of a finished local run."""
    from pipeline.components.fold_report import REPORT_MD
    from pipeline.components.pusher import read_push

    states = summary["executions"]
    cached = sorted(n for n, s in states.items() if s == "CACHED")
    ran = sorted(n for n, s in states.items() if s == "COMPLETE")
    print(f"run {summary['run_id']}: {len(ran)} components ran, {len(cached)} cached, {summary['seconds']} s")
    report_uri = summary["outputs"].get("FoldReport", {}).get("report")
    if report_uri:
        with open(os.path.join(report_uri, REPORT_MD)) as f:
            print(f.read())
    push_uri = summary["outputs"].get("KerasAuPusher", {}).get("pushed_model")
    if push_uri:
        push = read_push(push_uri)
        if push["pushed"]:
            print(f"pushed fold {push['fold']} model -> {push['destination']}")
        else:  # not blessed is a result, not a failure: the run still exits 0
            print(f"nothing pushed: {push['reason']}")
            if push.get("served_destination"):
                print(f"still served: {push['served_destination']}")
    if summary.get("log"):
        print(f"full log: {summary['log']}")


def run_local(args: argparse.Namespace) -> int:
    from pipeline.local_runner import PipelineRunError, run_local

    cfg = config_from_args(args)
    if not os.path.isdir(cfg.data_dir):
        raise CommandError(f"--data {cfg.data_dir}: not a directory")
    try:
        summary = run_local(cfg, verbose=args.verbose)
    except PipelineRunError as e:
        raise CommandError(f"pipeline failed: {e}") from e
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print_run(summary)
    return 0


def compile_spec(args: argparse.Namespace) -> int:
    from pipeline.kubeflow_runner import compile_kubeflow

    cfg = config_from_args(args)
    try:
        path = compile_kubeflow(cfg, args.kubeflow, args.image)
    except ValueError as e:
        raise CommandError(str(e)) from e
    print(path)
    return 0


def _add_config_flags(p: argparse.ArgumentParser, root_default: str | None) -> None:
    p.add_argument("--data", required=True, help="raw dataset root (BP4D or DISFA layout)")
    p.add_argument("--dataset", default="bp4d", choices=["bp4d", "disfa"], help="layout of --data (default bp4d)")
    p.add_argument("--unlabeled", help="folder of unlabeled images/videos for the auxiliary tasks (optional)")
    if root_default:
        p.add_argument("--root", default=root_default, help=f"pipeline root: artifacts + MLMD (default {root_default})")
    else:
        p.add_argument("--root", required=True, help="pipeline root the cluster can write (e.g. gs://bucket/keras-au)")
    p.add_argument("--name", default="keras-au", help="pipeline name, [a-z0-9][a-z0-9-]{0,127} (default keras-au)")
    p.add_argument("--model", default="rtatl", choices=registry.model_names(), help="model trained per fold")
    p.add_argument("--preset", default="paper", choices=["paper", "demo", "ci"],
                   help="model/training size: paper (default), demo (CPU-sized), ci (tiny)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a model config field (repeatable)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--steps-per-epoch", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--seed", type=int, default=0)
    add_held_out_flag(p, None)
    p.add_argument("--init", metavar="scratch|imagenet|PRESET|DIR",
                   help="every fold's initial backbone weights, as `keras-au train --init` (default: scratch)")
    p.add_argument("--warm-start", action="store_true",
                   help="continuous training: every Trainer starts from the latest blessed model (TFX Resolver, "
                   "LatestBlessedModelStrategy); nothing blessed yet, or unusable: from --init")
    p.add_argument("--flow", action=argparse.BooleanOptionalAction, default=True,
                   help="TV-L1 flow targets for the OFE task (default on)")
    p.add_argument("--workers", type=int,
                   help="preprocessing worker processes: FnApiRunner or local Dask cluster (default: Beam args or 1)")
    p.add_argument("--shards", type=positive_int, metavar="N",
                   help="N shards per fold, written in a fixed order (the same records in the same order on every "
                   "run, so a seed repeats its training; a shuffle of the examples). Default: one file per Beam "
                   "bundle, in the workers' order")
    p.add_argument("--detect-max-side", type=positive_int, metavar="PX",
                   help="face detection on a copy at most PX on its longer side, as `keras-au preprocess` "
                   "(default 1024)")
    p.add_argument("--runner", help="dask: run the Preprocess component on Dask; any other Beam runner name is "
                   "passed to every Beam component as --runner")
    p.add_argument("--dask-address", metavar="ADDR",
                   help="with --runner dask: the scheduler (default: a local cluster)")
    p.add_argument("--min-f1", type=float, default=0.5,
                   help="absolute blessing bar on the fold-mean macro F1, 0..1 (default 0.5)")
    add_gate_flags(p)
    p.add_argument("--serving-dir", help="Pusher destination (default <root>/serving_model); gets keras_au/<version>/")
    p.add_argument("--cache", action=argparse.BooleanOptionalAction, default=True,
                   help="reuse finished components from earlier runs (default on)")


def fold_list(text: str) -> Optional[tuple[int, ...]]:
    """``--held-out`` value: ``all`` or comma-separated fold numbers."""
    if text == "all":
        return None
    try:
        return tuple(int(k) for k in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'all' or fold numbers like 0,2, got {text!r}") from None


def add_held_out_flag(p: argparse.ArgumentParser, default: Optional[tuple[int, ...]]) -> None:
    shown = "all" if default is None else ",".join(map(str, default))
    p.add_argument("--held-out", type=fold_list, default=default, metavar="all|K[,K]",
                   help=f"folds that get a Trainer, each trained on the others (default {shown}; all = the "
                   "papers' 3-fold protocol)")


def add_gate_flags(p: argparse.ArgumentParser) -> None:
    """The relative blessing bars (``pipeline.gate``); ``keras-au demo`` uses the same flags and defaults."""
    try:
        from pipeline.gate import GateConfig as G  # pure Python: no TFX import
    except ModuleNotFoundError:  # installed from the wheel: the command itself says it needs a checkout
        return

    p.add_argument("--min-f1-gain", type=float, default=G.min_f1_gain, help="fold-mean macro F1 must beat the "
                   f"all-positive predictor's by this much (default {G.min_f1_gain})")
    p.add_argument("--min-auc", type=float, default=G.min_auc,
                   help=f"every fold's macro ROC AUC must reach this (default {G.min_auc})")
    p.add_argument("--max-f1-drop", type=float, default=G.max_f1_drop,
                   help=f"largest macro F1 drop allowed against the served model (default {G.max_f1_drop})")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pipeline", help="TFX pipeline: run locally (cached) or compile for Kubeflow")
    psub = p.add_subparsers(dest="pipeline_command", metavar="SUBCOMMAND")
    r = psub.add_parser("run", help="run with LocalDagRunner (SQLite MLMD under --root; re-runs reuse the cache)")
    _add_config_flags(r, os.path.join("runs", "pipeline"))
    r.add_argument("--verbose", action="store_true", help="show TFX/Beam/Keras output instead of writing it to a log")
    r.add_argument("--json", action="store_true", help="print the run summary (states, artifact URIs) as JSON")
    r.set_defaults(func=run_local, accepts_extra=True)
    c = psub.add_parser("compile", help="compile a Kubeflow Pipelines v2 spec (KubeflowV2DagRunner), offline")
    c.add_argument("--kubeflow", required=True, metavar="OUT.yaml", help="spec to write (.yaml or .json)")
    c.add_argument("--image", required=True, help="container image with keras-au installed")
    c.add_argument("--trainer-gpus", type=int, metavar="N",
                   help="GPUs per Trainer (replica); > 1 trains with --distribute mirrored")
    c.add_argument("--trainer-replicas", type=int, metavar="R",
                   help="Trainer replicas; > 1 trains multiworker as a Vertex AI custom job (needs --vertex-project)")
    c.add_argument("--trainer-gpu-type", metavar="TYPE", help="accelerator type (default NVIDIA_H100_80GB)")
    c.add_argument("--trainer-machine-type", metavar="TYPE", help="Vertex machine type of each replica")
    c.add_argument("--vertex-project", help="with --trainer-replicas: the Google Cloud project of the custom job")
    c.add_argument("--vertex-region", help="with --trainer-replicas: its region (default us-central1)")
    _add_config_flags(c, None)
    c.set_defaults(func=compile_spec, accepts_extra=True)
    p.set_defaults(func=lambda args: p.print_help() or 1)
