"""Runs the pipeline with TFX's LocalDagRunner: SQLite ML Metadata under the pipeline root, cached.

A re-run (after a kill, or with changed downstream settings) reuses every component whose inputs and
parameters are unchanged: MLMD records those executions as CACHED and the component does not run.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import time
import traceback
from typing import Iterator, Optional, TextIO

from pipeline.components.progress import PREFIX as NOTE_PREFIX
from pipeline.configs import PipelineConfig

_COMPONENT_LOG = re.compile(r"Component (\S+) is (running|finished)\.")


def absolute(cfg: PipelineConfig) -> PipelineConfig:
    """Local paths made absolute: TFX stores URIs in MLMD and executors may run from another cwd."""

    def fix(p: Optional[str]) -> Optional[str]:
        return os.path.abspath(p) if p and "://" not in p else p

    return cfg.replace(
        pipeline_root=fix(cfg.pipeline_root), data_dir=fix(cfg.data_dir), unlabeled_dir=fix(cfg.unlabeled_dir),
        serving_dir=fix(cfg.serving_root), metadata_path=fix(cfg.metadata_file),
    )


class _Progress(logging.Handler):
    """Console lines: one per component start/finish (from LocalDagRunner's log) and the executors' notes."""

    def __init__(self, total: int, stream):
        super().__init__(logging.INFO)
        self.total, self.done, self.started = total, 0, {}
        self.stream = stream

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        m = _COMPONENT_LOG.fullmatch(message)
        if message.startswith(NOTE_PREFIX):
            line = "    " + message[len(NOTE_PREFIX):]
        elif not m:
            return
        elif m.group(2) == "running":
            self.started[m.group(1)] = time.time()
            line = f"[pipeline {self.done + 1}/{self.total}] {m.group(1)} ..."
        else:
            self.done += 1
            took = time.time() - self.started.get(m.group(1), time.time())
            line = f"[pipeline {self.done}/{self.total}] {m.group(1)} done ({took:.1f} s)"
        print(line, file=self.stream, flush=True)


class _WarningsOnly(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING


@contextlib.contextmanager
def _console_and_log(log_path: Optional[str]) -> Iterator[TextIO]:
    """Sends everything written to fd 1/2 (TF, Beam, pip, Keras bars, subprocesses) to ``log_path``.

    Yields a stream on the original stdout for the progress lines. ``None``: no redirection.
    """
    if log_path is None:
        yield sys.stdout
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = (os.dup(1), os.dup(2))
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    console = os.fdopen(os.dup(saved[0]), "w", buffering=1)
    try:
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        yield console
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, log_fd):
            os.close(fd)
        console.close()


@contextlib.contextmanager
def progress(total: int, verbose: bool = False, log_path: Optional[str] = None) -> Iterator[None]:
    """Per-component progress on the console. Not ``verbose``: all other output (TFX INFO logging included)
    goes to ``log_path``, or, without one, only warnings are shown."""
    from absl import logging as absl_logging

    logger = absl_logging.get_absl_logger()
    old_verbosity = absl_logging.get_verbosity()
    others = logging.getLogger().handlers + logger.handlers + [absl_logging.get_absl_handler()]
    quiet = _WarningsOnly()
    filtered = others if not verbose and log_path is None else []
    with _console_and_log(None if verbose else log_path) as console:
        handler = _Progress(total, console)
        for h in filtered:
            h.addFilter(quiet)
        logger.addHandler(handler)
        # Through absl, not logger.setLevel: TensorFlow's SavedModel writer saves and restores the absl
        # verbosity, which would silently drop a level set on the logger alone.
        absl_logging.set_verbosity(absl_logging.INFO)
        try:
            yield
        finally:
            logger.removeHandler(handler)
            absl_logging.set_verbosity(old_verbosity)
            for h in filtered:
                h.removeFilter(quiet)


def run_local(cfg: PipelineConfig, verbose: bool = False) -> dict:
    """Runs the pipeline locally; returns :func:`run_summary` of this run plus ``seconds`` and ``log``.

    Unless ``verbose``, the console shows one line per component and the full output of TFX, Beam and
    Keras goes to ``<pipeline_root>/logs/run-<time>.log``.
    """
    from tfx import v1 as tfx

    from pipeline.pipeline import create_pipeline

    cfg = absolute(cfg)
    os.makedirs(cfg.pipeline_root, exist_ok=True)
    pipeline = create_pipeline(
        cfg, trainer_code="module_file",
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(cfg.metadata_file),
    )
    before = _run_ids(cfg)
    os.makedirs(os.path.join(cfg.pipeline_root, "logs"), exist_ok=True)
    log_path = os.path.join(cfg.pipeline_root, "logs", time.strftime("run-%Y%m%d-%H%M%S.log"))
    start = time.time()
    try:
        with progress(len(pipeline.components), verbose, log_path):
            tfx.orchestration.LocalDagRunner().run(pipeline)
    except Exception as e:
        if not verbose:
            with open(log_path, "a") as f:
                f.write("\n" + traceback.format_exc())
        raise PipelineRunError(f"{type(e).__name__}: {e}", None if verbose else log_path) from e
    summary = run_summary(cfg, exclude_runs=before)
    summary.update(seconds=round(time.time() - start, 1), log=None if verbose else log_path)
    return summary


class PipelineRunError(RuntimeError):
    """A component failed; ``log`` holds the full output of the run (when it was captured)."""

    def __init__(self, message: str, log: Optional[str]):
        super().__init__(message + (f" (full log: {log})" if log else ""))
        self.log = log


def _store(cfg: PipelineConfig):
    from ml_metadata.metadata_store import metadata_store
    from tfx.orchestration import metadata

    return metadata_store.MetadataStore(metadata.sqlite_metadata_connection_config(cfg.metadata_file))


def _run_ids(cfg: PipelineConfig) -> set[int]:
    if not os.path.exists(cfg.metadata_file):
        return set()
    return {c.id for c in _store(cfg).get_contexts_by_type("pipeline_run")}


def run_summary(cfg: PipelineConfig, exclude_runs: set[int] = frozenset()) -> dict:
    """The latest run in MLMD: each component's execution state and its output artifact URIs.

    ``{"run_id", "executions": {node_id: "COMPLETE" | "CACHED" | ...}, "outputs": {node_id: {key: uri}}}``
    """
    from ml_metadata.proto import metadata_store_pb2

    store = _store(cfg)
    runs = [c for c in store.get_contexts_by_type("pipeline_run") if c.id not in exclude_runs]
    if not runs:
        raise RuntimeError(f"no pipeline run recorded in {cfg.metadata_file}")
    run = max(runs, key=lambda c: (c.create_time_since_epoch, c.id))
    executions = store.get_executions_by_context(run.id)
    nodes = {c.id: c.name.split(".", 1)[-1] for c in store.get_contexts_by_type("node")}
    state_name = metadata_store_pb2.Execution.State.Name
    summary: dict = {"run_id": run.name, "executions": {}, "outputs": {}}
    for ex in executions:
        node_ids = [nodes[c.id] for c in store.get_contexts_by_execution(ex.id) if c.id in nodes]
        if not node_ids:
            continue
        node = node_ids[0]
        summary["executions"][node] = state_name(ex.last_known_state)
        outputs = {}
        events = [e for e in store.get_events_by_execution_ids([ex.id]) if e.type == metadata_store_pb2.Event.OUTPUT]
        artifacts = {a.id: a for a in store.get_artifacts_by_id([e.artifact_id for e in events])}
        for e in events:
            key = e.path.steps[0].key if e.path.steps else str(e.artifact_id)
            outputs[key] = artifacts[e.artifact_id].uri
        summary["outputs"][node] = outputs
    return summary
