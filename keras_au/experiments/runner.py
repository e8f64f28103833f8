"""Runs a study's cells, each in its own process, skipping finished cells and recording failed ones.

Cell directories live at ``OUT/cells/<variant>/[n<N>-]fold<k>-seed<s>/`` (see ``keras_au.experiments.cell``
for what one holds). A cell counts as finished when its ``result.json`` reads back; anything else runs
again, and a cell killed mid-training resumes from its checkpoint through ``train``'s own resume.
"""

from __future__ import annotations

import collections
import os
import subprocess
import sys
import time
from typing import Optional

from tqdm import tqdm

from keras_au.experiments import report
from keras_au.experiments.cell import FAILED, LOG, RESULT, SPEC
from keras_au.jsonio import read_json, write_json
from keras_au.experiments.grid import Cell, Grid, StudyError, expand
from keras_au.experiments.records import check_labeled_subjects, check_records
from keras_au.models import registry

LOCK = ".study.lock"


def cell_dir(out: str, cell: Cell) -> str:
    return os.path.join(out, "cells", cell.id)


def cell_status(path: str) -> str:
    if read_json(os.path.join(path, RESULT)) is not None:
        return "done"
    return "failed" if os.path.isfile(os.path.join(path, FAILED)) else "pending"


def cell_spec(cell: Cell, grid: Grid, data: str, unlabeled: Optional[str], options: dict, overrides: dict) -> dict:
    """``cell.json``: the keyword arguments of the family's ``train`` for this cell."""
    init = {"init": grid.init} if grid.init is not None else {}  # absent unless set: older cells keep their spec
    train = {**init, **cell.variant.train, "model": cell.variant.model, "data": os.path.abspath(data), "fold": cell.fold,
             "unlabeled": os.path.abspath(unlabeled) if unlabeled else None, "seed": cell.seed,
             "preset": options.get("preset", "paper"), "epochs": options.get("epochs"),
             "steps_per_epoch": options.get("steps_per_epoch"), "batch_size": options.get("batch_size"),
             "overrides": {**grid.overrides, **overrides, **cell.variant.overrides},
             "labeled_subjects": cell.labeled_subjects, "demote_unlabeled": grid.demote_unlabeled}
    return {"id": cell.id, "variant": cell.variant.name, "model": cell.variant.model, "family": grid.family,
            "fold": cell.fold, "seed": cell.seed, "labeled_subjects": cell.labeled_subjects, "train": train}


def _check_train_options(grid: Grid) -> None:
    """Fig. 4 cells need a family whose ``train`` takes labeled_subjects, a grid "init" one that takes init:
    refused here, before any cell runs."""
    params = registry.get_task(grid.variants[0].model).train_option_names()
    if grid.init is not None and "init" not in params:
        raise StudyError(f"grid {grid.name} sets \"init\", which the {grid.family} family's train() does not take")
    if not grid.labeled_subjects:
        return
    missing = [p for p in ("labeled_subjects", "demote_unlabeled") if p not in params]
    if missing:
        raise StudyError(f"the {grid.family} family's train() does not take {missing}: it cannot run "
                         f"grid {grid.name}'s labeled_subjects cells yet")


MOVABLE = ("data", "unlabeled")  # where the records lie: a study gathered from other machines differs only here


def _check_unchanged(path: str, spec: dict, moved_ok: bool = False) -> None:
    """A cell that has training state keeps its options: ``train`` resumes with the config in ``run.json``,
    so new options would be silently ignored. A cell that failed before training may be set up anew.
    ``moved_ok`` (a report that reads finished cells only): record paths may differ, nothing else."""
    old = read_json(os.path.join(path, SPEC))
    started = any(os.path.exists(os.path.join(path, f)) for f in ("run.json", RESULT))
    if started and old is not None and old != spec:
        diff = sorted({k for k in set(old) | set(spec) if k != "train" and old.get(k) != spec.get(k)}
                      | {k for k in set(old["train"]) | set(spec["train"])
                         if old["train"].get(k) != spec["train"].get(k) and not (moved_ok and k in MOVABLE)})
        if not diff:
            return
        raise StudyError(f"cell {spec['id']} in {path} was set up with other options ({', '.join(diff)}); "
                         "use another --out, or delete that cell's directory to rerun it")


def _lock(out: str) -> str:
    """One study process per OUT: two would train the same cell into one run directory."""
    path = os.path.join(out, LOCK)
    try:
        with open(path) as f:
            pid = int(f.read().strip() or 0)
        os.kill(pid, 0)
        alive = pid not in (0, os.getpid())
    except (OSError, ValueError):
        alive = False  # no lock, or its process is dead (a killed study): take it over
    if alive:
        raise StudyError(f"{out} is in use by study process {pid} (remove {path} if it is gone)")
    with open(path, "w") as f:
        f.write(str(os.getpid()))
    return path


def _child_env(jobs: int) -> dict:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if jobs > 1:  # N processes share the CPUs (and a GPU) instead of each grabbing all of them
        threads = str(max(1, (os.cpu_count() or 1) // jobs))
        for key in ("TF_NUM_INTRAOP_THREADS", "OMP_NUM_THREADS"):
            env.setdefault(key, threads)
        env.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
    return env


def _last_line(log: str) -> str:
    with open(log, "rb") as f:
        f.seek(max(0, os.path.getsize(log) - 8192))
        lines = [ln.strip() for ln in f.read().decode(errors="replace").splitlines() if ln.strip()]
    return lines[-1] if lines else "no output"


def _launch(path: str, spec: dict, env: dict) -> subprocess.Popen:
    os.makedirs(path, exist_ok=True)
    if os.path.exists(os.path.join(path, FAILED)):
        os.remove(os.path.join(path, FAILED))  # a retry: the old failure stays in cell.log
    write_json(os.path.join(path, SPEC), spec)
    with open(os.path.join(path, LOG), "a") as log:
        log.write(f"\n===== keras-au study: cell {spec['id']} started {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        log.flush()
        cmd = [sys.executable, "-m", "keras_au.experiments.cell", path, str(os.getpid())]
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, stdin=subprocess.DEVNULL)


def _finish(path: str, spec: dict, returncode: int, seconds: float) -> str:
    result = read_json(os.path.join(path, RESULT))
    if returncode == 0 and result is not None:
        f1 = result["scores"].get("mean_f1")  # None: a test split without labels (reported as n/a, not 0)
        return f"done   {spec['id']}: mean F1 {'n/a' if f1 is None else f'{100 * f1:.1f}'} ({seconds:.0f} s)"
    log = os.path.join(path, LOG)
    error = _last_line(log)
    write_json(os.path.join(path, FAILED), {"id": spec["id"], "returncode": returncode, "error": error,
                                            "log": log, "seconds": round(seconds, 1)})
    return f"FAILED {spec['id']}: {error} (log: {log})"


def _rescore(cells: list[Cell], paths: dict, progress: Optional[bool]) -> None:
    from keras_au.experiments.cell import rescore_cell

    for c in tqdm(cells, unit="cell", desc="rescore", disable=not progress):
        result = rescore_cell(paths[c.id])
        f1 = result["scores"].get("mean_f1")
        tqdm.write(f"rescored {c.id}: mean F1 {'n/a' if f1 is None else f'{100 * f1:.1f}'}", file=sys.stderr)


def run_study(grid: Grid, data: str, out: str, unlabeled: Optional[str] = None, seeds: Optional[list[int]] = None,
              folds: Optional[list[int]] = None, jobs: int = 1, preset: Optional[str] = None,
              epochs: Optional[int] = None, steps_per_epoch: Optional[int] = None,
              batch_size: Optional[int] = None, overrides: Optional[dict] = None, dry_run: bool = False,
              progress: Optional[bool] = True, variants: Optional[list[str]] = None,
              report_only: bool = False, rescore: bool = False) -> dict:
    """Validates everything, runs every unfinished cell (``jobs`` at a time; only the rows named in
    ``variants`` when given), writes the report over the whole grid. ``dry_run`` lists the cells and writes
    nothing; ``report_only`` trains nothing and rewrites the report from the cells finished so far, after
    evaluating them again (``rescore``; the rows in ``variants`` when given).

    Returns ``{"cells": [cell records], "ran": [ids], "failed": [ids], "files": {name: path}}``.
    """
    if jobs < 1:
        raise StudyError(f"--jobs must be >= 1, got {jobs}")
    cells = expand(grid, seeds, folds)
    used_folds = sorted({c.fold for c in cells})
    check_records(data, used_folds, unlabeled)
    _check_train_options(grid)
    if grid.labeled_subjects:
        check_labeled_subjects(data, used_folds, grid.labeled_subjects)
    cli = {"preset": preset, "epochs": epochs, "steps_per_epoch": steps_per_epoch, "batch_size": batch_size}
    options = {"preset": "paper", **grid.options, **{k: v for k, v in cli.items() if v is not None}}
    specs = {c.id: cell_spec(c, grid, data, unlabeled, options, overrides or {}) for c in cells}
    paths = {c.id: cell_dir(out, c) for c in cells}
    for c in cells:
        _check_unchanged(paths[c.id], specs[c.id], moved_ok=report_only and not rescore)
    names = [v.name for v in grid.variants]
    unknown = sorted(set(variants or []) - set(names))
    if unknown:
        raise StudyError(f"--variants {','.join(unknown)}: not in grid {grid.name} ({', '.join(names)})")
    queue = collections.deque(c.id for c in cells if cell_status(paths[c.id]) != "done"
                              and (not variants or c.variant.name in variants))
    settings = {"grid": grid.name, "grid_file": grid.path, "data": os.path.abspath(data),
                "unlabeled": os.path.abspath(unlabeled) if unlabeled else None,
                "seeds": sorted({c.seed for c in cells}), "folds": used_folds,
                "labeled_subjects": grid.labeled_subjects, "demote_unlabeled": grid.demote_unlabeled,
                "overrides": overrides or {}, **options}
    if dry_run:
        return {"cells": report.collect(cells, paths), "ran": [], "failed": [], "pending": list(queue),
                "files": {}, "settings": settings}
    os.makedirs(out, exist_ok=True)
    if report_only:  # no lock: a running study rewrites the same files when it ends, and never a finished cell
        if rescore:
            _rescore([c for c in cells if cell_status(paths[c.id]) == "done"
                      and (not variants or c.variant.name in variants)], paths, progress)
        records = report.collect(cells, paths)
        return {"cells": records, "ran": [], "failed": [], "pending": list(queue),
                "files": report.write_report(out, grid, records, settings), "settings": settings}
    lock = _lock(out)
    env, running, ran, failed = _child_env(jobs), {}, [], []
    done = sum(cell_status(paths[c.id]) == "done" for c in cells)  # rows left out by --variants: neither
    bar = tqdm(total=done + len(queue), initial=done, unit="cell", desc=f"study {grid.name}",
               disable=not progress)
    try:
        while queue or running:
            while queue and len(running) < jobs:
                cid = queue.popleft()
                running[cid] = (_launch(paths[cid], specs[cid], env), time.time())
            time.sleep(0.2)
            for cid, (proc, t0) in list(running.items()):
                if proc.poll() is None:
                    continue
                del running[cid]
                message = _finish(paths[cid], specs[cid], proc.returncode, time.time() - t0)
                (failed if message.startswith("FAILED") else ran).append(cid)
                bar.update(1)
                bar.set_postfix(failed=len(failed))
                tqdm.write(message, file=sys.stderr)
    finally:
        for proc, _ in running.values():  # an interrupted study stops its cells; they resume next time
            proc.terminate()
        for proc, _ in running.values():
            proc.wait()
        bar.close()
        if os.path.isfile(lock):
            os.remove(lock)
    records = report.collect(cells, paths)
    files = report.write_report(out, grid, records, settings)
    return {"cells": records, "ran": ran, "failed": failed, "files": files, "settings": settings}
