"""Short seeded runs of RTATL, Backbone^T and the wild model on the ``ci`` preset, summarised as numbers.

Recorded once before the shared ``Task`` machinery replaced the two families' own (issue 25) into
``golden_ci_metrics.json``; ``test_task_golden.py`` reruns them and compares. Re-record only for a change
that is meant to change training (``python tests/models/golden_runs.py --record``) and say why in the commit.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, "golden_ci_metrics.json")
WILD_OVERRIDES = dict(epochs=2, steps_per_epoch=2, stage1_epochs=1, stage1_steps_per_epoch=2)


def _summary(history: dict, scores: dict) -> dict:
    last = {k: float(v[-1]) for k, v in history.items() if isinstance(v, list) and v and isinstance(v[-1], float)}
    return {"history": last, "mean_f1": scores.get("mean_f1"), "mean_auc": scores.get("mean_auc")}


def rtatl_run(model: str, data: str, unlabeled: str, out: str) -> dict:
    from keras_au.models.rtatl import task

    task.train(model=model, data=data, unlabeled=unlabeled if model == "rtatl" else None, fold=0, out=out,
               preset="ci", epochs=1, steps_per_epoch=2, batch_size=4, seed=3, verbose=0)
    with open(os.path.join(out, "history.json")) as f:
        history = json.load(f)
    return _summary(history, task.evaluate(out))


def wild_run(source: str, target: str, out: str) -> dict:
    from keras_au.models.wild import task

    task.train(out=out, source=source, target=target, preset="ci", variant="as", seed=3,
               overrides=dict(WILD_OVERRIDES), verbose=0)
    with open(os.path.join(out, "run.json")) as f:
        history = json.load(f)["history"]
    flat = {f"{stage}/{k}": v for stage, h in history.items() if isinstance(h, dict) for k, v in h.items()}
    return _summary(flat, task.evaluate(out, progress=False))


def _wild_records_writer():
    """``write_wild_records`` of tests/models/wild/conftest.py (loaded by path: pytest owns the name conftest)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("wild_record_fixtures", os.path.join(HERE, "wild", "conftest.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.write_wild_records


def all_runs(base: str) -> dict:
    if os.path.dirname(HERE) not in sys.path:
        sys.path.insert(0, os.path.dirname(HERE))
    from record_fixtures import write_tiny_records

    write_wild_records = _wild_records_writer()

    data = write_tiny_records(os.path.join(base, "data"))
    unl = write_tiny_records(os.path.join(base, "unl"), per_fold=4, seed=1, dataset="emotionet", labeled=False)
    src = write_wild_records(os.path.join(base, "src"), "source", per_fold=8)
    tgt = write_wild_records(os.path.join(base, "tgt"), "target", per_fold=8)
    return {
        "rtatl": rtatl_run("rtatl", data, unl, os.path.join(base, "rtatl")),
        "backbone_t": rtatl_run("backbone_t", data, unl, os.path.join(base, "backbone_t")),
        "wild": wild_run(src, tgt, os.path.join(base, "wild")),
    }


def compare(got: dict, want: dict, rtol: float = 2e-3, atol: float = 2e-4) -> list[str]:
    """Differences beyond multi-threaded round-off, as readable lines (empty when equal)."""
    problems = []
    for run, w in want.items():
        g = got.get(run, {})
        for key in ("mean_f1", "mean_auc"):
            if (w[key] is None) != (g.get(key) is None) or (
                    w[key] is not None and not np.isclose(g[key], w[key], rtol=rtol, atol=atol)):
                problems.append(f"{run} {key}: {g.get(key)} != recorded {w[key]}")
        if set(g.get("history", {})) != set(w["history"]):
            problems.append(f"{run} history keys {sorted(g.get('history', {}))} != recorded {sorted(w['history'])}")
            continue
        for k, v in w["history"].items():
            if not np.isclose(g["history"][k], v, rtol=rtol, atol=atol):
                problems.append(f"{run} {k}: {g['history'][k]} != recorded {v}")
    return problems


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        result = all_runs(tmp)
    print("GOLDEN " + json.dumps(result))
    if "--record" in sys.argv:
        with open(GOLDEN, "w") as f:
            json.dump(result, f, indent=1, sort_keys=True)
            f.write("\n")
