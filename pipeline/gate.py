"""The blessing gate: pure functions on per-fold score dicts (no TFX, no TensorFlow).

A candidate (one model per fold, each scored on its held-out fold by ``AUEvaluator``) is blessed only
when every check passes:

* ``valid``: every fold evaluated at least one face, with finite macro F1 and AUC and no NaN prediction;
* ``min_f1``: fold-mean macro F1 >= ``min_f1`` (the absolute bar);
* ``f1_gain``: fold-mean macro F1 >= fold-mean all-positive F1 + ``min_f1_gain`` (beats the trivial predictor);
* ``min_auc``: every fold's macro ROC AUC >= ``min_auc`` (ranks faces better than chance on every fold);
* ``served``: not worse than the model being served by more than ``max_f1_drop``, both scored by the same
  evaluator on the same folds (passes when nothing loadable is served).

Which folds the served comparison uses: a version this pipeline pushed records the fold it was held out
from (``held_out_fold``); on data of the same dataset the fold partition is by subject and fixed, so only
that fold is compared (the served model trained on the other two, where its score would be inflated).
A version without that record (pushed by hand, another dataset) is compared on every fold.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Mapping, Optional

CHECKS = ("valid", "min_f1", "f1_gain", "min_auc", "served")
EPS = 1e-9  # bars are inclusive; a bar computed as a sum (baseline + gain) must not fail on round-off


@dataclass(frozen=True)
class GateConfig:
    """The bars; the defaults are the ones real runs and the demo use (``min_f1`` is dataset-specific)."""

    min_f1: float = 0.5
    min_f1_gain: float = 0.02
    min_auc: float = 0.60
    max_f1_drop: float = 0.01

    def __post_init__(self) -> None:
        for name in ("min_f1", "min_auc"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} is a fraction in [0, 1], got {getattr(self, name)}")
        for name in ("min_f1_gain", "max_f1_drop"):
            if not -1.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} is a fraction in [-1, 1], got {getattr(self, name)}")

    def as_dict(self) -> dict:
        return asdict(self)


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def _check(name: str, passed: bool, value: Optional[float], bar: Optional[float], detail: str) -> dict:
    return {"name": name, "passed": bool(passed), "value": value, "bar": bar, "detail": detail}


def _pct(x: Optional[float]) -> str:
    return "n/a" if not _finite(x) else f"{100 * x:.1f} %"


def fold_problems(per_fold: Mapping[str, dict]) -> list[str]:
    """Why a fold's evaluation cannot support a blessing (no faces, NaN scores or predictions)."""
    problems = []
    for k, s in sorted(per_fold.items()):
        if int(s.get("examples", 0)) <= 0:
            problems.append(f"fold {k}: no faces evaluated")
            continue
        if int(s.get("nonfinite_predictions", 0)) > 0:
            problems.append(f"fold {k}: {s['nonfinite_predictions']} NaN/inf predictions")
        if not _finite(s.get("mean_f1")):
            problems.append(f"fold {k}: macro F1 is {s.get('mean_f1')}")
        if not _finite(s.get("mean_auc")):
            problems.append(f"fold {k}: macro AUC is {s.get('mean_auc')} (no AU with both classes, or NaN)")
    return problems


def served_comparison(per_fold: Mapping[str, dict], served: Optional[dict], dataset: str = "") -> Optional[dict]:
    """Side-by-side F1 of the candidate and the served model on the compared folds; ``None`` when nothing
    loadable is served. ``served`` is ``ServedModelEvaluator``'s record (``version``, ``per_fold``, ...)."""
    if not served or served.get("version") is None or not served.get("per_fold"):
        return None
    folds = sorted(set(per_fold) & set(served["per_fold"]))
    held_out = served.get("held_out_fold")
    same_data = held_out is not None and (not served.get("dataset") or served.get("dataset") == dataset)
    if same_data and str(held_out) in folds:
        folds, basis = [str(held_out)], f"fold {held_out} (held out from the served model)"
    else:
        basis = "every fold (the served model records no held-out fold for this data)"
    if not folds:
        return None

    def mean(values):
        values = list(values)
        return sum(values) / len(values) if all(_finite(v) for v in values) else math.nan

    return {
        "version": served["version"], "folds": folds, "basis": basis,
        "candidate_f1": mean(per_fold[k]["mean_f1"] for k in folds),
        "served_f1": mean(served["per_fold"][k]["mean_f1"] for k in folds),
    }


def evaluate_gate(report: Mapping[str, Any], gate: GateConfig, served: Optional[dict] = None,
                  dataset: str = "") -> dict:
    """Runs every check on a fold report (``fold_mean_report`` shape: ``per_fold`` with ``mean_f1``,
    ``examples``, ``mean_auc``, ``baseline``; ``mean_f1``) and returns the verdict:
    ``{"blessed", "checks": [...], "failed": [names], "reasons": [text], "served": comparison | None}``."""
    per_fold = report["per_fold"]
    mean_f1 = report["mean_f1"]
    checks = []
    problems = fold_problems(per_fold)
    checks.append(_check("valid", not problems, None, None, "; ".join(problems) or "every fold scored faces"))

    checks.append(_check("min_f1", _finite(mean_f1) and mean_f1 >= gate.min_f1, mean_f1, gate.min_f1,
                         f"fold-mean macro F1 {_pct(mean_f1)} vs absolute bar {_pct(gate.min_f1)}"))

    baselines = [s.get("baseline") for s in per_fold.values()]
    base = sum(baselines) / len(baselines) if baselines and all(_finite(b) for b in baselines) else None
    bar = None if base is None else base + gate.min_f1_gain
    checks.append(_check(
        "f1_gain", bar is not None and _finite(mean_f1) and mean_f1 >= bar - EPS, mean_f1, bar,
        "no all-positive baseline in the evaluation" if bar is None else
        f"fold-mean macro F1 {_pct(mean_f1)} vs all-positive F1 {_pct(base)} + gain {_pct(gate.min_f1_gain)}"
        f" = {_pct(bar)}"))

    aucs = {k: s.get("mean_auc") for k, s in sorted(per_fold.items())}
    worst = min(aucs, key=lambda k: aucs[k] if _finite(aucs[k]) else -1.0)
    ok = all(_finite(a) and a >= gate.min_auc for a in aucs.values())
    checks.append(_check("min_auc", ok, aucs[worst] if _finite(aucs[worst]) else None, gate.min_auc,
                         f"lowest fold macro AUC {_pct(aucs[worst])} (fold {worst}) vs bar {_pct(gate.min_auc)}"))

    comparison = served_comparison(per_fold, served, dataset)
    if comparison is None:
        skipped = len((served or {}).get("skipped", []))
        detail = "no served model to compare with" + (f" ({skipped} unusable version(s) skipped)" if skipped else "")
        checks.append(_check("served", True, None, None, detail))
    else:
        bar = comparison["served_f1"] - gate.max_f1_drop
        ok = _finite(comparison["candidate_f1"]) and (not _finite(bar) or comparison["candidate_f1"] >= bar - EPS)
        checks.append(_check(
            "served", ok, comparison["candidate_f1"], bar if _finite(bar) else None,
            f"macro F1 on {comparison['basis']}: candidate {_pct(comparison['candidate_f1'])} vs served version "
            f"{comparison['version']} {_pct(comparison['served_f1'])} - allowed drop {_pct(gate.max_f1_drop)}"))

    failed = [c["name"] for c in checks if not c["passed"]]
    return {"blessed": not failed, "checks": checks, "failed": failed,
            "reasons": [f"{c['name']}: {c['detail']}" for c in checks if not c["passed"]],
            "served": comparison, "config": gate.as_dict()}


def verdict_line(gate_result: Mapping[str, Any]) -> str:
    """One console line: ``blessed`` or ``NOT blessed: <failed bars with numbers>``."""
    if gate_result["blessed"]:
        return "blessed (" + "; ".join(c["detail"] for c in gate_result["checks"] if c["name"] != "valid") + ")"
    return "NOT blessed: " + "; ".join(gate_result["reasons"])


def gate_inputs(report: Mapping[str, Any]) -> dict:
    """What the gate decided on, for ``demo.json``: the bars, each fold's numbers, the served model, the verdict."""
    gate = report.get("gate") or {}
    keys = ("mean_f1", "mean_auc", "baseline", "examples", "nonfinite_predictions")
    return {
        "bars": gate.get("config"),
        "per_fold": {k: {key: s.get(key) for key in keys} for k, s in report["per_fold"].items()},
        "mean_f1": report["mean_f1"], "baseline_mean": report.get("baseline_mean"),
        "mean_auc_mean": report.get("mean_auc_mean"),
        "served": report.get("served"), "comparison": gate.get("served"),
        "checks": gate.get("checks"), "blessed": bool(report.get("blessed")), "failed": gate.get("failed"),
    }
