"""The in-the-wild paper's tables through `keras-au study`: shipped grids, cell set-up and the per-domain report."""

from __future__ import annotations

import json
import os

import pytest

WILD_GRIDS = ("wild-table1", "wild-table3", "wild-table1-sample", "wild-table3-sample")


@pytest.mark.parametrize("name", WILD_GRIDS)
def test_wild_grids_are_shipped_and_use_a_protocol_with_validation(name):
    from keras_au.experiments import load_grid

    grid = load_grid(name)
    assert grid.family == "wild" and grid.domains == ["target", "source"]
    for v in grid.variants:
        assert v.model == "wild" and v.train["protocol"] == ("sample" if "sample" in name else "adld")
        assert v.train["fine_tune"] is True and v.train["variant"] in ("bl", "ml", "as")
        assert v.name == "as-self" or (isinstance(v.paper, dict) and "target" in v.paper)
    assert grid.folds == ([0] if "sample" in name else [2])  # adld holds out BP4D part 3


def test_departures_grid_switches_one_choice_per_row_and_shares_the_as_cells():
    """Each row of wild-departures-sample turns back exactly one of issue 13's choices (a real WildConfig field,
    set away from the paper preset), and its +AS row is wild-table3-sample's, cell for cell: copied cells resume."""
    import dataclasses

    from keras_au.experiments import expand, load_grid
    from keras_au.experiments.runner import cell_spec
    from keras_au.models.wild.config import WildConfig, preset_config

    dep, t3 = load_grid("wild-departures-sample"), load_grid("wild-table3-sample")
    spec = {}
    for grid in (dep, t3):
        for c in expand(grid, seeds=[0], folds=[0]):
            spec[grid.name, c.id] = cell_spec(c, grid, "R", "U", grid.options, {})
    assert spec[dep.name, "as/fold0-seed0"] == spec[t3.name, "as/fold0-seed0"]
    fields, paper = {f.name for f in dataclasses.fields(WildConfig)}, preset_config("paper", "as")
    switched = set()
    for v in dep.variants[1:]:
        (key, value), *params = v.overrides.items()  # the choice, then its own parameters (decay_every)
        assert key in fields and getattr(paper, key) != value and v.train == dep.variants[0].train
        assert all(k in fields for k, _ in params)
        switched.add(key)
    assert switched == {"au_centre_landmarks", "domain_score", "stage1_on_target", "au_bn_all_domains", "lr_decay"}


def test_step_lr_row_changes_the_rates_at_the_grids_preset():
    """At the demo preset (4 epochs, hold 2, decay every epoch) the step and linear schedules coincide, so a
    row setting only ``lr_decay=step`` retrained +AS (measured: the session 10 cell); the row must change the
    per-epoch rates at the preset it runs."""
    import dataclasses

    from keras_au.experiments import load_grid
    from keras_au.models.wild.config import preset_config
    from keras_au.models.wild.lr_schedule import make_schedule

    dep = load_grid("wild-departures-sample")
    base = preset_config(dep.options["preset"], "as")
    row = dataclasses.replace(base, **next(v for v in dep.variants if v.name == "step-lr").overrides)

    def rates(c, **kw):
        c = dataclasses.replace(c, **kw)
        s = make_schedule(c.lr_decay, 1.0, 1, c.epochs, c.hold_epochs, c.decay_every)
        return [round(float(s(e)), 6) for e in range(c.epochs)]

    assert rates(base, lr_decay="step") == rates(base)  # the void row this test guards against
    assert rates(base) == [1.0, 1.0, round(2 / 3, 6), round(1 / 3, 6)]
    assert rates(row) == [1.0, 1.0, 0.5, 0.5]


def test_dry_run_sets_up_wild_cells_on_source_and_target_records(tmp_path, wild_source, wild_target):
    from keras_au.experiments import load_grid, run_study

    res = run_study(load_grid("wild-table3-sample"), wild_source, str(tmp_path / "study"), unlabeled=wild_target,
                    seeds=[0], preset="ci", dry_run=True, progress=False)
    assert [c["id"] for c in res["cells"]] == ["bl/fold0-seed0", "ml/fold0-seed0", "as/fold0-seed0",
                                              "as-self/fold0-seed0"]
    assert res["pending"] == [c["id"] for c in res["cells"]]


def _scores(f1: float, acc: float) -> dict:
    per_au = {"AU01": {"f1": f1, "accuracy": acc, "support": 5, "auc": 0.6},
              "AU12": {"f1": f1 / 2, "accuracy": acc, "support": 5, "auc": 0.7}}
    return {"per_au": per_au, "mean_f1": 0.75 * f1, "mean_accuracy": acc, "mean_auc": 0.65,
            "baseline": {"mean_f1": 0.3, "f1": {"AU01": 0.3, "AU12": 0.3}}}


def test_report_gives_one_table_per_domain_with_accuracy_and_the_papers_numbers(tmp_path):
    from keras_au.experiments.grid import Variant, parse_grid
    from keras_au.experiments.report import write_report

    grid = parse_grid({"variants": [{"model": "wild", "name": "as", "label": "Ours (as)",
                                     "paper": {"target": 38.9, "source": 62.6}}],
                       "domains": ["target", "source"], "seeds": [0, 1], "folds": [0]})
    assert isinstance(grid.variants[0], Variant)
    records = []
    for seed, (t, s) in enumerate(((0.4, 0.6), (0.5, 0.7))):
        tgt, src = _scores(t, 0.8), _scores(s, 0.9)
        records.append({"id": f"as/fold0-seed{seed}", "variant": "as", "model": "wild", "fold": 0, "seed": seed,
                        "labeled_subjects": None, "dir": "", "status": "done",
                        "scores": {**tgt, "target": tgt, "source": src}})
    files = write_report(str(tmp_path), grid, records, {"folds": [0], "seeds": [0, 1], "preset": "ci"})
    md = open(files["markdown"]).read()
    target, source = md.split("## Target domain")[1].split("## Source domain")
    assert "| mean F1 | acc | paper | AUC | seeds |" in target
    row = next(line for line in target.splitlines() if line.startswith("| Ours (as)"))
    assert "**33.8 ± 5.3**" in row and "| 80.0 ± 0.0 |" in row and "| 38.9 |" in row and row.endswith("| 2 |")
    src_row = next(line for line in source.splitlines() if line.startswith("| Ours (as)"))
    assert "**48.7 ± 5.3**" in src_row and "| 62.6 |" in src_row and "| 90.0 ± 0.0 |" in src_row
    assert "| all-positive |" in source
    with open(files["json"]) as f:
        summary = json.load(f)
    assert set(summary["domains"]) == {"target", "source"} and summary["counts"]["done"] == 2
    assert summary["rows"][0]["mean_f1"]["mean"] == pytest.approx(0.3375)
    assert os.path.isfile(files["json"])
