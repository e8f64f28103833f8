"""MultiWorkerMirrored: 2 local `keras-au train` worker processes on loopback; the chief writes, a checkpoint
written under the strategy resumes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# -- multiworker: 2 local worker processes on loopback ------------------------------------------------------
def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _launch_workers(tmp_path, records: str, out: str, epochs: int, attempt: int) -> tuple[list, list[str]]:
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs, scratch = [], []
    for i in range(2):
        tmp = tmp_path / f"tmp-worker{i}-e{epochs}-{attempt}"
        tmp.mkdir()
        scratch.append(str(tmp))
        env = dict(os.environ, TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}}),
                   TMPDIR=str(tmp), TF_CPP_MIN_LOG_LEVEL="2")
        cmd = [sys.executable, "-m", "keras_au.cli", "train", "--model", "backbone_t", "--data", records,
               "--fold", "0", "--out", out, "--preset", "ci", "--epochs", str(epochs), "--steps-per-epoch", "2",
               "--batch-size", "4", "--seed", "1", "--distribute", "multiworker"]
        procs.append(subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True))
    return procs, scratch


def _run_workers(tmp_path, records: str, out: str, epochs: int) -> list[str]:
    for attempt in range(2):
        procs, scratch = _launch_workers(tmp_path, records, out, epochs, attempt)
        logs = [p.communicate(timeout=1800)[0] for p in procs]
        if all(p.returncode == 0 for p in procs):
            return scratch
        # A worker starved past the coordination heartbeat on a loaded machine: one more try (fresh ports).
        if attempt == 0 and any("heartbeat timeout" in log for log in logs):
            continue
        raise AssertionError("\n\n".join(f"worker {i} (rc {p.returncode}):\n{log[-3000:]}"
                                         for i, (p, log) in enumerate(zip(procs, logs))))
    raise AssertionError("unreachable")


@pytest.mark.slow
def test_multiworker_two_local_workers_chief_writes_and_resumes(tiny_records, tmp_path):
    out = str(tmp_path / "run")
    scratch = _run_workers(tmp_path, tiny_records, out, epochs=1)
    with open(os.path.join(out, "run.json")) as f:
        info = json.load(f)
    d = info["distribute"]
    assert (d["strategy"], d["workers"], d["replicas"], d["cluster_resolver"]) == ("multiworker", 2, 2, "TF_CONFIG")
    assert sorted(os.listdir(out)) == ["checkpoint", "history.json", "logs", "run.json"]
    for tmp in scratch:  # the non-chief wrote to a scratch directory, removed when it finished
        assert not [n for n in os.listdir(tmp) if n.startswith("keras-au-")]
    with np.load(os.path.join(out, "checkpoint", "state.npz")) as z:
        assert int(z["__epoch__"]) == 1

    _run_workers(tmp_path, tiny_records, out, epochs=2)  # a checkpoint written under the strategy resumes
    with open(os.path.join(out, "run.json")) as f:
        info = json.load(f)
    assert info["resumed_from_epoch"] == 1 and info["completed_epochs"] == 2
    with open(os.path.join(out, "history.json")) as f:
        assert len(json.load(f)["loss"]) == 2
    with np.load(os.path.join(out, "checkpoint", "state.npz")) as z:
        assert int(z["__epoch__"]) == 2
