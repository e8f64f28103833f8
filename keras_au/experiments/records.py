"""Checks a study's records before any training: fold folders, empty folders, enough subjects for Fig. 4."""

from __future__ import annotations

import glob
import os
from typing import Optional

from keras_au.experiments.grid import StudyError

NUM_FOLDS = 3  # the standard 3-fold subject partitions written by `keras-au preprocess`


def record_files(folder: str) -> list[str]:
    return sorted(glob.glob(os.path.join(folder, "**", "*.tfrecord*"), recursive=True))


def check_records(data: str, folds: list[int], unlabeled: Optional[str] = None) -> None:
    """Every fold a cell tests on or trains on exists and holds records; ``unlabeled`` holds records."""
    if not data or not os.path.isdir(data):
        raise StudyError(f"--data {data!r} is not a directory (a preprocessing output with fold-<k>/ shards)")
    bad = [k for k in folds if not 0 <= k < NUM_FOLDS]
    if bad:
        raise StudyError(f"folds {bad} do not exist: records have folds 0..{NUM_FOLDS - 1}")
    for k in range(NUM_FOLDS):  # a cell trains on the folds it does not test on, so all must exist
        folder = os.path.join(data, f"fold-{k}")
        if not os.path.isdir(folder):
            raise StudyError(f"fold {k} is missing: no directory {folder}")
        if not record_files(folder):
            raise StudyError(f"{folder} holds no TFRecord files (empty records folder)")
    if unlabeled is not None:
        if not os.path.isdir(unlabeled):
            raise StudyError(f"--unlabeled {unlabeled} is not a directory")
        if not record_files(unlabeled):
            raise StudyError(f"--unlabeled {unlabeled} holds no TFRecord files (empty records folder)")


def fold_subjects(data: str) -> dict[int, set[str]]:
    """Subjects per fold, parsing only the ``subject`` feature (no image decoding: seconds on BP4D)."""
    from keras_au.data.record_scan import parse_keys

    return {k: {s.decode() for b in parse_keys(record_files(os.path.join(data, f"fold-{k}")), ("subject",),
                                               batch_size=4096) for s in set(b["subject"].tolist())}
            for k in range(NUM_FOLDS)}


def check_labeled_subjects(data: str, folds: list[int], labeled_subjects: list[int]) -> dict[int, int]:
    """Training subjects per tested fold; fails when a requested N exceeds them."""
    subjects = fold_subjects(data)
    available = {k: len(set().union(*(subjects[j] for j in range(NUM_FOLDS) if j != k))) for k in folds}
    for k, n_avail in available.items():
        too_many = [n for n in labeled_subjects if n > n_avail]
        if too_many:
            raise StudyError(f"labeled_subjects {too_many} exceed the {n_avail} training subjects of fold {k} "
                             f"in {data} (folds {[j for j in range(NUM_FOLDS) if j != k]}); "
                             "give the grid a smaller \"labeled_subjects\" list")
    return available
