"""The weight average (keras_au.tasks.weight_average) under mirrored on 2 logical CPU devices (subprocess): its
update runs in the cross-replica context of a Keras callback and must give one device's result."""

from __future__ import annotations

import numpy as np
from mirrored_check import run_check


def test_weight_average_mirrored_equals_single_device(tmp_path):
    r = run_check("weight_average", tmp_path, records=str(tmp_path))  # a small in-memory model: no records read
    assert r["mirrored"]["replicas"] == 2
    assert r["none"]["count"] == r["mirrored"]["count"] == 8  # 2 epochs of 4 batches
    for a, b in zip(r["none"]["weights"], r["mirrored"]["weights"]):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
