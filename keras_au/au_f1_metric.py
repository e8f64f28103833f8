"""Streaming Keras 3 metric for per-AU F1 that agrees with ``keras_au.metrics.au_scores``."""

from __future__ import annotations

from typing import Optional, Sequence

import keras
from keras import ops

from keras_au.metrics import AUScores, scores_from_counts


@keras.saving.register_keras_serializable(package="keras_au")
class AUF1Score(keras.metrics.Metric):
    """Mean per-AU F1 at ``threshold`` over known labels (label < 0, 9 or 999 are ignored).

    ``result()`` is the mean F1; ``scores()`` returns the full per-AU ``AUScores``.
    """

    def __init__(
        self, num_aus: int, threshold: float = 0.5, aus: Optional[Sequence[int]] = None, name: str = "au_f1", **kwargs
    ):
        super().__init__(name=name, **kwargs)
        self.num_aus = int(num_aus)
        self.threshold = float(threshold)
        self.aus = tuple(int(a) for a in aus) if aus is not None else tuple(range(1, self.num_aus + 1))
        shape = (self.num_aus,)
        self.tp = self.add_variable(shape=shape, initializer="zeros", name="tp")
        self.fp = self.add_variable(shape=shape, initializer="zeros", name="fp")
        self.fn = self.add_variable(shape=shape, initializer="zeros", name="fn")
        self.tn = self.add_variable(shape=shape, initializer="zeros", name="tn")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y = ops.cast(y_true, "float32")
        known = ops.logical_and(y >= 0, ops.logical_and(ops.not_equal(y, 9.0), ops.not_equal(y, 999.0)))
        pos = ops.logical_and(ops.equal(y, 1.0), known)
        pred = ops.logical_and(ops.cast(y_pred, "float32") >= self.threshold, known)
        neg, npred = ops.logical_and(ops.logical_not(pos), known), ops.logical_and(ops.logical_not(pred), known)

        def count(a, b):
            return ops.sum(ops.cast(ops.logical_and(a, b), "float32"), axis=0)

        self.tp.assign_add(count(pos, pred))
        self.fp.assign_add(count(neg, pred))
        self.fn.assign_add(count(pos, npred))
        self.tn.assign_add(count(neg, npred))

    def result(self):
        tp, fp, fn = self.tp, self.fp, self.fn
        den = 2 * tp + fp + fn
        f1 = ops.where(den > 0, 2 * tp / ops.maximum(den, 1e-12), ops.zeros_like(den))
        scored = ops.cast(tp + fp + fn + self.tn > 0, f1.dtype)  # AUs with a known label (see AUScores)
        return ops.sum(f1 * scored) / ops.maximum(ops.sum(scored), 1.0)

    def scores(self) -> AUScores:
        return scores_from_counts(*(ops.convert_to_numpy(v) for v in (self.tp, self.fp, self.fn, self.tn)), self.aus)

    def reset_state(self):
        for v in (self.tp, self.fp, self.fn, self.tn):
            v.assign(ops.zeros_like(v))

    def get_config(self) -> dict:
        return {**super().get_config(), "num_aus": self.num_aus, "threshold": self.threshold, "aus": list(self.aus)}
