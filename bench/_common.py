"""What every bench script shares: the import path, one timer, one machine description, the results path.

Import it first (``import _common``): it puts the repository root on ``sys.path`` so ``keras_au``,
``pipeline`` and ``serving`` import from the checkout when a script runs as ``python bench/NAME.py``.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import resource
import sys
import time
from typing import Any, Callable

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

RESULTS_DIR = os.path.join(ROOT, "bench", "results")
MACHINE_KEYS = ("date", "host", "cpu_model", "cpus", "load_avg", "python", "tensorflow", "keras", "gpus")


def results_path(name: str) -> str:
    """``bench/results/NAME.json`` (``NAME`` may carry its own extension, e.g. ``.jsonl``)."""
    return os.path.join(RESULTS_DIR, name if os.path.splitext(name)[1] else f"{name}.json")


def write_results(path: str, result: dict, machine: dict | None = None) -> str:
    """Write ``result`` as indented JSON to ``path`` (folders made as needed); returns ``path``.

    ``machine`` (from ``machine_info`` at the start) is stored under ``"machine"`` with ``load_avg_end`` added.
    """
    if machine is not None:
        result["machine"] = {**machine, "load_avg_end": load_avg()}
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(result, f, indent=2)
    return path


def cpu_seconds(children: bool = False) -> float:
    """User + system CPU time of this process (all threads); ``children`` adds its finished child processes
    (Beam's workers), which ``time.process_time`` leaves out."""
    who = [resource.RUSAGE_SELF] + ([resource.RUSAGE_CHILDREN] if children else [])
    return sum(u.ru_utime + u.ru_stime for u in map(resource.getrusage, who))


class Timer:
    """Wall and CPU seconds of a ``with`` block. CPU time is reported beside wall time because the machines
    are shared: CPU seconds per unit of work stay comparable when other jobs take cores away."""

    def __init__(self, children: bool = False):
        self.children = children
        self.wall = self.cpu = 0.0

    def start(self) -> "Timer":
        self._t0, self._c0 = time.perf_counter(), cpu_seconds(self.children)
        return self

    __enter__ = start

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._t0
        self.cpu = cpu_seconds(self.children) - self._c0

    def elapsed(self) -> float:
        """Wall seconds since the start."""
        return time.perf_counter() - self._t0


def best_of(fn: Callable[[], Any], repeat: int, warmup: int = 1) -> Timer:
    """Fastest of ``repeat`` calls after ``warmup`` untimed ones (model loading, first-call allocations).

    The minimum is the least disturbed estimate on a shared machine; wall and CPU are minimised separately.
    """
    for _ in range(warmup):
        fn()
    best = Timer()
    best.wall = best.cpu = float("inf")
    for _ in range(repeat):
        with Timer() as t:
            fn()
        best.wall, best.cpu = min(best.wall, t.wall), min(best.cpu, t.cpu)
    return best


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def load_avg() -> list[float]:
    """1, 5 and 15 minute load averages, rounded."""
    return [round(x, 2) for x in os.getloadavg()]


def machine_info() -> dict:
    """The machine a result was measured on, under ``MACHINE_KEYS`` (call it at the start: ``load_avg`` is
    the load before the run; scripts add ``load_avg_end`` when they finish)."""
    import keras
    import tensorflow as tf

    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": platform.node(),
        "cpu_model": _cpu_model(),
        "cpus": os.cpu_count(),
        "load_avg": load_avg(),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
    }
