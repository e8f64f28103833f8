"""The local TFX pipeline end to end on a tiny real-face slice: killed, resumed from the cache, re-run.

Real pieces only: Beam preprocessing (detect, align, TV-L1), RTATL "ci" preset training per fold,
per-fold evaluation, the served-model evaluation, fold report and the gate: two training steps per fold
give a chance-level model, which the default gate must refuse to push (the pipeline still exits 0).
"""

from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

pytestmark = pytest.mark.slow


def _cli_args(tiny_raw: dict, root: str) -> list[str]:
    return ["pipeline", "run", "--data", tiny_raw["bp4d"], "--unlabeled", tiny_raw["unlabeled"], "--root", root,
            "--model", "rtatl", "--preset", "ci", "--epochs", "1", "--steps-per-epoch", "2", "--batch-size", "4",
            "--min-f1", "0", "--seed", "0"]


def _run_in_process(cli_args: list[str]) -> dict:
    """Same flags as the CLI, parsed by the CLI, run here (so the config is identical)."""
    from keras_au.cli import build_parser
    from keras_au.cli.pipeline import config_from_args
    from pipeline.local_runner import run_local

    args, extra = build_parser().parse_known_args(cli_args)
    args.extra = extra
    return run_local(config_from_args(args))


def _kill_after(cli_args: list[str], node: str) -> tuple[list[str], str]:
    """Runs `keras-au pipeline run`, SIGKILLs its process group once ``node`` has finished; returns the
    components that finished and the output."""
    proc = subprocess.Popen([sys.executable, "-m", "keras_au.cli", *cli_args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    finished, lines = [], []
    try:
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("[pipeline ") and line.rstrip().endswith(")") and " done (" in line:
                finished.append(line.split("] ", 1)[1].split(" done", 1)[0])
                if finished[-1] == node:
                    os.killpg(proc.pid, signal.SIGKILL)
                    break
    finally:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait(timeout=60)
    return finished, "".join(lines[-40:])


def test_pipeline_runs_end_to_end_and_resumes_from_cache_after_a_kill(tiny_raw, tmp_path, capsys):
    from keras_au.data.schema import read_examples
    from pipeline.components.au_evaluator import read_scores
    from pipeline.components.fold_report import read_report
    from pipeline.components.pusher import read_push

    root = str(tmp_path / "root")
    cli_args = _cli_args(tiny_raw, root)

    # 1) a run killed (SIGKILL, whole process group) right after the first Trainer finished
    finished, output = _kill_after(cli_args, "Trainer_fold0")
    assert finished and finished[-1] == "Trainer_fold0", output
    assert {"Preprocess", "StatisticsGen"} <= set(finished)

    # 2) the re-run takes the finished components from the cache and runs only the rest
    resumed = _run_in_process(cli_args)
    states = resumed["executions"]
    assert len(states) == 13
    assert {n for n, s in states.items() if s == "CACHED"} == set(finished)
    assert {n for n, s in states.items() if s == "COMPLETE"} == set(states) - set(finished)

    # 3) a third run, through the CLI, executes nothing, exits 0 and says which bars the model failed
    from keras_au.cli import build_parser, main
    from keras_au.cli.pipeline import config_from_args
    from pipeline.local_runner import absolute, run_summary

    capsys.readouterr()
    assert main(cli_args) == 0
    console = capsys.readouterr().out
    args, extra = build_parser().parse_known_args(cli_args)
    args.extra = extra
    again = run_summary(absolute(config_from_args(args)))
    assert set(again["executions"].values()) == {"CACHED"}
    assert again["outputs"] == resumed["outputs"]
    assert "nothing pushed: NOT blessed:" in console and "| min_auc |" in console

    out = resumed["outputs"]
    # Examples: one split per fold (+ unlabeled), TFX layout Split-<name>/*.gz of tf.train.Example
    examples = out["Preprocess"]["examples"]
    with open(os.path.join(examples, "report.json")) as f:
        pre_report = json.load(f)
    splits = sorted(os.path.basename(p) for p in glob.glob(os.path.join(examples, "Split-*")))
    assert splits == ["Split-fold-0", "Split-fold-1", "Split-fold-2", "Split-unlabeled"]
    counts = {}
    for k in range(3):
        recs = read_examples(os.path.join(examples, f"Split-fold-{k}", "*.gz"))
        assert recs and {r["fold"][0] for r in recs} == {k} and all(r["labeled"][0] == 1 for r in recs)
        counts[k] = len(recs)
    unlabeled = read_examples(os.path.join(examples, "Split-unlabeled", "*.gz"))
    assert len(unlabeled) == 2 and all(r["labeled"][0] == 0 and set(r["au_labels"]) == {-1} for r in unlabeled)
    assert sum(counts.values()) == pre_report["labeled"]["examples_written"] == 15  # 3 subjects x 5 frames
    for part in ("labeled", "unlabeled"):  # per-frame skip records survive next to the splits
        assert os.path.isfile(os.path.join(examples, "preprocess", part, "dead_letter.jsonl"))

    # StatisticsGen looked only at the scalar features; nothing anomalous against the inferred schema
    import tensorflow_data_validation as tfdv

    stats = tfdv.load_stats_binary(os.path.join(out["StatisticsGen"]["statistics"], "Split-fold-0", "FeatureStats.pb"))
    names = {f.path.step[0] for f in stats.datasets[0].features}
    assert {"au_labels", "labeled", "has_flow", "subject"} <= names and not names & {"image", "flow", "landmarks"}
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    for path in glob.glob(os.path.join(out["ExampleValidator"]["anomalies"], "Split-*", "SchemaDiff.pb")):
        anomalies = anomalies_pb2.Anomalies.FromString(open(path, "rb").read())
        assert not anomalies.anomaly_info, path

    # Trainers: the RTATL run and its inference-only export per fold
    for k in range(3):
        model_dir = os.path.join(out[f"Trainer_fold{k}"]["model"], "Format-Serving")
        with open(os.path.join(model_dir, "export.json")) as f:
            assert json.load(f)["model"] == "rtatl"
        with open(os.path.join(out[f"Trainer_fold{k}"]["model_run"], "run", "run.json")) as f:
            run = json.load(f)
        assert run["model"] == "rtatl" and int(run.get("fold", k)) == k
        scores = read_scores(out[f"AUEvaluator_fold{k}"]["evaluation"])
        assert scores["fold"] == k and scores["examples"] == counts[k] and len(scores["per_au"]) == 12
        assert 0.0 <= scores["mean_f1"] <= 1.0

    # Fold report + gate: a chance-level model is not pushed, and every failed bar is named with numbers
    report = read_report(out["FoldReport"]["report"])
    fold_f1 = [read_scores(out[f"AUEvaluator_fold{k}"]["evaluation"])["mean_f1"] for k in range(3)]
    assert report["mean_f1"] == pytest.approx(np.mean(fold_f1)) and report["blessed"] is False
    assert {"f1_gain", "min_auc"} & set(report["gate"]["failed"]), report["gate"]
    assert report["served"]["version"] is None  # nothing served yet
    assert "**NOT blessed**" in open(os.path.join(out["FoldReport"]["report"], "report.md")).read()
    push = read_push(out["KerasAuPusher"]["pushed_model"])
    assert not push["pushed"] and push["reason"].startswith("NOT blessed")
    assert not os.path.exists(os.path.join(root, "serving_model", "keras_au"))
