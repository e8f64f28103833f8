"""`keras-au study` without training: grid validation, record checks and the tables (pure functions)."""

import json
import os
import shutil

import pytest

from keras_au.experiments import StudyError, Variant, load_grid, parse_grid, run_study
from keras_au.experiments import runner
from keras_au.experiments.records import check_labeled_subjects, check_records
from keras_au.experiments.report import aggregate, fmt, markdown, plot_fig4, plot_rows


def _scores(mean_f1, au01, au02, support02=5, auc=0.6, base=0.5):
    return {"per_au": {"AU01": {"f1": au01, "support": 5}, "AU02": {"f1": au02, "support": support02}},
            "mean_f1": mean_f1, "mean_auc": auc,
            "baseline": {"mean_f1": base, "f1": {"AU01": base, "AU02": base + 0.1}}}


def _rec(variant, fold, seed, scores=None, n=None, status="done", error=None):
    rec = {"id": f"{variant}/fold{fold}-seed{seed}", "variant": variant, "fold": fold, "seed": seed,
           "labeled_subjects": n, "status": status}
    if scores is not None:
        rec["scores"] = scores
    if error:
        rec.update(error=error, log=f"/x/{variant}/cell.log")
    return rec


@pytest.fixture
def table():
    recs = []
    for s in (0, 1, 2):
        for k in (0, 1):
            f1 = 0.3 + 0.1 * s + 0.01 * k
            # AU02 has no known labels in fold 1: it must stay out of that fold's mean, not count as 0.
            recs.append(_rec("a", k, s, _scores(f1, f1, 0.8, support02=0 if k else 5, base=0.5 + 0.2 * k)))
            if (s, k) == (2, 1):
                recs.append(_rec("b", k, s, status="failed", error="ValueError: boom"))
            else:
                recs.append(_rec("b", k, s, _scores(0.2 + 0.1 * s, 0.2, 0.4, auc=None if s else 0.7)))
    variants = [Variant("a", "backbone_t", "Method A", 60.0), Variant("b", "ofe", "Method B")]
    return recs, aggregate(recs, variants, folds=[0, 1], seeds=[0, 1, 2])


def test_rows_average_folds_then_seeds(table):
    _, summary = table
    a, b = summary["rows"]
    # per seed: mean over folds 0.305, 0.405, 0.505 -> mean 0.405, sample sd 0.1
    assert a["mean_f1"]["mean"] == pytest.approx(0.405) and a["mean_f1"]["sd"] == pytest.approx(0.1)
    assert a["seeds"] == [0, 1, 2] and a["paper_mean_f1"] == pytest.approx(0.60)
    assert a["per_au"]["AU01"]["mean"] == pytest.approx(0.405)
    assert a["per_au"]["AU02"] == {"mean": pytest.approx(0.8), "sd": pytest.approx(0.0), "n": 3}
    # seed 2 of b lost a fold: the row averages seeds 0 and 1 only, and names the missing cell
    assert b["seeds"] == [0, 1] and b["unfinished"] == ["b/fold1-seed2"]
    assert b["mean_f1"]["mean"] == pytest.approx(0.25) and b["mean_f1"]["sd"] == pytest.approx(0.0707107)
    assert b["mean_auc"] == {"mean": pytest.approx(0.7), "sd": None, "n": 1}  # AUC undefined for seed 1
    base = summary["baseline"]
    assert base["mean_f1"]["mean"] == pytest.approx(0.6) and base["per_au"]["AU02"]["mean"] == pytest.approx(0.7)
    assert summary["counts"] == {"done": 11, "failed": 1, "pending": 0} and summary["fig4"] == {}
    assert a["delta"] is None  # the reference row
    assert b["delta"]["ref"] == "Method A" and b["delta"]["seeds"] == [0, 1]
    assert b["delta"]["mean_f1"] == {"mean": pytest.approx(-0.105), "sd": pytest.approx(0.0), "n": 2}
    assert b["delta"]["mean_auc"] == {"mean": pytest.approx(0.1), "sd": None, "n": 1}
    assert a["within_person_auc"] == {"mean": None, "sd": None, "n": 0}  # no person ids: no column either


def test_within_person_auc_column_when_cells_have_people(table):
    recs, _ = table
    for r in recs:
        if r.get("scores") and r["variant"] == "a":
            r["scores"] = dict(r["scores"], person_calibrated={"mean_within_person_auc": 0.7 + 0.01 * r["seed"]})
    summary = aggregate(recs, [Variant("a", "backbone_t", "Method A"), Variant("b", "ofe", "Method B")],
                        folds=[0, 1], seeds=[0, 1, 2])
    assert summary["rows"][0]["within_person_auc"] == {"mean": pytest.approx(0.71), "sd": pytest.approx(0.01), "n": 3}
    lines = markdown(summary, {}, "t").splitlines()
    assert "| AUC | AUC within person | ΔF1 vs Method A |" in next(ln for ln in lines if ln.startswith("| method"))
    assert "| 60.0 ± 0.0 | 71.0 ± 1.0 | — | — | 3 |" in next(ln for ln in lines if ln.startswith("| Method A"))
    assert next(ln for ln in lines if ln.startswith("| all-positive")).endswith("| 50.0 | — | — | — | — |")


def test_paired_delta_removes_the_shared_seed_effect():
    # Both rows move with the seed by +-10 points; B sits 1 point above A on every seed.
    recs = [_rec(v, 0, s, _scores(0.3 + 0.1 * s + (0.01 if v == "b" else 0.0), 0.5, 0.5))
            for v in ("a", "b") for s in (0, 1, 2)]
    summary = aggregate(recs, [Variant("a", "backbone_t", "A"), Variant("b", "ofe", "B")], folds=[0], seeds=[0, 1, 2])
    b = summary["rows"][1]
    assert b["mean_f1"]["sd"] == pytest.approx(0.1)  # unpaired: the gap is lost in the spread
    assert b["delta"]["mean_f1"]["mean"] == pytest.approx(0.01) and b["delta"]["mean_f1"]["sd"] == pytest.approx(0.0)


def test_markdown_is_table1_layout(table):
    recs, summary = table
    md = markdown(summary, {"data": "/d", "folds": [0, 1], "seeds": [0, 1, 2], "preset": "ci"}, "t", "desc", recs)
    lines = md.splitlines()
    header = next(ln for ln in lines if ln.startswith("| method"))
    assert header == ("| method | AU01 | AU02 | mean F1 | paper | AUC | ΔF1 vs Method A | ΔAUC vs Method A "
                      "| seeds |")
    row_a = next(ln for ln in lines if ln.startswith("| Method A"))
    assert row_a == "| Method A | 40.5 ± 10.0 | 80.0 ± 0.0 | **40.5 ± 10.0** | 60.0 | 60.0 ± 0.0 | — | — | 3 |"
    # B - A per seed: 0.2 - 0.305, 0.3 - 0.405 -> -10.5 ± 0.0; AUC only seed 0: 0.7 - 0.6
    assert next(ln for ln in lines if ln.startswith("| Method B")).endswith("| — | 70.0 | -10.5 ± 0.0 | +10.0 | 2 |")
    summary["rows"][1]["mean_f1"] = {"mean": None, "sd": None, "n": 0}  # a row with no finished seed
    md = markdown(summary, {}, "t")
    assert next(ln for ln in md.splitlines() if ln.startswith("| Method B")).endswith("| — | — | 70.0 | -10.5 ± 0.0 "
                                                                                       "| +10.0 | 2 |")
    assert "| all-positive | 60.0 | 70.0 | 60.0 | — | 50.0 | — | — | — |" in lines
    assert "![mean F1 and AUC per method, sd over seeds](study.png)" in lines
    assert "| b/fold1-seed2 | failed | ValueError: boom | /x/b/cell.log |" in lines
    assert fmt({"mean": None}) == "—" and fmt({"mean": 0.5, "sd": None}) == "50.0"


def test_fig4_series_table_and_plot(tmp_path):
    recs = [_rec("r", 0, s, _scores(0.1 * n + 0.01 * s, 0.5, 0.5), n=n) for n in (3, 6) for s in (0, 1)]
    summary = aggregate(recs, [Variant("r", "rtatl", "RTATL")], folds=[0], seeds=[0, 1])
    s = summary["fig4"]["r"]
    assert s["n"] == [3, 6] and s["mean"] == pytest.approx([0.305, 0.605])
    assert s["sd"] == pytest.approx([0.00707107] * 2)
    md = markdown(summary, {}, "fig4", records=recs)
    assert "| RTATL (N=3) |" in md and "| method | N=3 | N=6 |" in md and "![Fig. 4](fig4.png)" in md
    path = plot_fig4(summary, str(tmp_path / "fig4.png"))
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert summary["rows"][1]["delta"] is None  # the reference at N=6 is the first row at N=6, itself


def test_rows_figure_per_domain(table, tmp_path):
    _, summary = table
    one = plot_rows({"": summary}, str(tmp_path / "one.png"))
    two = plot_rows({"target": summary, "source": summary}, str(tmp_path / "two.png"))
    from PIL import Image

    w1, h1 = Image.open(one).size
    w2, h2 = Image.open(two).size
    assert w1 == w2 and h2 == 2 * h1  # one row of (F1, AUC) panels per domain


@pytest.mark.parametrize("raw, message", [
    ({"variants": ["backbone_t", "no_such_model"]}, "unknown variant 'no_such_model'"),
    ({"variants": ["backbone_t"], "epochs": 3}, "unknown grid keys ['epochs']"),
    ({"variants": ["backbone_t", "backbone_t"]}, "variant names repeat"),
    ({"variants": ["backbone_t", "wild"]}, "one study runs one family"),
    ({"variants": []}, "non-empty list"),
    ({"variants": ["ofe"], "seeds": [0, "1"]}, "seeds must be a non-empty list of integers"),
    ({"variants": ["ofe"], "labeled_subjects": [0, 3]}, "labeled_subjects must be"),
    ({"variants": [{"model": "ofe", "sett": {}}]}, "unknown variant keys ['sett']"),
    ({"variants": ["ofe"], "options": {"lr": 1}}, "\"options\" may hold only"),
    ({"variants": [{"model": "wild", "train": {"fold": 1}}]}, "\"train\" must be an object of train() arguments"),
])
def test_bad_grids_fail_naming_the_problem(raw, message):
    with pytest.raises(StudyError) as e:
        parse_grid(raw, "g")
    assert message in str(e.value)


def test_cell_spec_is_the_train_call(tiny_records):
    grid = parse_grid({"variants": [{"model": "wild", "name": "ml", "set": {"lr": 1, "x": 2},
                                     "train": {"variant": "ml"}}],
                       "set": {"lr": 3, "y": 4}, "options": {"preset": "demo", "epochs": 5}, "folds": [1]}, "g")
    assert grid.family == "wild"
    cell = runner.expand(grid, seeds=[7])[0]
    assert cell.id == "ml/fold1-seed7"
    spec = runner.cell_spec(cell, grid, tiny_records, None, {**grid.options, "epochs": 6}, {"y": 5, "x": 0})
    assert spec["train"] == {
        "variant": "ml", "model": "wild", "data": os.path.abspath(tiny_records), "fold": 1, "unlabeled": None,
        "seed": 7, "preset": "demo", "epochs": 6, "steps_per_epoch": None, "batch_size": None,
        # grid "set" < --set < the variant's own "set"
        "overrides": {"lr": 1, "y": 5, "x": 2}, "labeled_subjects": None, "demote_unlabeled": False}
    fig4 = parse_grid({"variants": ["rtatl"], "labeled_subjects": [3, 9], "demote_unlabeled": True}, "g")
    ids = [c.id for c in runner.expand(fig4, seeds=[0], folds=[0])]
    assert ids == ["rtatl/n03-fold0-seed0", "rtatl/n09-fold0-seed0"]


def test_grid_files(tmp_path):
    assert [v.model for v in load_grid("table1").variants] == [
        "backbone_g", "backbone_t", "rotation", "exemplar", "jigsaw", "ofe", "roii", "rtatl"]
    assert load_grid("fig4").labeled_subjects == [3, 9, 15, 21]
    # the sample's core study has every Table 1 auxiliary row, and its label-scarce cell the same budget
    core, scarce = load_grid("rtatl-core-sample"), load_grid("scarce-sample")
    assert {"backbone_t", "rotation", "exemplar", "jigsaw", "ofe", "roii", "rtatl"} <= {v.model for v in core.variants}
    assert scarce.options == core.options and scarce.overrides == core.overrides and scarce.demote_unlabeled
    with pytest.raises(StudyError, match="not a shipped grid"):
        load_grid("table9")
    bad = tmp_path / "bad.json"
    bad.write_text("{variants: }")
    with pytest.raises(StudyError, match="not valid JSON"):
        load_grid(str(bad))


@pytest.fixture
def records_copy(tiny_records, tmp_path):
    return shutil.copytree(tiny_records, str(tmp_path / "records"))


def test_bad_records_fail_before_training(records_copy, tiny_records, tmp_path):
    grid = parse_grid({"variants": ["backbone_t"], "folds": [0], "seeds": [0]}, "g")
    out = str(tmp_path / "study")
    shutil.rmtree(os.path.join(records_copy, "fold-2"))
    with pytest.raises(StudyError, match="fold 2 is missing"):
        run_study(grid, records_copy, out)
    os.makedirs(os.path.join(records_copy, "fold-2"))
    with pytest.raises(StudyError, match="fold-2 holds no TFRecord files"):
        run_study(grid, records_copy, out)
    assert not os.path.exists(out)  # nothing was set up, let alone trained
    empty = tmp_path / "unlabeled"
    empty.mkdir()
    with pytest.raises(StudyError, match="unlabeled .* holds no TFRecord files"):
        check_records(tiny_records, [0], str(empty))
    with pytest.raises(StudyError, match=r"folds \[3\] do not exist"):
        check_records(tiny_records, [3])


def test_labeled_subjects_checked_against_the_records(tiny_records, tmp_path, monkeypatch):
    # tiny records: 2 subjects per fold, so each test fold leaves 4 training subjects
    assert check_labeled_subjects(tiny_records, [0, 2], [1, 4]) == {0: 4, 2: 4}
    with pytest.raises(StudyError, match=r"labeled_subjects \[5\] exceed the 4 training subjects of fold 0"):
        check_labeled_subjects(tiny_records, [0], [2, 5])

    class NoFig4Task:  # a family whose typed options lack labeled_subjects (as the wild model's do)
        @staticmethod
        def train_option_names():
            return ["model", "out", "fold", "seed"]

        @staticmethod
        def train(**options):
            raise AssertionError("must not train")

    monkeypatch.setattr(runner.registry, "get_task", lambda model: NoFig4Task)
    grid = parse_grid({"variants": ["backbone_t"], "labeled_subjects": [2], "folds": [0]}, "g")
    with pytest.raises(StudyError, match=r"does not take \['labeled_subjects', 'demote_unlabeled'\]"):
        run_study(grid, tiny_records, str(tmp_path / "s"))


def test_changed_options_refuse_to_mix_cells(tiny_records, tmp_path):
    grid = parse_grid({"variants": ["backbone_t"], "folds": [0], "seeds": [0]}, "g")
    out = str(tmp_path / "s")
    listed = run_study(grid, tiny_records, out, preset="ci", epochs=2, dry_run=True)
    assert [(r["id"], r["status"]) for r in listed["cells"]] == [("backbone_t/fold0-seed0", "pending")]
    cell = runner.expand(grid)[0]
    spec = runner.cell_spec(cell, grid, tiny_records, None, {"preset": "ci", "epochs": 2}, {})
    path = runner.cell_dir(out, cell)
    os.makedirs(path)
    with open(os.path.join(path, "cell.json"), "w") as f:
        json.dump(spec, f)
    run_study(grid, tiny_records, out, preset="ci", epochs=2, dry_run=True)  # same options: fine
    run_study(grid, tiny_records, out, preset="ci", epochs=3, dry_run=True)  # nothing trained yet: fine
    with open(os.path.join(path, "run.json"), "w") as f:
        json.dump({"model": "backbone_t"}, f)
    with pytest.raises(StudyError, match="other options \\(epochs\\)"):
        run_study(grid, tiny_records, out, preset="ci", epochs=3, dry_run=True)
