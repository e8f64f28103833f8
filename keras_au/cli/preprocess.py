"""`keras-au preprocess`: raw media -> aligned faces + TV-L1 flow -> sharded TFRecords per fold (Beam).

``--runner dask [--dask-address tcp://HOST:8786] [--workers N]`` runs Beam on Dask (a local cluster of
N processes when no address is given). Unknown flags are passed to Beam unchanged, e.g.
``--runner FlinkRunner --flink_master=host:8081``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os

from keras_au.cli import CommandError
from keras_au.cli._options import positive_int

DATASETS = ("bp4d", "disfa", "emotionet", "folder")


def _aus(value: str) -> tuple[int, ...]:
    from keras_au.au import dataset_aus

    try:
        return dataset_aus(value)
    except KeyError:
        pass
    try:
        return tuple(int(v.strip().upper().removeprefix("AU")) for v in value.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"--aus takes a dataset name or AU numbers like 1,2,4, got {value!r}")


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # workers inherit it: TensorFlow is only used for protos
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    logging.getLogger("keras_au.preprocess").setLevel(logging.INFO)
    if not args.verbose:
        logging.getLogger("apache_beam").setLevel(logging.ERROR)
        # Dask reads its logging levels from the environment at import, here and in its worker processes.
        os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "error")
    if not os.path.isdir(args.input):
        raise CommandError(f"--input {args.input} is not a directory")
    if args.labels and not os.path.isfile(args.labels):
        raise CommandError(f"--labels {args.labels} does not exist")
    from keras_au.flow import TVL1Params
    from pipeline.beam.dask_cluster import DaskError
    from pipeline.beam.preprocess import run_preprocess  # the CLI is the one library part that imports pipeline/

    try:
        TVL1Params.parse(args.tvl1)
        report = run_preprocess(
            args.dataset,
            args.input,
            args.output,
            flow=not args.no_flow,
            workers=args.workers,
            beam_args=args.extra,
            labels=args.labels,
            aus=args.aus,
            max_frames_per_sequence=args.max_frames_per_sequence,
            frame_step=args.frame_step,
            tvl1=args.tvl1,
            num_folds=args.folds,
            num_shards=args.shards,
            min_face_size=args.min_face_size,
            detect_max_side=args.detect_max_side,
            name=args.name,
            progress=not args.no_progress,
            dask_address=args.dask_address,
        )
    except (ValueError, FileNotFoundError, DaskError) as e:
        raise CommandError(str(e)) from e
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    skipped = sum(report["skipped"].values())
    print(
        f"{report['examples_written']} examples written from {report['frames_read']} frames "
        f"({skipped} skipped{': ' + ', '.join(f'{k} {v}' for k, v in report['skipped'].items()) if skipped else ''})"
    )
    for k, fold in report["folds"].items():
        print(f"  fold-{k}: {fold['examples']} examples, {fold['subjects']} subjects, {fold['with_flow']} with flow")
    labels = report["labels"]
    if labels["label_missing"] or labels["label_without_frame"]:
        print(f"  labels: {labels['label_missing']} frames without a label row (written as unknown), "
              f"{labels['label_without_frame']} label rows without a frame (see label_issues.jsonl)")
    print(f"  {report['timings']['frames_per_s']} frames/s; report: {os.path.join(args.output, 'report.json')}")
    if skipped:
        print(f"  skipped frames: {os.path.join(args.output, 'dead_letter.jsonl')}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "preprocess",
        help="faces -> aligned 200x200 + landmarks + TV-L1 flow -> TFRecords per fold (Apache Beam)",
        description="Detects, aligns and (for videos) computes TV-L1 flow for every frame, writing "
        "<output>/fold-<k>/<dataset>-*.tfrecord.gz, report.json and dead_letter.jsonl. "
        "--runner dask runs Beam on Dask (--dask-address, or a local cluster of --workers processes). "
        "Unknown flags go to Beam (e.g. --runner FlinkRunner --flink_master=host:8081).",
    )
    p.add_argument("--dataset", required=True, choices=DATASETS)
    p.add_argument("--input", required=True, help="dataset root (see docs for the expected layouts)")
    p.add_argument("--output", required=True, help="output folder (this dataset's old shards are replaced)")
    p.add_argument("--no-flow", action="store_true", help="skip TV-L1 flow targets (has_flow=0 everywhere)")
    p.add_argument("--workers", type=positive_int, default=1,
                   help="local worker processes: FnApiRunner, or the local Dask cluster of --runner dask (default 1)")
    p.add_argument("--dask-address", metavar="ADDR",
                   help="with --runner dask: scheduler to run on, e.g. tcp://HOST:8786 (default: a local cluster)")
    p.add_argument("--labels", help="labels CSV for emotionet/folder (file column + AU columns)")
    p.add_argument("--aus", type=_aus, help="AU set of the records: a dataset name or e.g. 1,2,4 (default per dataset)")
    p.add_argument("--max-frames-per-sequence", type=positive_int, help="at most N frames per sequence/video")
    p.add_argument("--frame-step", type=positive_int, default=1, help="keep every N-th frame (flow still uses t+3)")
    p.add_argument("--tvl1", default="model",
                   help="TV-L1 preset plus overrides: model (default: fast on 64x64 pairs, for the 48x48 flow head), "
                   "fast or opencv (full 200x200), test; e.g. fast,size=100 or opencv,warps=3")
    p.add_argument("--folds", type=positive_int, default=3, help="number of folds (3: standard BP4D/DISFA parts)")
    p.add_argument("--shards", type=int, default=0, help="shards per fold (0: let the runner decide)")
    p.add_argument("--min-face-size", type=int, default=40, help="skip faces smaller than this (px, tiny_face)")
    p.add_argument("--detect-max-side", type=positive_int, default=1024, help="detect on a copy at most this large")
    p.add_argument("--name", help="dataset name in the records and shard names (default: --dataset)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--verbose", action="store_true", help="show Beam's log")
    p.set_defaults(func=run, accepts_extra=True)
