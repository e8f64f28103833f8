"""Runs one check of ``distribute_checks.py`` in a subprocess (logical CPU devices must be configured before
TensorFlow starts) and returns its JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def run_check(check: str, tmp_path, records: str, unlabeled: str | None = None, sync_bn: bool = True) -> dict:
    out = tmp_path / f"{check}.json"
    cmd = [sys.executable, os.path.join(HERE, "distribute_checks.py"), check, str(out), "--records", records,
           "--work", str(tmp_path), "--sync-bn" if sync_bn else "--no-sync-bn"]
    if unlabeled:
        cmd += ["--unlabeled", unlabeled]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(out.read_text())


def assert_gan_trainer_steps(r: dict, model: str, optimizers: tuple[str, ...], sync_bn: bool, rel: float) -> None:
    """Every optimizer's counter advanced once per step, single-device and mirrored; every logged term finite and
    within ``rel`` (or 1e-4) of single-device at the same seed and global batch."""
    import math

    import pytest

    for kind in ("none", "mirrored"):
        rows = r[f"{model}_{kind}"]["iterations"]
        assert rows == [{n: i + 1 for n in optimizers} for i in range(3)], (model, kind, rows)
    assert r[f"{model}_mirrored"]["distribute"]["replicas"] == 2
    assert r[f"{model}_mirrored"]["distribute"]["sync_bn"] is sync_bn
    single, mirrored = r[f"{model}_none"]["logs"], r[f"{model}_mirrored"]["logs"]
    for k, v in mirrored.items():
        assert math.isfinite(v), (model, k)
        if k.startswith(("loss", "l_", "d_")):
            assert v == pytest.approx(single[k], rel=rel, abs=1e-4), (model, k, v, single[k])
