"""Face preprocessing on Beam: work items -> aligned faces (+ TV-L1 flow) -> sharded TFRecords per fold.

``run_preprocess`` lists a dataset, runs the pipeline (Beam's local FnApiRunner by default, Dask with
``runner="dask"``, any Beam runner through ``beam_args``) into a staging folder next to the output,
then publishes it:

    <out>/fold-<k>/<name>-SSSSS-of-NNNNN.tfrecord.gz   examples of subjects in fold k
    <out>/report.json                                   accounting, per-fold counts, timings
    <out>/dead_letter.jsonl                             one line per skipped frame: path, frame, reason
    <out>/label_issues.jsonl                            frames without labels / label rows without frames

Re-running into the same output replaces this dataset's shards (other datasets' shards in the
same fold folders are kept), so examples are never duplicated; a failed run leaves the old
output untouched. ``build_pipeline`` adds the same transforms to a caller's ``beam.Pipeline``: one
chain of ParDos ending in one sink (``pipeline.beam.sinks``), the shape every runner executes alike.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
import uuid
from typing import Optional, Sequence

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.options.pipeline_options import PipelineOptions

from keras_au.datasets import NUM_FOLDS, WorkItem, list_dataset
from keras_au.data.schema import FLOW_SIZE, IMAGE_SIZE
from keras_au.flow import DEFAULT_PRESET, TVL1Params
from pipeline.beam import dask_cluster
from pipeline.beam.outputs import REPORT_FILE, delete_tree, publish, write_json
from pipeline.beam.progress import Progress
from pipeline.beam.sequence import PreprocessOptions, SequenceProcessor
from pipeline.beam.sinks import write_outputs

log = logging.getLogger("keras_au.preprocess")

PROGRESS_DIR = "progress"
LOCAL_RUNNERS = ("directrunner", "direct", "switchingdirectrunner", "bundlebasedirectrunner", "prismrunner")


_PROCESSORS: dict = {}  # per worker process: options -> SequenceProcessor (dlib's models load once)


class ProcessItemsFn(beam.DoFn):
    """Work item -> ``("example", fold, bytes, key)``, ``("skip", dict)``, ``("issue", dict)``, ``("stats", dict)``.

    One output with a kind field instead of tagged outputs: the DaskRunner does not separate tags.
    """

    def __init__(self, options: PreprocessOptions, progress_dir: Optional[str] = None):
        self.options = options
        self.progress_dir = progress_dir

    def setup(self):
        import cv2

        # dlib/OpenCV objects are not picklable: built here. The DaskRunner calls setup once per
        # partition, so the processor is kept for the worker process's lifetime.
        cv2.setNumThreads(self.options.opencv_threads)
        if self.options not in _PROCESSORS:
            processor = SequenceProcessor(self.options)
            processor.warm_up()
            _PROCESSORS[self.options] = processor
        self.processor = _PROCESSORS[self.options]
        self.frames = Metrics.counter("keras_au", "frames_read")
        self.written = Metrics.counter("keras_au", "examples_written")
        self.items = Metrics.counter("keras_au", "items")
        self._progress_file = None
        if self.progress_dir:
            self._progress_file = os.path.join(self.progress_dir, f"{os.getpid()}-{uuid.uuid4().hex[:8]}")
        self._done = [0, 0, time.monotonic()]  # items, frames, time of the last log line

    def process(self, item: WorkItem):
        for rec in self.processor.process(item):
            if rec[0] == "stats":
                self._count(rec[1])
            yield rec

    def _count(self, stats: dict) -> None:
        self.items.inc()
        self.frames.inc(stats["frames_read"])
        self.written.inc(stats["examples_written"])
        for reason, n in stats["skipped"].items():
            Metrics.counter("keras_au.skipped", reason).inc(n)
        if self._progress_file:
            with open(self._progress_file, "a") as f:
                f.write(f"{stats['frames_read']}\n")
        self._done[0] += 1
        self._done[1] += stats["frames_read"]
        if time.monotonic() - self._done[2] > 30:  # periodic log lines for runners without our progress bar
            self._done[2] = time.monotonic()
            log.info("keras-au preprocess worker %d: %d items, %d frames", os.getpid(), *self._done[:2])


def build_pipeline(
    p: beam.Pipeline,
    items: Sequence[WorkItem],
    work_dir: str,
    options: PreprocessOptions,
    name: str,
    num_folds: int = NUM_FOLDS,
    num_shards: int = 0,
    progress_dir: Optional[str] = None,
) -> beam.PCollection:
    """Adds the preprocessing transforms to ``p``; everything is written below ``work_dir``.

    Examples go to ``work_dir/parts/fold-<k>/`` (listed in ``shards.json``; ``publish`` names them),
    merged stats to ``stats.json``, skipped frames to ``dead_letter.jsonl``, label issues to
    ``label_issues.jsonl``. ``num_shards`` > 0 groups each fold into that many shards (a shuffle);
    0 writes one file per fold and bundle. Returns the last PCollection (the written side files).
    ``name`` and ``num_folds`` are kept for callers; folds come from the items.
    """
    records = (
        p
        | "ListItems" >> beam.Create(list(items))
        | "Spread" >> beam.Reshuffle()  # one long sequence must not pin every item to one worker
        | "Faces" >> beam.ParDo(ProcessItemsFn(options, progress_dir))
    )
    return write_outputs(records, work_dir, num_shards)


def pipeline_args(workers: int = 1, beam_args: Optional[Sequence[str]] = None) -> list[str]:
    """Beam flags: the caller's, plus a multi-process DirectRunner with ``workers`` when no runner is set."""
    args = list(beam_args or [])
    runner = _flag(args, "runner") or "DirectRunner"
    if runner.lower() not in LOCAL_RUNNERS:
        return args
    num = _flag(args, "direct_num_workers")  # the caller's Beam flags win over ``workers``
    if num is None:
        num = str(workers)
        args.append(f"--direct_num_workers={num}")
    if _flag(args, "direct_running_mode") is None:
        args.append(f"--direct_running_mode={'in_memory' if num == '1' else 'multi_processing'}")
    return args


def _direct_runner(options: PipelineOptions):
    """The DirectRunner's local FnApiRunner, built directly.

    Beam 2.74's DirectRunner first tries the Prism runner, which it downloads from GitHub (impossible
    offline, and a different engine when it works); the FnApiRunner is what honours
    ``direct_running_mode``/``direct_num_workers``. Falls back to the DirectRunner if Beam's
    internals change.
    """
    try:
        from apache_beam.portability.api import beam_provision_api_pb2
        from apache_beam.runners.portability.fn_api_runner import fn_runner
        from apache_beam.runners.portability.portable_runner import JobServiceHandle

        encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
        info = fn_runner.ExtendedProvisionInfo(beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded))
        return fn_runner.FnApiRunner(provision_info=info)
    except (ImportError, AttributeError, TypeError) as e:
        log.warning("using Beam's DirectRunner (FnApiRunner unavailable: %s)", e)
        return None


def _flag(args: Sequence[str], name: str) -> Optional[str]:
    for i, a in enumerate(args):
        if a.startswith(f"--{name}="):
            return a.split("=", 1)[1]
        if a == f"--{name}" and i + 1 < len(args):
            return args[i + 1]
    return None


def run_preprocess(
    dataset: str,
    input_dir: str,
    output_dir: str,
    flow: bool = True,
    workers: int = 1,
    beam_args: Optional[Sequence[str]] = None,
    labels: Optional[str] = None,
    aus: Optional[Sequence[int]] = None,
    max_frames_per_sequence: Optional[int] = None,
    frame_step: int = 1,
    tvl1: str | TVL1Params = DEFAULT_PRESET,
    num_folds: int = NUM_FOLDS,
    num_shards: int = 0,
    min_face_size: int = 40,
    detect_max_side: int = 1024,
    name: Optional[str] = None,
    progress: bool = True,
    runner: Optional[str] = None,
    dask_address: Optional[str] = None,
) -> dict:
    """Preprocesses ``dataset`` (bp4d, disfa, emotionet, folder) under ``input_dir`` into ``output_dir``.

    Returns the report (also written to ``<output_dir>/report.json``). ``runner="dask"`` runs on the
    Dask scheduler at ``dask_address``, or on a local cluster of ``workers`` processes started for
    the run. ``beam_args`` are passed to Beam unchanged (``--runner``, ``--flink_master`` ...); without
    a runner the local FnApiRunner with ``workers`` processes is used. ``tvl1`` is a preset name plus
    overrides (``"fast"``, ``"opencv,warps=3"``) or ``TVL1Params``.
    """
    t_start = time.perf_counter()
    name = name or dataset.lower()
    if not re.fullmatch(r"[A-Za-z0-9_.]+", name):
        raise ValueError(f"dataset name {name!r} may only hold letters, digits, '_' and '.' (it prefixes shard files)")
    beam_args = list(beam_args or [])
    if runner:
        beam_args = dask_cluster.drop_flag(beam_args, "--runner") + [f"--runner={runner}"]
    chosen = _flag(beam_args, "runner")
    use_dask = dask_cluster.is_dask(chosen) or (bool(dask_address) and not chosen)  # an address implies dask
    if dask_address and not use_dask:
        raise ValueError(f"--dask-address {dask_address} needs --runner dask (got --runner {chosen})")
    if use_dask:
        dask_cluster.require_dask()  # before listing a large dataset
    listing = list_dataset(dataset, input_dir, labels=labels, aus=aus, num_folds=num_folds)
    params = tvl1 if isinstance(tvl1, TVL1Params) else TVL1Params.parse(tvl1)
    options = PreprocessOptions(
        flow=flow,
        tvl1=params,
        frame_step=frame_step,
        max_frames_per_sequence=max_frames_per_sequence,
        min_face_size=min_face_size,
        detect_max_side=detect_max_side,
        dataset_name=name,
    )
    staging = os.path.join(output_dir, f".staging-{name}-{uuid.uuid4().hex[:8]}")
    t_list = time.perf_counter()
    try:
        with _engine(use_dask, dask_address, workers, beam_args, len(listing.items)) as (args, local, n_workers):
            runner_name = _flag(args, "runner") or "DirectRunner"
            local = local and "://" not in output_dir
            progress_dir = os.path.join(staging, PROGRESS_DIR) if local and progress else None
            if "://" not in output_dir:
                os.makedirs(progress_dir or staging, exist_ok=True)
            log.info("preprocess %s: %d work items from %s, runner %s", name, len(listing.items), input_dir,
                     runner_name)  # fmt: skip
            beam_options = PipelineOptions(args)
            runner_obj = _direct_runner(beam_options) if _flag(args, "runner") is None else None
            p = beam.Pipeline(runner=runner_obj, options=beam_options)
            build_pipeline(p, listing.items, staging, options, name, num_folds, num_shards, progress_dir)
            with Progress(progress_dir, len(listing.items), enabled=progress_dir is not None):
                result = _run(p, runner_name)
        t_run = time.perf_counter()
        report = publish(staging, output_dir, name, num_folds, listing)
    finally:
        delete_tree(staging)
    report.update(
        dataset=name,
        input=os.path.abspath(input_dir),
        output=output_dir,
        runner=runner_name,
        workers=n_workers,
        beam_args=beam_args,
        engine_args=list(args),  # what Beam got: beam_args plus the runner's flags chosen here
        options={**options.to_dict(), "num_folds": num_folds, "labels": listing.labels_file},
        # What the records' flow means (also in each record: flow_preset, flow_resolution).
        flow_target={"enabled": flow, "preset": params.label, "resolution": params.resolution(IMAGE_SIZE),
                     "grid": FLOW_SIZE},
    )
    report.update(_counters(result, report))
    t_end = time.perf_counter()
    report["timings"] = _timings(report, t_list - t_start, t_run - t_list, t_end - t_run)
    write_json(os.path.join(output_dir, REPORT_FILE), report)
    log.info(
        "preprocess %s: %d frames read, %d examples written, %d skipped %s",
        name, report["frames_read"], report["examples_written"], sum(report["skipped"].values()), report["skipped"],
    )  # fmt: skip
    return report


@contextlib.contextmanager
def _engine(use_dask: bool, address: Optional[str], workers: int, beam_args: list[str], items: int):
    """Yields (Beam args, workers share this file system, worker count) for the chosen engine."""
    if not use_dask:
        args = pipeline_args(workers, beam_args)
        runner = _flag(args, "runner") or "DirectRunner"
        local = runner.lower() in LOCAL_RUNNERS
        yield args, local, int(_flag(args, "direct_num_workers") or 0) if local else None
        return
    timeout = _flag(beam_args, "dask_connection_timeout")  # Beam's own flag also bounds our first probe
    try:
        timeout_s = float(timeout) if timeout else dask_cluster.CONNECT_TIMEOUT_S
    except ValueError:
        raise ValueError(f"--dask_connection_timeout takes seconds, got {timeout!r}") from None
    with dask_cluster.dask_cluster(address, workers, timeout_s) as cluster:
        yield dask_cluster.runner_args(cluster, items, beam_args), cluster.local, cluster.workers


def _run(p: beam.Pipeline, runner: str):
    """Runs ``p`` to the end; a failed run raises (the caller keeps the old output)."""
    result = p.run()
    try:
        state = result.wait_until_finish()
    except Exception as e:
        if dask_cluster.is_dask(runner):  # e.g. distributed's KilledWorker after repeated worker deaths
            raise RuntimeError(f"the Dask run failed ({type(e).__name__}: {e}); the output folder is unchanged") from e
        raise
    finally:
        client = getattr(result, "client", None)
        if client is not None:  # the DaskRunner opens a client and never closes it
            client.close()
    if str(state).split(".")[-1] not in ("DONE", "UNKNOWN"):
        raise RuntimeError(f"Beam pipeline ended in state {state}")
    return result


def _timings(report: dict, list_s: float, pipeline_s: float, publish_s: float) -> dict:
    frames = report["frames_read"]
    per_frame = {k: round(1000 * v / frames, 2) for k, v in report["stage_seconds"].items()} if frames else {}
    return {
        "list_s": round(list_s, 3),
        "pipeline_s": round(pipeline_s, 3),
        "publish_s": round(publish_s, 3),
        "frames_per_s": round(frames / pipeline_s, 2) if pipeline_s > 0 else None,
        "stage_ms_per_frame": per_frame,  # CPU time per frame read, summed over workers
    }


def _counters(result, report: dict) -> dict:
    """Beam's counters when the runner reports them; otherwise the same names from the report's accounting.

    The DaskRunner has no metrics (``NotImplementedError``), some portable runners neither; the
    accounting in stats.json is authoritative on every runner, so it fills in.
    """
    try:
        res = result.metrics().query()
        counters = {f"{c.key.metric.namespace}:{c.key.metric.name}": c.committed for c in res["counters"]}
        if counters:
            return {"counters": counters, "counters_source": "beam"}
    except Exception:
        pass
    counters = {
        "keras_au:items": report["items"],
        "keras_au:frames_read": report["frames_read"],
        "keras_au:examples_written": report["examples_written"],
    }
    counters.update({f"keras_au.skipped:{k}": v for k, v in report["skipped"].items()})
    return {"counters": counters, "counters_source": "report"}
