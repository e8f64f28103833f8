"""Fold-mean report, blessing bar and the Pusher's decision, without running a pipeline."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

from keras_au.metrics import au_scores, detection_report
from pipeline.components.fold_report import fold_mean_report, is_blessed, report_markdown
from pipeline.gate import GateConfig

AUS = (1, 2, 4)


def _scores(rng, n: int = 40, noise: float = 0.3) -> dict:
    """Real AUScores dicts: labels with unknowns, probabilities that agree with them up to noise."""
    labels = rng.integers(0, 2, size=(n, len(AUS)))
    labels[rng.random(labels.shape) < 0.1] = -1
    probs = np.clip(np.where(labels == 1, 0.7, 0.3) + rng.normal(0, noise, labels.shape), 0, 1)
    out = au_scores(labels, probs, aus=AUS).as_dict()
    out["examples"] = n
    return out


def test_fold_mean_is_the_mean_of_fold_macro_f1_and_of_per_au_means():
    rng = np.random.default_rng(0)
    scores = {k: _scores(rng) for k in (0, 1, 2)}
    rep = fold_mean_report(scores, 0.0)
    fold_means = [scores[k]["mean_f1"] for k in (0, 1, 2)]
    assert rep["mean_f1"] == pytest.approx(np.mean(fold_means))
    assert rep["std_f1"] == pytest.approx(np.std(fold_means))
    for au in ("AU01", "AU02", "AU04"):
        assert rep["per_au_mean"][au] == pytest.approx(np.mean([scores[k]["per_au"][au]["f1"] for k in (0, 1, 2)]))
    # equal AU sets: the macro average of the per-AU fold means is the same number
    assert np.mean(list(rep["per_au_mean"].values())) == pytest.approx(rep["mean_f1"])
    assert rep["best_fold"] == int(np.argmax(fold_means))
    assert json.loads(json.dumps(rep)) == rep  # plain JSON


def test_absolute_bar_above_and_below():
    rng = np.random.default_rng(1)
    scores = {k: _scores(rng) for k in (0, 1, 2)}
    for s in scores.values():  # relative bars met, so only the absolute one decides
        s.update(mean_auc=0.9, baseline={"mean_f1": 0.1})
    mean = fold_mean_report(scores, 0.0)["mean_f1"]
    assert 0.2 < mean < 0.95
    assert fold_mean_report(scores, mean - 1e-6)["blessed"] is True
    assert fold_mean_report(scores, mean)["blessed"] is True  # the bar is inclusive
    above = fold_mean_report(scores, mean + 1e-6)
    assert above["blessed"] is False and above["gate"]["failed"] == ["min_f1"]
    assert is_blessed(math.nan, 0.0) is False


def test_evaluations_without_auc_or_baseline_never_bless():
    rng = np.random.default_rng(5)
    rep = fold_mean_report({k: _scores(rng) for k in (0, 1, 2)}, 0.0)
    assert rep["blessed"] is False and {"f1_gain", "min_auc"} <= set(rep["gate"]["failed"])


def test_report_puts_the_served_model_beside_the_candidate_and_lists_every_bar():
    rng = np.random.default_rng(6)
    scores = {}
    for k in (0, 1, 2):
        labels = rng.integers(0, 2, size=(40, len(AUS)))
        probs = np.clip(np.where(labels == 1, 0.7, 0.3) + rng.normal(0, 0.2, labels.shape), 0, 1)
        scores[k] = dict(detection_report(labels, probs, AUS), examples=40)
    served = {"version": 7, "path": "/srv/keras_au/7", "held_out_fold": None, "dataset": "", "aus": ["AU01"],
              "per_fold": {str(k): {"mean_f1": 0.99, "mean_auc": 0.995} for k in (0, 1, 2)},
              "skipped": [{"version": 8, "path": "/srv/keras_au/8", "reason": "OSError: corrupt"}]}
    rep = fold_mean_report(scores, GateConfig(min_f1=0.0), served)
    assert rep["blessed"] is False and rep["gate"]["failed"] == ["served"]
    md = report_markdown(rep)
    assert "version 8 (OSError: corrupt)" in md and "| served v7 | 99.0 | 99.0 | 99.0 | 99.5 |" in md
    assert "| served | **FAIL** |" in md and "| min_auc | pass |" in md and "NOT blessed" in md


def test_markdown_table_has_every_au_fold_and_the_verdict():
    rng = np.random.default_rng(2)
    rep = fold_mean_report({k: _scores(rng) for k in (0, 1, 2)}, 0.99)
    md = report_markdown(rep)
    rows = [line for line in md.splitlines() if line.startswith("| AU")]
    assert [r.split("|")[1].strip() for r in rows] == ["AU", "AU01", "AU02", "AU04"]
    assert "| fold 0 | fold 1 | fold 2 | mean |" in md
    assert f"**{100 * rep['mean_f1']:.1f}**" in md and "NOT blessed" in md


def test_mismatched_au_sets_are_an_error():
    rng = np.random.default_rng(3)
    a, b = _scores(rng), _scores(rng)
    b["per_au"].pop("AU04")
    with pytest.raises(ValueError, match="scores AUs"):
        fold_mean_report({0: a, 1: b}, 0.5)
    with pytest.raises(ValueError, match="no fold scores"):
        fold_mean_report({}, 0.5)


def _artifact(cls, uri: str):
    a = cls()
    a.uri = uri
    os.makedirs(uri, exist_ok=True)
    return a


def _blessing(tmp_path, blessed: bool, fold: int = 1):
    from tfx.types import standard_artifacts

    b = _artifact(standard_artifacts.ModelBlessing, str(tmp_path / "blessing"))
    b.set_int_custom_property("blessed", int(blessed))
    b.set_int_custom_property("best_fold", fold)
    b.set_float_custom_property("mean_f1", 0.42)
    b.set_float_custom_property("min_mean_f1", 0.5)
    return b


def test_pusher_does_not_push_an_unblessed_model(tmp_path):
    from tfx.types import standard_artifacts

    from pipeline.components.pusher import Executor, read_push

    pushed = _artifact(standard_artifacts.PushedModel, str(tmp_path / "pushed"))
    model = _artifact(standard_artifacts.Model, str(tmp_path / "model"))  # empty: must not be read
    serving = tmp_path / "serving"
    Executor().Do({"model_blessing": [_blessing(tmp_path, False)], "model_1": [model]}, {"pushed_model": [pushed]},
                  {"serving_dir": str(serving)})
    assert pushed.get_int_custom_property("pushed") == 0
    assert not serving.exists()
    rec = read_push(pushed.uri)
    assert rec["pushed"] is False and "0.420 < 0.500" in rec["reason"]


def test_pusher_writes_the_best_folds_model_as_the_next_serving_version(tmp_path):
    import tensorflow as tf
    from tfx.types import standard_artifacts

    from pipeline.components.pusher import Executor, read_push
    from serving.stand_in import write_stand_in_export

    models = {}
    for k in (0, 1):
        models[f"model_{k}"] = [_artifact(standard_artifacts.Model, str(tmp_path / f"model{k}"))]
    # only the blessed best fold (1) holds a model: pushing fold 0 would fail
    write_stand_in_export(str(tmp_path / "model1" / "Format-Serving"), aus=AUS, input_size=64, width=4)
    serving = tmp_path / "serving"
    os.makedirs(serving / "keras_au" / "3")  # an older version: the push must become 4
    pushed = _artifact(standard_artifacts.PushedModel, str(tmp_path / "pushed"))
    Executor().Do({"model_blessing": [_blessing(tmp_path, True)], **models}, {"pushed_model": [pushed]},
                  {"serving_dir": str(serving)})
    rec = read_push(pushed.uri)
    assert rec["pushed"] and rec["fold"] == 1 and rec["version"] == 4
    assert pushed.get_string_custom_property("pushed_destination") == str(serving / "keras_au" / "4")
    loaded = tf.saved_model.load(rec["destination"])
    out = loaded.signatures["serving_default"](images=tf.fill((2, 200, 200, 3), 128.0))
    assert out["au_probs"].shape == (2, len(AUS))
    assert [n.decode() for n in out["au_names"].numpy()[0]] == ["AU01", "AU02", "AU04"]


def test_baseline_and_auc_columns_when_the_evaluator_wrote_them():
    rng = np.random.default_rng(4)
    scores = {}
    for k in (0, 1, 2):
        labels = rng.integers(0, 2, size=(40, len(AUS)))
        probs = np.clip(np.where(labels == 1, 0.7, 0.3) + rng.normal(0, 0.3, labels.shape), 0, 1)
        scores[k] = dict(detection_report(labels, probs, AUS), examples=40)
    rep = fold_mean_report(scores, 0.0)
    assert rep["baseline_mean"] == pytest.approx(np.mean([scores[k]["baseline"]["mean_f1"] for k in (0, 1, 2)]))
    assert rep["mean_auc_mean"] == pytest.approx(np.mean([scores[k]["mean_auc"] for k in (0, 1, 2)]))
    md = report_markdown(rep)
    assert f"| all-positive F1 | {100 * scores[0]['baseline']['mean_f1']:.1f} |" in md
    assert "| macro AUC |" in md
    # old evaluations without these keys still report
    assert "baseline_mean" not in fold_mean_report({k: _scores(rng) for k in (0, 1)}, 0.0)
