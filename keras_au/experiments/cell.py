"""One study cell in its own process: ``python -m keras_au.experiments.cell CELL_DIR [PARENT_PID]``.

A cell directory is an ordinary run directory (``run.json``, ``checkpoint/``, ``logs/``, ``history.json``,
``eval/``) plus the study's files: ``cell.json`` (what to run), ``cell.log`` (this process's output, every
attempt appended), ``result.json`` (written last and atomically: the marker of a finished cell) and
``failed.json`` (written by the runner when the process exits non-zero).
"""

from __future__ import annotations

import os
import sys
import time

from keras_au.jsonio import read_json, write_json

SPEC, RESULT, FAILED, LOG = "cell.json", "result.json", "failed.json", "cell.log"


def _kept(scores: dict) -> dict:
    """The scores a result keeps: ``files`` names paths of this machine's run directory."""
    return {k: v for k, v in scores.items() if k != "files"}


def run_cell(cell_dir: str) -> dict:
    """Trains (resuming from the cell's own checkpoint through ``train``), evaluates, writes ``result.json``."""
    from keras_au.models import registry

    spec = read_json(os.path.join(cell_dir, SPEC))
    if spec is None:
        raise FileNotFoundError(f"{cell_dir} has no readable {SPEC}")
    task = registry.task_module(spec["model"])
    start = time.time()
    trained = task.train(out=cell_dir, verbose=2, **spec["train"])
    scores = task.evaluate(run_dir=cell_dir)
    result = {"id": spec["id"], "train": trained, "seconds": round(time.time() - start, 1),
              "scores": _kept(scores)}
    write_json(os.path.join(cell_dir, RESULT), result)
    return result


def rescore_cell(cell_dir: str) -> dict:
    """Evaluates a finished cell again with today's ``evaluate`` (new metrics, fixed scoring) and replaces
    the scores in ``result.json``; the training record is kept. No training."""
    from keras_au.models import registry

    spec, result = read_json(os.path.join(cell_dir, SPEC)), read_json(os.path.join(cell_dir, RESULT))
    if spec is None or result is None:
        raise FileNotFoundError(f"{cell_dir} is not a finished cell (needs {SPEC} and {RESULT})")
    scores = registry.task_module(spec["model"]).evaluate(run_dir=cell_dir, progress=False)
    result = {**result, "scores": _kept(scores),
              "rescored": time.strftime("%Y-%m-%d %H:%M:%S")}
    write_json(os.path.join(cell_dir, RESULT), result)
    return result


def _die_with_parent(parent_pid: int) -> None:
    """Linux: the kernel sends SIGTERM when the study process dies, so a killed study leaves no orphan
    training on (it would race the resumed study for the same run directory)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        return
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        sys.exit(143)


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        _die_with_parent(int(argv[1]))
    run_cell(argv[0])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
