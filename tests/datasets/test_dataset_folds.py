"""Folds: the standard BP4D/DISFA 3-fold parts, deterministic subject-hash folds for everyone else."""

import subprocess
import sys
from collections import Counter

import pytest

from keras_au.datasets.folds import STANDARD_PARTS, fold_of, hash_fold


@pytest.mark.parametrize("dataset, sizes", [("bp4d", (14, 14, 13)), ("disfa", (9, 9, 9))])
def test_standard_parts_are_disjoint_and_map_to_folds(dataset, sizes):
    parts = STANDARD_PARTS[dataset]
    assert tuple(len(p) for p in parts) == sizes
    assert len(set().union(*parts)) == sum(sizes)  # no subject in two parts
    for k, part in enumerate(parts):
        assert {fold_of(dataset, s) for s in part} == {k}
        assert {fold_of(dataset.upper(), s.lower()) for s in part} == {k}


def test_other_subjects_get_stable_hash_folds():
    users = [f"user{i}" for i in range(600)]
    folds = [fold_of("folder", u) for u in users]
    assert all(0 <= k < 3 for k in folds)
    assert min(Counter(folds).values()) > 150  # roughly balanced
    assert fold_of("bp4d", "X999") == hash_fold("X999")  # unknown ids in a standard dataset
    assert fold_of("bp4d", "F001", num_folds=5) == hash_fold("F001", 5)  # non-standard fold count
    code = "from keras_au.datasets.folds import fold_of; print([fold_of('folder', f'user{i}') for i in range(50)])"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={"PYTHONHASHSEED": "123"})
    assert other.stdout.strip() == str(folds[:50])  # independent of Python's hash seed


def test_invalid_fold_count():
    with pytest.raises(ValueError):
        fold_of("folder", "x", num_folds=0)
