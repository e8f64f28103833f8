"""`keras-au demo`'s REPORT.md and demo.json for a refused model and for a served one (no pipeline run)."""

from __future__ import annotations

import json

import numpy as np

from keras_au.metrics import detection_report

AUS = (1, 2, 4)


def _info(tmp_path, quality: float) -> dict:
    from pipeline.components.fold_report import fold_mean_report
    from pipeline.gate import GateConfig, gate_inputs

    rng = np.random.default_rng(0)
    scores = {}
    for k in (0, 1, 2):
        labels = rng.integers(0, 2, size=(60, len(AUS)))
        probs = np.clip(0.5 + quality * (labels - 0.5) + rng.normal(0, 0.2, labels.shape), 0, 1)
        scores[k] = dict(detection_report(labels, probs, AUS), examples=60)
    report = fold_mean_report(scores, GateConfig(min_f1=0.0), {"version": None, "skipped": [], "reason": "none"})
    summary = {"run_id": "r1", "executions": {"FoldReport": "COMPLETE"}, "seconds": 3.0, "log": None}
    return {"sample": str(tmp_path), "pipeline": summary, "fold_report": report, "gate": gate_inputs(report),
            "stage_seconds": {"sample data": 1.0, "TFX pipeline": 3.0}, "preset": "demo", "model": "rtatl",
            "held_out": [0, 1, 2]}


def test_refused_model_report_names_the_failed_bars_and_demo_json_keeps_the_gate_inputs(tmp_path):
    from keras_au.cli.demo_report import finish_report

    info = _info(tmp_path, quality=0.0)  # chance
    assert not info["fold_report"]["blessed"]
    info["push"] = {"pushed": False, "reason": "NOT blessed: f1_gain: ...; min_auc: ..."}
    path = finish_report(str(tmp_path), info)
    text = open(path).read()
    assert "**Nothing is served**" in text and "| min_auc | **FAIL** |" in text and "## TFLite" not in text
    saved = json.load(open(tmp_path / "demo.json"))
    gate = saved["gate"]
    assert gate["bars"] == {"min_f1": 0.0, "min_f1_gain": 0.02, "min_auc": 0.6, "max_f1_drop": 0.01}
    assert set(gate["per_fold"]) == {"0", "1", "2"} and gate["per_fold"]["1"]["examples"] == 60
    assert {"min_auc"} <= set(gate["failed"]) and gate["blessed"] is False
    assert saved["stage_seconds"] == {"sample data": 1.0, "TFX pipeline": 3.0}


def test_served_model_report_links_the_version_tflite_and_predictions(tmp_path):
    from keras_au.cli.demo_report import finish_report

    info = _info(tmp_path, quality=0.8)
    assert info["fold_report"]["blessed"], info["fold_report"]["gate"]["reasons"]
    dest = str(tmp_path / "serving_model" / "keras_au" / "1")
    info.update(push={"pushed": True, "fold": 0, "destination": dest}, served_dir=dest, served_fold=0,
                tflite={"variants": {}, "faces": 64},
                predict={"video": "v.mp4", "csv": str(tmp_path / "p.csv"), "plot": str(tmp_path / "p.png"),
                         "faces": 9, "frames": 10, "fps": 20.0, "calibrated_csv": str(tmp_path / "p_calibrated.csv"),
                         "curve_motion": {"AU01": {"raw_mean": 0.6, "raw_sd": 0.05, "calibrated_mean": 0.3,
                                                  "calibrated_sd": 0.04}},
                         "html": str(tmp_path / "predictions" / "v.html")})
    text = open(finish_report(str(tmp_path), info)).read()
    assert "Results page" in text and "(predictions/v.html)" in text
    assert "blessed and pushed" in text and "(serving_model/keras_au/1)" in text
    assert "## TFLite" in text and "held-out faces of fold 0" in text and "9 faces in 10 frames" in text
    assert "(held-out folds: 0, 1, 2)" in text
    assert "(p_calibrated.csv)" in text and "| AU01 | 0.600 | 0.050 | 0.300 | 0.040 |" in text


def test_refused_model_still_gets_tflite_and_predictions_marked_not_blessed(tmp_path):
    from keras_au.cli.demo import EXIT_NOT_BLESSED
    from keras_au.cli.demo_report import finish_report

    info = _info(tmp_path, quality=0.0)
    dest = str(tmp_path / "unblessed_model" / "keras_au" / "1")
    info.update(push={"pushed": False, "reason": "NOT blessed: min_auc: fold 1 AUC 0.51 < 0.60"},
                not_blessed="NOT blessed: min_auc: fold 1 AUC 0.51 < 0.60", served_dir=dest, served_fold=1,
                tflite={"variants": {}, "faces": 64},
                predict={"video": "v.mp4", "csv": str(tmp_path / "p.csv"), "plot": str(tmp_path / "p.png"),
                         "faces": 9, "frames": 10, "fps": 20.0})
    text = open(finish_report(str(tmp_path), info)).read()
    assert "**NOT BLESSED, nothing is served**: min_auc: fold 1 AUC 0.51 < 0.60." in text
    assert "(unblessed_model/keras_au/1)" in text and '"Whose faces refuse the gate"' in text
    assert "## TFLite" in text and "## Predictions on a real video" in text
    assert EXIT_NOT_BLESSED not in (0, 1, 2)  # served, failed stage / crash, usage error
