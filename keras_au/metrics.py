"""Per-AU precision/recall/F1/accuracy at a threshold, ignoring unknown labels.

Unknown labels are any negative value (records use -1), 9 (BP4D) and 999 (EmotioNet).
The NumPy function and the streaming Keras metric count the same confusion matrix, so
they agree exactly. An AU with no positives and no positive predictions has F1 = 0
(scikit-learn's ``zero_division=0``), which is what the papers' tables assume; an AU with no known
label at all is left out of the means.
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
    def scored(self) -> np.ndarray:
        """AUs with at least one known label: the means run over these (an AU the test set does not
        label at all, e.g. DISFA's missing AU17, is not a 0 F1)."""
        return np.asarray(self.support) > 0

    @property
    def mean_f1(self) -> float:
        return float(np.mean(self.f1[self.scored])) if self.scored.any() else 0.0

    @property
    def mean_accuracy(self) -> float:
        return float(np.mean(self.accuracy[self.scored])) if self.scored.any() else 0.0

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


def au_auc(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Per-AU ROC AUC over known labels (Mann-Whitney, ties count half); NaN where a class is missing.

    Threshold-free, so it separates "the scores rank faces right but sit on the wrong side of 0.5"
    from "the scores carry no information" (0.5)."""
    y = np.asarray(labels)
    p = np.asarray(probs, np.float64)
    if y.shape != p.shape or y.ndim != 2:
        raise ValueError(f"labels and probs must both be (N, num_aus); got {y.shape} and {p.shape}")
    known = known_mask(y)
    out = np.full(y.shape[1], np.nan)
    for j in range(y.shape[1]):
        k = known[:, j]
        pos = y[k, j] == 1
        n_pos, n_neg = int(pos.sum()), int((~pos).sum())
        if n_pos and n_neg:
            ranks = _average_ranks(p[k, j])
            out[j] = (ranks[pos].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)
    return out


def _average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks with ties sharing their average rank."""
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return ((ends - counts + ends + 1) / 2.0)[inverse]


def all_positive_baseline(labels: np.ndarray, aus: Optional[Sequence[int]] = None) -> AUScores:
    """Scores of predicting every AU present on every face: the floor a detector's F1 must clear."""
    y = np.asarray(labels)
    return au_scores(y, np.ones(y.shape, np.float64), aus=aus)


def detection_report(
    labels: np.ndarray, probs: np.ndarray, aus: Sequence[int], threshold: float = 0.5,
    groups: Optional[Sequence] = None,
) -> dict:
    """``AUScores.as_dict()`` plus per-AU ``auc``, ``mean_auc`` (over AUs that have both classes) and
    ``baseline``: the all-positive predictor's per-AU F1 and mean, to read F1 against. With ``groups`` (each
    row's person) also ``person_calibrated``: the same scores after per-person offset removal
    (``keras_au.person_calibration``), an addition to the paper's frame-level protocol, never a replacement."""
    out = _scores(labels, probs, aus, threshold)
    base = all_positive_baseline(labels, aus)
    out["baseline"] = {"name": "all_positive", "mean_f1": base.mean_f1,
                       "f1": {f"AU{a:02d}": float(f) for a, f in zip(base.aus, base.f1)}}
    if groups is not None:
        from keras_au.person_calibration import person_calibrate

        cal = _scores(labels, person_calibrate(probs, groups), aus, threshold)
        within = within_group_auc(labels, probs, groups)
        out["person_calibrated"] = {"groups": int(len(set(map(str, groups)))), "mean_f1": cal["mean_f1"],
                                    "mean_auc": cal["mean_auc"],
                                    "per_au": {k: {"f1": v["f1"], "auc": v["auc"], "within_person_auc": w}
                                               for (k, v), w in zip(cal["per_au"].items(), within)},
                                    "mean_within_person_auc": _nanmean_or_none(within)}
    return out


def within_group_auc(labels: np.ndarray, probs: np.ndarray, groups: Sequence) -> list[Optional[float]]:
    """Per AU: the mean over groups (people) of the AUC among that group's own frames (groups where the AU
    has both classes); None where no group has both. How well frames are ranked *within* a person."""
    groups = np.asarray([str(g) for g in groups])
    per_group = np.stack([au_auc(labels[groups == g], probs[groups == g]) for g in np.unique(groups)])
    return [_nanmean_or_none(col) for col in per_group.T]


def _nanmean_or_none(values) -> Optional[float]:
    v = np.asarray([np.nan if x is None else x for x in values], np.float64)
    return None if np.all(np.isnan(v)) else float(np.nanmean(v))


def _scores(labels: np.ndarray, probs: np.ndarray, aus: Sequence[int], threshold: float) -> dict:
    tp, fp, fn, tn = au_confusion(labels, probs, threshold)
    out = scores_from_counts(tp, fp, fn, tn, aus).as_dict()
    auc = au_auc(labels, probs)
    known = tp + fp + fn + tn
    rate = lambda n, k: float(n / k) if k else None  # noqa: E731
    for j, (name, a) in enumerate(zip(out["per_au"], auc)):
        out["per_au"][name]["auc"] = None if np.isnan(a) else float(a)
        # Calibration at the threshold: a detector whose scores sit on one side of it scores the all-positive
        # F1 or 0 whatever its AUC; these two show which.
        out["per_au"][name]["positive_rate"] = rate(tp[j] + fn[j], known[j])
        out["per_au"][name]["predicted_rate"] = rate(tp[j] + fp[j], known[j])
    out["mean_auc"] = None if np.all(np.isnan(auc)) else float(np.nanmean(auc))
    return out

