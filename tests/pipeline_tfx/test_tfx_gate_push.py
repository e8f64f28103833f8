"""The gate and the push, run through the real executors (AUEvaluator, ServedModelEvaluator, FoldReport,
KerasAuPusher) on real faces with fixed exported models instead of training:

* "good": AU probabilities rank faces by brightness exactly as the labels do (F1 = AUC = 1);
* "worse": same ranking (AUC 1) but each AU's threshold one face too high (lower F1, still above the bars);
* "chance": the same probability for every face (F1 = the all-positive F1, AUC 0.5);
* "nan": NaN probabilities.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

pytestmark = pytest.mark.slow

AUS = (1, 2, 4, 6, 12)
SIZE = 64  # model input: the centre 64x64 of each aligned face
FACES_PER_FOLD = 8
FOLDS = (0, 1, 2)


def _artifact(cls, uri: str):
    a = cls()
    a.uri = uri
    os.makedirs(uri, exist_ok=True)
    return a


def _crop_mean(jpeg: bytes) -> float:
    import tensorflow as tf

    off = (200 - SIZE) // 2
    img = tf.io.decode_jpeg(jpeg).numpy().astype(np.float64)
    return float(img[off : off + SIZE, off : off + SIZE].mean())


def _write_examples(root: str) -> tuple[str, np.ndarray]:
    """Examples layout ``Split-fold-<k>``: the same 8 real faces per fold at rising brightness, labelled
    AU j present from brightness rank ``cut_j`` up. Returns the root and each AU's boundary brightness
    pair (rank cut-1, rank cut) measured on the decoded JPEG crop the evaluator sees."""
    from record_fixtures import aligned_real_faces

    from keras_au.data import schema

    faces = aligned_real_faces()
    off = (200 - SIZE) // 2
    cuts = np.array([2 + j % 5 for j in range(len(AUS))])
    images, landmarks = [], []
    for i in range(FACES_PER_FOLD):
        _, img, lm = faces[i % len(faces)]
        target = 50.0 + 15.0 * i  # well-separated brightness levels: JPEG noise cannot reorder them
        gain = target / img[off : off + SIZE, off : off + SIZE].mean()
        images.append(np.clip(img.astype(np.float64) * gain, 0, 255).astype(np.uint8))
        landmarks.append(lm)
    labels = (np.arange(FACES_PER_FOLD)[:, None] >= cuts[None, :]).astype(np.int64)
    for k in FOLDS:
        recs = [schema.FaceRecord(image=images[i], au_ids=AUS, au_labels=labels[i], subject=f"s{k}", sequence="t",
                                  frame=i, dataset="bp4d", landmarks=landmarks[i], fold=k)
                for i in range(FACES_PER_FOLD)]
        os.makedirs(os.path.join(root, f"Split-fold-{k}"), exist_ok=True)
        schema.write_tfrecord(os.path.join(root, f"Split-fold-{k}", "data.tfrecord.gz"), recs)
    measured = [_crop_mean(r["image"]) for r in schema.read_examples(os.path.join(root, "Split-fold-0", "*.gz"))]
    assert np.all(np.diff(measured) > 5), measured  # the ranking the labels assume
    return root, np.array(measured)


def _export(out: str, thresholds: np.ndarray | None) -> str:
    """``model.keras`` + ``export.json``: sigmoid(mean brightness - threshold_j) per AU, or a constant."""
    import keras
    from keras import layers

    from keras_au.inference.export_info import ExportInfo

    image = keras.Input((SIZE, SIZE, 3), name="image")
    lm = keras.Input((68, 2), name="landmarks")
    logits = layers.Dense(len(AUS), name="brightness")(layers.GlobalAveragePooling2D()(image))
    unused = layers.Dense(len(AUS), use_bias=False, kernel_initializer="zeros")(layers.Flatten()(lm))
    model = keras.Model({"image": image, "landmarks": lm}, layers.Activation("sigmoid")(layers.Add()([logits, unused])))
    if thresholds is None:
        kernel, bias = np.zeros((3, len(AUS))), np.full(len(AUS), 0.1)
    else:
        kernel, bias = np.full((3, len(AUS)), 1.0 / 3), -np.asarray(thresholds, np.float64)
    model.get_layer("brightness").set_weights([kernel.astype(np.float32), bias.astype(np.float32)])
    os.makedirs(out, exist_ok=True)
    model.save(os.path.join(out, "model.keras"))
    ExportInfo(model="brightness_test", aus=AUS, input_size=SIZE,
               mean_landmarks=np.full((68, 2), SIZE / 2, np.float32)).write(out)
    with open(os.path.join(out, "export.json")) as f:
        info = json.load(f)
    with open(os.path.join(out, "export.json"), "w") as f:  # as RTATL's export records it
        json.dump({**info, "init": {"init": "scratch", "source": "seeded initialisers"}}, f)
    return out


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from tfx.types import artifact_utils, standard_artifacts

    from pipeline.components.au_evaluator import Executor as Evaluate

    base = tmp_path_factory.mktemp("gate")
    ex_root, measured = _write_examples(str(base / "examples"))
    examples = _artifact(standard_artifacts.Examples, ex_root)
    examples.split_names = artifact_utils.encode_split_names([f"fold-{k}" for k in FOLDS])
    cuts = np.array([2 + j % 5 for j in range(len(AUS))])
    mid = lambda r: (measured[r - 1] + measured[r]) / 2  # noqa: E731 - threshold between ranks r-1 and r
    thresholds = {"good": [mid(c) for c in cuts], "worse": [mid(c + 1) for c in cuts], "chance": None,
                  "nan": [np.nan] * len(AUS)}
    candidates = {}
    for name, t in thresholds.items():
        model = _artifact(standard_artifacts.Model, str(base / name))
        _export(os.path.join(model.uri, "Format-Serving"), t)
        evaluations = {}
        for k in FOLDS:  # every fold's "trained" model is the same fixed export
            ev = _artifact(standard_artifacts.ModelEvaluation, str(base / f"{name}-eval{k}"))
            Evaluate().Do({"examples": [examples], "model": [model]}, {"evaluation": [ev]},
                          {"fold": k, "batch_size": 4, "threshold": 0.5})
            evaluations[f"evaluation_{k}"] = [ev]
        candidates[name] = (model, evaluations)
    return {"base": base, "examples": examples, "candidates": candidates, "serving": str(base / "serving"), "runs": 0}


def _gate_and_push(world, name: str) -> tuple[dict, dict]:
    """One pipeline tail: served model evaluated, fold report + blessing, push. Returns (report, push)."""
    from tfx.types import standard_artifacts

    from pipeline.components import fold_report, pusher, served_evaluator

    world["runs"] += 1
    run = world["base"] / f"run{world['runs']}"
    model, evaluations = world["candidates"][name]
    served = _artifact(standard_artifacts.ModelEvaluation, str(run / "served"))
    served_evaluator.Executor().Do({"examples": [world["examples"]]}, {"evaluation": [served]},
                                   {"serving_dir": world["serving"], "folds": "[0, 1, 2]", "batch_size": 4})
    report = _artifact(fold_report.FoldReportArtifact, str(run / "report"))
    blessing = _artifact(standard_artifacts.ModelBlessing, str(run / "blessing"))
    fold_report.Executor().Do({**evaluations, "served_evaluation": [served]},
                              {"report": [report], "blessing": [blessing]},
                              {"min_mean_f1": 0.0, "min_f1_gain": 0.02, "min_auc": 0.6, "max_f1_drop": 0.01,
                               "dataset": "bp4d"})
    pushed = _artifact(standard_artifacts.PushedModel, str(run / "pushed"))
    pusher.Executor().Do({"model_blessing": [blessing], **{f"model_{k}": [model] for k in FOLDS}},
                         {"pushed_model": [pushed]}, {"serving_dir": world["serving"], "dataset": "bp4d"})
    return fold_report.read_report(report.uri), pusher.read_push(pushed.uri)


def _versions(world) -> list[str]:
    base = os.path.join(world["serving"], "keras_au")
    return sorted(n for n in os.listdir(base) if n.isdigit()) if os.path.isdir(base) else []


def test_chance_is_not_pushed_better_becomes_next_version_worse_is_not_pushed(world):
    # 1) a chance-level model, nothing served: fails the gain and AUC bars, nothing is pushed
    report, push = _gate_and_push(world, "chance")
    assert report["gate"]["failed"] == ["f1_gain", "min_auc"] and not push["pushed"]
    assert "all-positive F1" in push["reason"] and "macro AUC 50.0 %" in push["reason"]
    assert _versions(world) == []

    # 2) the weaker real model, nothing served: clears the bars and becomes version 1
    report, push = _gate_and_push(world, "worse")
    worse_f1 = report["mean_f1"]
    assert report["blessed"] and report["mean_auc_mean"] == pytest.approx(1.0) and worse_f1 < 0.95
    assert push["pushed"] and push["version"] == 1 and _versions(world) == ["1"]
    from pipeline.components.served_evaluator import read_provenance

    assert read_provenance(push["destination"])["init"] == {"init": "scratch", "source": "seeded initialisers"}

    # 3) a corrupt version folder appears; the better model is compared with version 1 (the newest that
    #    loads, on its held-out fold), blessed and pushed above the corrupt folder
    corrupt = os.path.join(world["serving"], "keras_au", "2")
    os.makedirs(corrupt)
    with open(os.path.join(corrupt, "saved_model.pb"), "wb") as f:
        f.write(b"\x00not a saved model")
    report, push = _gate_and_push(world, "good")
    assert [s["version"] for s in report["served"]["skipped"]] == [2]
    assert report["served"]["version"] == 1 and report["gate"]["served"]["folds"] == [str(push["fold"])]
    assert report["gate"]["served"]["served_f1"] == pytest.approx(worse_f1)
    assert report["blessed"] and report["mean_f1"] == pytest.approx(1.0)
    assert push["pushed"] and push["version"] == 3 and _versions(world) == ["1", "2", "3"]

    # 4) the weaker model again: worse than the served version 3 by more than 0.01, not pushed, 3 stays
    report, push = _gate_and_push(world, "worse")
    assert report["gate"]["failed"] == ["served"] and not push["pushed"]
    assert push["served_version"] == 3 and "served version 3 100.0 %" in push["reason"]
    assert _versions(world) == ["1", "2", "3"]

    # 5) the served model itself (an unchanged re-run): blessed, but not pushed a second time
    report, push = _gate_and_push(world, "good")
    assert report["blessed"] and not push["pushed"] and push["reason"] == "version 3 already serves this model"
    assert _versions(world) == ["1", "2", "3"]


def test_nan_predictions_or_no_faces_never_bless(world):
    from keras_au.data import schema
    from pipeline.components.au_evaluator import evaluate_export

    before = _versions(world)
    report, push = _gate_and_push(world, "nan")
    assert "valid" in report["gate"]["failed"] and not push["pushed"] and _versions(world) == before
    assert "fold 0: 8 NaN/inf predictions" in push["reason"]
    empty = str(world["base"] / "empty" / "none.tfrecord.gz")
    os.makedirs(os.path.dirname(empty))
    schema.write_tfrecord(empty, [])
    scores = evaluate_export(os.path.join(world["candidates"]["good"][0].uri, "Format-Serving"), empty)
    assert scores["examples"] == 0 and scores["mean_auc"] is None  # reported, and the gate's `valid` refuses it
