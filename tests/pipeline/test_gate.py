"""The blessing gate as pure functions on score dicts: each bar, its numbers, NaN/no faces, the served model."""

from __future__ import annotations

import math

import pytest

from pipeline.gate import GateConfig, evaluate_gate, served_comparison, verdict_line


def _fold(f1: float, auc: float | None = 0.8, base: float = 0.4, examples: int = 50, nonfinite: int = 0) -> dict:
    return {"mean_f1": f1, "mean_auc": auc, "baseline": base, "examples": examples, "nonfinite_predictions": nonfinite}


def _report(*folds: dict) -> dict:
    per_fold = {str(k): f for k, f in enumerate(folds)}
    return {"per_fold": per_fold, "mean_f1": sum(f["mean_f1"] for f in folds) / len(folds)}


GATE = GateConfig(min_f1=0.0)


def test_a_model_that_beats_the_trivial_predictor_on_every_fold_is_blessed():
    res = evaluate_gate(_report(_fold(0.5), _fold(0.6), _fold(0.55)), GATE)
    assert res["blessed"] and res["failed"] == [] and res["served"] is None
    assert [c["name"] for c in res["checks"]] == ["valid", "min_f1", "f1_gain", "min_auc", "served"]
    assert verdict_line(res).startswith("blessed")


def test_chance_level_model_fails_gain_and_auc_with_numbers():
    # all-positive-like predictions: F1 equal to the baseline, AUC 0.5
    res = evaluate_gate(_report(*[_fold(0.4, auc=0.5) for _ in range(3)]), GATE)
    assert not res["blessed"] and res["failed"] == ["f1_gain", "min_auc"]
    gain = next(c for c in res["checks"] if c["name"] == "f1_gain")
    assert gain["value"] == pytest.approx(0.4) and gain["bar"] == pytest.approx(0.42)
    line = verdict_line(res)
    assert "all-positive F1 40.0 % + gain 2.0 % = 42.0 %" in line and "lowest fold macro AUC 50.0 %" in line


def test_bars_are_inclusive_and_one_weak_fold_fails_auc():
    exact = evaluate_gate(_report(_fold(0.42, auc=0.6), _fold(0.42, auc=0.6)), GATE)
    assert exact["blessed"], exact["reasons"]
    weak = evaluate_gate(_report(_fold(0.7), _fold(0.7, auc=0.59), _fold(0.7)), GATE)
    assert weak["failed"] == ["min_auc"] and "(fold 1)" in weak["reasons"][0]
    absolute = evaluate_gate(_report(_fold(0.7), _fold(0.7)), GateConfig(min_f1=0.75))
    assert absolute["failed"] == ["min_f1"] and "70.0 % vs absolute bar 75.0 %" in absolute["reasons"][0]


@pytest.mark.parametrize("bad", [
    _fold(math.nan), _fold(0.7, auc=None), _fold(0.7, auc=math.nan), _fold(0.0, examples=0),
    _fold(0.7, nonfinite=3),
])
def test_nan_or_no_faces_never_blesses(bad):
    res = evaluate_gate(_report(_fold(0.9), bad), GateConfig(min_f1=0.0, min_f1_gain=-1.0, min_auc=0.0))
    assert not res["blessed"] and "valid" in res["failed"]
    assert "fold 1:" in res["reasons"][0]


def _served(version, f1s, held_out=None, dataset="bp4d"):
    return {"version": version, "path": f"/s/{version}", "held_out_fold": held_out, "dataset": dataset,
            "per_fold": {str(k): {"mean_f1": f, "mean_auc": 0.8} for k, f in enumerate(f1s)}, "skipped": []}


def test_served_model_comparison_allows_a_small_drop_only():
    cand = _report(_fold(0.60), _fold(0.60), _fold(0.60))
    ok = evaluate_gate(cand, GATE, _served(3, [0.61, 0.60, 0.60]))  # 0.6 vs 0.6033: within 0.01
    assert ok["blessed"] and ok["served"]["version"] == 3 and ok["served"]["folds"] == ["0", "1", "2"]
    worse = evaluate_gate(cand, GATE, _served(3, [0.70, 0.70, 0.70]))
    assert worse["failed"] == ["served"]
    assert "candidate 60.0 % vs served version 3 70.0 % - allowed drop 1.0 %" in worse["reasons"][0]


def test_served_model_is_compared_on_its_own_held_out_fold_for_the_same_dataset():
    cand = _report(_fold(0.50), _fold(0.70), _fold(0.50))
    # the served model trained on folds 0 and 2 (inflated there); on its held-out fold 1 the candidate is better
    served = _served(2, [0.90, 0.65, 0.90], held_out=1)
    assert served_comparison(cand["per_fold"], served, "bp4d")["folds"] == ["1"]
    assert evaluate_gate(cand, GATE, served, dataset="bp4d")["blessed"]
    # another dataset: the fold partition differs, so every fold counts
    other = served_comparison(cand["per_fold"], served, "disfa")
    assert other["folds"] == ["0", "1", "2"] and not evaluate_gate(cand, GATE, served, dataset="disfa")["blessed"]


def test_nothing_loadable_served_passes_and_says_what_was_skipped():
    served = {"version": None, "skipped": [{"version": 4, "path": "/s/4", "reason": "OSError: bad"}]}
    res = evaluate_gate(_report(_fold(0.6), _fold(0.6)), GATE, served)
    check = next(c for c in res["checks"] if c["name"] == "served")
    assert res["blessed"] and check["passed"] and "1 unusable version(s) skipped" in check["detail"]


def test_bad_bars_are_rejected():
    with pytest.raises(ValueError, match="min_auc"):
        GateConfig(min_auc=60)
    with pytest.raises(ValueError, match="max_f1_drop"):
        GateConfig(max_f1_drop=5)
