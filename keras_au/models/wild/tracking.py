"""Metric trackers shared by the two trainers: running means of loss terms and per-epoch skip counters."""

from __future__ import annotations

from typing import Sequence

import keras


def make_trackers(means: Sequence[str], sums: Sequence[str] = ()) -> dict:
    """name -> ``keras.metrics.Mean`` (loss terms) or ``keras.metrics.Sum`` (counted skips); both reset
    every epoch by ``fit`` when returned from the model's ``metrics`` property."""
    out = {n: keras.metrics.Mean(name=n) for n in means}
    out.update({n: keras.metrics.Sum(name=n) for n in sums})
    return out


def skipped(mask):
    """Number of examples whose mask is 0 (e.g. source faces without landmarks)."""
    return keras.ops.sum(1.0 - keras.ops.cast(mask, "float32"))
