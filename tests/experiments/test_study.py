"""`keras-au study` end to end on real-face records ("ci" preset, a tiny grid): a cell that fails, a kill
during a cell and the resume, finished cells skipped, and study.md/study.json from the cells' scores."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from keras_au.experiments import StudyError, load_grid, run_study

A, B = "backbone_t/fold0-seed0", "backbone_t/fold0-seed1"
C = ["bad/fold0-seed0", "bad/fold0-seed1"]
FLAGS = dict(preset="ci", epochs=1, steps_per_epoch=1)
GRID = {"name": "tiny", "folds": [0], "seeds": [0, 1],
        "variants": [{"model": "backbone_t", "label": "Backbone^T", "paper": 62.5},
                     # its own --set is invalid (dim not divisible by the 8 heads): train raises in that cell
                     {"model": "backbone_t", "name": "bad", "set": {"model.dim": 15}}]}


def _json(path):
    with open(path) as f:
        return json.load(f)


def _processes_naming(text: str) -> list[int]:
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if text.encode() in f.read():
                    pids.append(int(pid))
        except OSError:
            pass
    return pids


@pytest.fixture(scope="module")
def study(tiny_records, tmp_path_factory):
    base = tmp_path_factory.mktemp("study")
    grid, out = str(base / "tiny.json"), str(base / "out")
    with open(grid, "w") as f:
        json.dump(GRID, f)
    cell = lambda cid: os.path.join(out, "cells", cid)  # noqa: E731
    # Run 1: the CLI in its own process, killed (SIGKILL) once B has checkpointed its epoch, before it has
    # evaluated: the resumed B must load that checkpoint (train's own resume) rather than train again.
    cmd = [sys.executable, "-m", "keras_au.cli", "study", "--grid", grid, "--data", tiny_records, "--out", out,
           "--preset", "ci", "--epochs", "1", "--steps-per-epoch", "1"]
    with open(base / "run1.log", "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + 400
        while not os.path.exists(os.path.join(cell(B), "checkpoint", "state.npz")):
            assert proc.poll() is None and time.time() < deadline, (base / "run1.log").read_text()[-3000:]
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    at_kill = {c: os.path.exists(os.path.join(cell(c), "result.json")) for c in (A, B)}
    for _ in range(100):  # the cell process dies with the study (no orphan racing the resumed study)
        if not _processes_naming(cell(B)):
            break
        time.sleep(0.1)
    orphans = _processes_naming(cell(B))
    a_mtime = os.path.getmtime(os.path.join(cell(A), "result.json"))
    # Run 2: resume, two cells at a time (B from its checkpoint, the failing cells beside it).
    run2 = run_study(load_grid(grid), tiny_records, out, jobs=2, progress=False, **FLAGS)
    b_mtime = os.path.getmtime(os.path.join(cell(B), "result.json"))
    # Run 3: nothing left to train; the failed cell is retried (and fails again).
    run3 = run_study(load_grid(grid), tiny_records, out, progress=False, **FLAGS)
    return {"out": out, "cell": cell, "at_kill": at_kill, "orphans": orphans, "run2": run2, "run3": run3,
            "a_mtime": a_mtime, "b_mtime": b_mtime}


def test_kill_then_resume_finishes_only_what_was_left(study):
    cell = study["cell"]
    assert study["at_kill"] == {A: True, B: False} and study["orphans"] == []
    assert study["run2"]["ran"] == [B] and sorted(study["run2"]["failed"]) == C
    # B continued from the checkpoint the kill left, through train's own resume
    assert _json(os.path.join(cell(B), "run.json"))["resumed_from_epoch"] == 1
    assert os.path.getmtime(os.path.join(cell(A), "result.json")) == study["a_mtime"]
    with open(os.path.join(cell(A), "cell.log")) as f:
        assert f.read().count("===== keras-au study: cell") == 1
    with open(os.path.join(cell(B), "cell.log")) as f:
        assert f.read().count("===== keras-au study: cell") == 2


def test_second_run_trains_nothing(study):
    cell = study["cell"]
    assert study["run3"]["ran"] == [] and study["run3"]["failed"] == C
    assert os.path.getmtime(os.path.join(cell(B), "result.json")) == study["b_mtime"]
    assert [r["status"] for r in study["run3"]["cells"]] == ["done", "done", "failed", "failed"]


def test_failed_cell_recorded_with_its_log(study):
    failed = _json(os.path.join(study["cell"](C[0]), "failed.json"))
    assert failed["returncode"] != 0 and "dim 15 must be divisible by heads 8" in failed["error"]
    with open(failed["log"]) as f:
        log = f.read()
    assert "Traceback" in log and log.count("===== keras-au study: cell bad/fold0-seed0") == 2  # runs 2 and 3
    assert not os.path.exists(os.path.join(study["cell"](C[0]), "result.json"))


def test_report_computed_from_cell_scores(study):
    out, cell = study["out"], study["cell"]
    scores = [_json(os.path.join(cell(c), "eval", "scores.json")) for c in (A, B)]
    report = _json(os.path.join(out, "study.json"))
    row = next(r for r in report["rows"] if r["variant"] == "backbone_t")
    f1 = [s["mean_f1"] for s in scores]
    assert row["seeds"] == [0, 1] and row["mean_f1"]["mean"] == pytest.approx(np.mean(f1))
    assert row["mean_f1"]["sd"] == pytest.approx(np.std(f1, ddof=1))
    assert row["per_au"]["AU12"]["mean"] == pytest.approx(np.mean([s["per_au"]["AU12"]["f1"] for s in scores]))
    assert report["baseline"]["mean_f1"]["mean"] == pytest.approx(scores[0]["baseline"]["mean_f1"])
    bad = next(r for r in report["rows"] if r["variant"] == "bad")
    assert bad["seeds"] == [] and bad["unfinished"] == C
    with open(os.path.join(out, "study.md")) as f:
        md = f.read().splitlines()
    line = next(ln for ln in md if ln.startswith("| Backbone^T |"))
    mean, sd = 100 * np.mean(f1), 100 * np.std(f1, ddof=1)
    assert f"| **{mean:.1f} ± {sd:.1f}** | 62.5 |" in line and line.endswith("| 2 |")
    assert any(ln.startswith("| all-positive |") for ln in md)
    assert any(ln.startswith(f"| {C[1]} | failed | ValueError: dim 15") for ln in md)
    assert not os.path.exists(os.path.join(out, "fig4.png"))  # no labeled-subject cells in this grid


def test_variants_limit_what_runs_not_what_is_reported(tiny_records, tmp_path):
    grid = str(tmp_path / "tiny.json")
    with open(grid, "w") as f:
        json.dump(GRID, f)
    plan = run_study(load_grid(grid), tiny_records, str(tmp_path / "out"), dry_run=True, variants=["bad"], **FLAGS)
    assert plan["pending"] == C and [r["id"] for r in plan["cells"]] == [A, B, *C]
    with pytest.raises(StudyError, match=r"--variants nope: not in grid tiny \(backbone_t, bad\)"):
        run_study(load_grid(grid), tiny_records, str(tmp_path / "out"), dry_run=True, variants=["nope"], **FLAGS)


def test_report_mode_rewrites_the_report_without_training(study, tiny_records):
    out, cell = study["out"], study["cell"]
    md_path, json_path = os.path.join(out, "study.md"), os.path.join(out, "study.json")
    with open(md_path) as f:
        before = f.read()
    expected_rows = _json(json_path)["rows"]
    os.remove(md_path)
    os.remove(json_path)
    mtimes = {c: os.path.getmtime(os.path.join(cell(c), "result.json")) for c in (A, B)}
    grid = os.path.join(os.path.dirname(out), "tiny.json")
    proc = subprocess.run([sys.executable, "-m", "keras_au.cli", "study", "--grid", grid, "--data", tiny_records,
                           "--out", out, "--preset", "ci", "--epochs", "1", "--steps-per-epoch", "1", "--report"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "report over 2 finished of 4 cells (nothing trained)" in proc.stdout
    with open(md_path) as f:
        assert f.read() == before
    assert _json(json_path)["rows"] == expected_rows
    assert {c: os.path.getmtime(os.path.join(cell(c), "result.json")) for c in (A, B)} == mtimes
    for c in C:  # failed cells are not retried in report mode: their log holds runs 2 and 3 only
        with open(os.path.join(cell(c), "cell.log")) as f:
            assert f.read().count("===== keras-au study: cell") == 2


def test_rescore_evaluates_finished_cells_again_without_training(study, tiny_records):
    """A study from an older evaluate (here: no AUC in A's scores) gets today's metrics back."""
    out, cell = study["out"], study["cell"]
    path = os.path.join(cell(A), "result.json")
    old = _json(path)
    stale = dict(old, scores={k: v for k, v in old["scores"].items() if k not in ("mean_auc", "person_calibrated")})
    with open(path, "w") as f:
        json.dump(stale, f)
    assert "mean_auc" not in _json(path)["scores"]
    weights = os.path.join(cell(A), "checkpoint", "state.npz")
    weights_mtime = os.path.getmtime(weights) if os.path.exists(weights) else None
    result = run_study(load_grid(os.path.join(os.path.dirname(out), "tiny.json")), tiny_records, out,
                       report_only=True, rescore=True, variants=["backbone_t"], progress=False, **FLAGS)
    new = _json(path)
    assert result["ran"] == [] and new["train"] == old["train"] and "rescored" in new
    assert new["scores"]["mean_auc"] == pytest.approx(old["scores"]["mean_auc"])  # same weights, same faces
    assert new["scores"]["mean_f1"] == pytest.approx(old["scores"]["mean_f1"])
    assert _json(os.path.join(cell(A), "eval", "scores.json"))["mean_auc"] == pytest.approx(new["scores"]["mean_auc"])
    if weights_mtime is not None:
        assert os.path.getmtime(weights) == weights_mtime
    for c in C:  # failed cells are neither evaluated nor turned into finished ones
        assert not os.path.exists(os.path.join(cell(c), "result.json"))
    row = next(r for r in _json(os.path.join(out, "study.json"))["rows"] if r["variant"] == "backbone_t")
    assert row["mean_auc"]["n"] == 2


def test_report_from_gathered_result_files(study, tiny_records, tmp_path):
    """A study run elsewhere (other record paths) reports from its cells' cell.json + result.json alone;
    a cell set up with other training options is still refused."""
    out, cell = study["out"], study["cell"]
    moved = str(tmp_path / "gathered")
    for c in (A, B):
        os.makedirs(os.path.join(moved, "cells", c))
        spec = _json(os.path.join(cell(c), "cell.json"))
        spec["train"]["data"] = "/elsewhere/records"  # the machine that trained it
        with open(os.path.join(moved, "cells", c, "cell.json"), "w") as f:
            json.dump(spec, f)
        with open(os.path.join(cell(c), "result.json")) as src, \
                open(os.path.join(moved, "cells", c, "result.json"), "w") as dst:
            dst.write(src.read())
    grid = load_grid(os.path.join(os.path.dirname(out), "tiny.json"))
    result = run_study(grid, tiny_records, moved, report_only=True, progress=False, **FLAGS)
    rows = {r["variant"]: r for r in _json(os.path.join(moved, "study.json"))["rows"]}
    assert rows == {r["variant"]: r for r in _json(os.path.join(out, "study.json"))["rows"]}
    assert rows["backbone_t"]["mean_f1"]["n"] == 2 and result["ran"] == []
    with pytest.raises(StudyError, match="epochs"):  # other training options: not the same cell
        run_study(grid, tiny_records, moved, report_only=True, progress=False, **dict(FLAGS, epochs=2))
    with pytest.raises(StudyError, match="data"):  # training (or rescoring) needs the cell's own records
        run_study(grid, tiny_records, moved, report_only=True, rescore=True, progress=False, **FLAGS)
