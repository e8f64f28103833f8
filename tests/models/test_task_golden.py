"""The shared Task machinery (issue 25) trains exactly as the two families' own code did: the same seeded
``ci`` runs of RTATL, Backbone^T and the wild model give the metrics recorded before the change."""

import json
import os

import pytest

from golden_runs import GOLDEN, all_runs, compare

pytestmark = pytest.mark.slow


def test_ci_runs_match_the_metrics_recorded_before_the_task_base(tmp_path):
    with open(GOLDEN) as f:
        want = json.load(f)
    got = all_runs(str(tmp_path))
    assert set(got) == {"rtatl", "backbone_t", "wild"}
    assert all(os.path.isfile(tmp_path / run / "run.json") for run in got)
    problems = compare(got, want)
    assert not problems, "\n".join(problems)
