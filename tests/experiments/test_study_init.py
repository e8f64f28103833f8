"""A grid's "init" (per grid, or per variant through its "train") reaches the family's train(), no training."""

from __future__ import annotations

import pytest

from keras_au.experiments import StudyError
from keras_au.experiments.cell import SPEC, run_cell
from keras_au.experiments.grid import expand, parse_grid
from keras_au.experiments.runner import _check_train_options, cell_spec
from keras_au.jsonio import write_json
from keras_au.models import registry


def test_grid_init_reaches_train(tmp_path, monkeypatch):
    grid = parse_grid({"init": "imagenet", "folds": [0], "seeds": [0],
                       "variants": ["backbone_t", {"model": "rtatl", "train": {"init": "scratch"}}]})
    _check_train_options(grid)  # the RTATL family takes init
    calls = []

    class Task:
        def train(self, **kw):
            calls.append(kw)
            return {}

        def evaluate(self, **kw):
            return {"mean_f1": 0.5}

    monkeypatch.setattr(registry, "task_module", lambda name: Task())
    for cell in expand(grid):
        path = tmp_path / cell.variant.name
        path.mkdir()
        write_json(str(path / SPEC), cell_spec(cell, grid, str(tmp_path), None, {}, {}))
        run_cell(str(path))
    assert [(c["model"], c["init"]) for c in calls] == [("backbone_t", "imagenet"), ("rtatl", "scratch")]

    plain = parse_grid({"variants": ["backbone_t"]})
    assert "init" not in cell_spec(expand(plain)[0], plain, str(tmp_path), None, {}, {})["train"]


def test_grid_init_refused_for_a_family_without_it():
    with pytest.raises(StudyError, match="init"):
        parse_grid({"init": "", "variants": ["backbone_t"]})
    grid = parse_grid({"init": "imagenet", "variants": ["wild"]})
    with pytest.raises(StudyError, match="does not take"):
        _check_train_options(grid)
