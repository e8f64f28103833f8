"""Beam's DaskRunner as a first-class engine: the cluster to run on and the flags that point Beam at it.

``--runner dask`` with an address runs on that scheduler (a SLURM/Kubernetes cluster started with
dask-jobqueue or dask-kubernetes, or ``dask scheduler`` + ``dask worker``); without one a
``distributed.LocalCluster`` of N single-threaded worker processes is started for the run and
closed after it. The address is checked before Beam gets it, so an unreachable scheduler fails in
seconds with its name instead of hanging in Beam's client.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
from dataclasses import dataclass
from typing import Iterator, Optional

log = logging.getLogger("keras_au.preprocess")

DASK_RUNNER = "apache_beam.runners.dask.dask_runner.DaskRunner"
DASK_NAMES = ("dask", "daskrunner", DASK_RUNNER.lower())
CONNECT_TIMEOUT_S = 10.0
INSTALL_HINT = (
    "--runner dask needs dask[distributed]: `make setup` installs the pinned version from requirements.txt, "
    "or run `pip install 'dask[distributed]'` (or `pip install 'keras-au[dask]'`) in this environment "
    "and on every Dask worker"
)


class DaskError(RuntimeError):
    """Dask is missing, or its scheduler cannot be reached."""


def is_dask(runner: Optional[str]) -> bool:
    return bool(runner) and runner.lower() in DASK_NAMES


def require_dask() -> None:
    """Raises ``DaskError`` with install instructions when ``distributed`` cannot be imported."""
    try:
        import dask  # noqa: F401
        import distributed  # noqa: F401
    except ImportError as e:
        raise DaskError(f"{INSTALL_HINT} ({e})") from None


@dataclass
class DaskCluster:
    """Where the pipeline runs: the scheduler address and how many worker processes it has."""

    address: str
    workers: int
    local: bool  # started (and closed) by us: workers share this machine's file system


def normalize_address(address: str) -> str:
    """``host:port`` -> ``tcp://host:port``; anything without a port is rejected with a clear message."""
    address = address.strip()
    if "://" not in address:
        address = f"tcp://{address}"
    if not re.fullmatch(r"[a-z0-9+]+://[^/\s]+:\d+/?", address):
        raise DaskError(f"--dask-address {address!r} is not a scheduler address like tcp://HOST:8786")
    return address.rstrip("/")


def _probe(address: str, timeout: float) -> int:
    """Connects once and returns the number of workers; raises ``DaskError`` naming the address."""
    from distributed import Client

    try:
        client = Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as e:
        raise DaskError(f"cannot reach the Dask scheduler at {address} within {timeout:g} s: {e}") from None
    try:
        return len(client.scheduler_info().get("workers", {}))
    finally:
        client.close()


@contextlib.contextmanager
def dask_cluster(address: Optional[str], workers: int, timeout: float = CONNECT_TIMEOUT_S) -> Iterator[DaskCluster]:
    """The cluster to run on: ``address`` (checked) or a LocalCluster of ``workers`` processes for the run."""
    require_dask()
    if address:
        address = normalize_address(address)
        n = _probe(address, timeout)
        if n == 0:
            log.warning("the Dask scheduler at %s has no workers yet: the run waits for them", address)
        yield DaskCluster(address, max(n, 1), local=False)
        return
    from distributed import LocalCluster

    # One thread per worker process: dlib and OpenCV work is CPU-bound, parallelism comes from processes.
    cluster = LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
        silence_logs=logging.ERROR,
    )  # fmt: skip
    try:
        log.info("started a local Dask cluster at %s with %d worker processes", cluster.scheduler_address, workers)
        yield DaskCluster(cluster.scheduler_address, workers, local=True)
    finally:
        _quiet_close(cluster)


def _quiet_close(cluster) -> None:
    """Closes a LocalCluster without the heartbeat tracebacks its workers log while the scheduler goes away."""
    quiet = [logging.getLogger(n) for n in ("distributed", "distributed.worker", "distributed.nanny")]
    levels = [q.level for q in quiet]
    for q in quiet:
        q.setLevel(logging.CRITICAL)
    try:
        cluster.close()
    except Exception as e:  # a failed shutdown must not hide the run's own result
        log.warning("closing the local Dask cluster: %s", e)
    finally:
        for q, level in zip(quiet, levels):
            q.setLevel(level)


def partitions(items: int, workers: int) -> int:
    """Dask bag partitions for ``items`` work items.

    Beam's DaskRunner turns ``Create`` into a bag of 128-item partitions by default, so a small
    dataset would run on one worker (its ``Reshuffle`` is a no-op). Four partitions per worker
    balance uneven sequences; at most 64 items per partition keeps a lost partition cheap to redo.
    """
    return max(1, min(items, max(4 * workers, math.ceil(items / 64))))


def runner_args(cluster: DaskCluster, items: int, args: list[str]) -> list[str]:
    """Beam flags for the DaskRunner on ``cluster`` (the caller's own ``--dask_*`` flags win)."""
    out = drop_flag(args, "--runner")
    out.append(f"--runner={DASK_RUNNER}")
    if not any(a.startswith("--dask_client_address") for a in out):
        out.append(f"--dask_client_address={cluster.address}")
    if not any(a.startswith(("--dask_npartitions", "--dask_partition_size")) for a in out):
        out.append(f"--dask_npartitions={partitions(items, cluster.workers)}")
    return out


def drop_flag(args: list[str], flag: str) -> list[str]:
    """``args`` without ``flag=V`` / ``flag V``."""
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
        elif a == flag:
            skip = True
        elif not a.startswith(f"{flag}="):
            out.append(a)
    return out
