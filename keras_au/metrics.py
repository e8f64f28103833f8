"""Per-AU precision/recall/F1/accuracy at a threshold, ignoring unknown labels.

Unknown labels are any negative value (records use -1), 9 (BP4D) and 999 (EmotioNet).
The NumPy function and the streaming Keras metric count the same confusion matrix, so
they agree exactly. An AU with no positives and no positive predictions has F1 = 0
(scikit-learn's ``zero_division=0``), which is what the papers' tables assume.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from keras_au.au import UNKNOWN_LABELS


def known_mask(labels: np.ndarray) -> np.ndarray:
    """True where a label is a real 0/1 code."""
    y = np.asarray(labels)
    mask = y >= 0
    for u in UNKNOWN_LABELS:
        mask &= y != u
    return mask


@dataclass(frozen=True)
class AUScores:
    aus: tuple[int, ...]
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    accuracy: np.ndarray
    support: np.ndarray  # known labels per AU

    @property
    def mean_f1(self) -> float:
        return float(np.mean(self.f1)) if len(self.f1) else 0.0

    @property
    def mean_accuracy(self) -> float:
        return float(np.mean(self.accuracy)) if len(self.accuracy) else 0.0

    def as_dict(self) -> dict:
        per_au = {
            f"AU{a:02d}": {
                "precision": float(p), "recall": float(r), "f1": float(f), "accuracy": float(acc), "support": int(s)
            }
            for a, p, r, f, acc, s in zip(self.aus, self.precision, self.recall, self.f1, self.accuracy, self.support)
        }
        return {"per_au": per_au, "mean_f1": self.mean_f1, "mean_accuracy": self.mean_accuracy}


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num, den = np.asarray(num, np.float64), np.asarray(den, np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def scores_from_counts(tp, fp, fn, tn, aus: Sequence[int]) -> AUScores:
    tp, fp, fn, tn = (np.asarray(v, np.float64) for v in (tp, fp, fn, tn))
    precision = _safe_div(tp, tp + fp)
    recall = _safe_div(tp, tp + fn)
    f1 = _safe_div(2 * tp, 2 * tp + fp + fn)
    support = tp + fp + fn + tn
    return AUScores(tuple(aus), precision, recall, f1, _safe_div(tp + tn, support), support.astype(np.int64))


def au_confusion(labels: np.ndarray, probs: np.ndarray, threshold: float = 0.5):
    """Per-AU (tp, fp, fn, tn) over known labels; arrays are (N, num_aus)."""
    y = np.asarray(labels)
    p = np.asarray(probs, np.float64)
    if y.shape != p.shape or y.ndim != 2:
        raise ValueError(f"labels and probs must both be (N, num_aus); got {y.shape} and {p.shape}")
    known = known_mask(y)
    pos, pred = (y == 1) & known, (p >= threshold) & known
    tp = np.sum(pos & pred, 0)
    fp = np.sum(~pos & pred, 0)
    fn = np.sum(pos & ~pred, 0)
    tn = np.sum(known, 0) - tp - fp - fn
    return tp, fp, fn, tn


def au_scores(
    labels: np.ndarray, probs: np.ndarray, threshold: float = 0.5, aus: Optional[Sequence[int]] = None
) -> AUScores:
    """Per-AU precision/recall/F1/accuracy and their means, unknown labels ignored."""
    tp, fp, fn, tn = au_confusion(labels, probs, threshold)
    return scores_from_counts(tp, fp, fn, tn, aus if aus is not None else range(1, len(tp) + 1))


def __getattr__(name: str):
    # The Keras metric lives in its own module so NumPy users never import TensorFlow.
    if name == "AUF1Score":
        from keras_au.au_f1_metric import AUF1Score

        return AUF1Score
    raise AttributeError(name)
