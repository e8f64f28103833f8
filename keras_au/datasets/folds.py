"""Subject-independent folds: the standard 3-fold BP4D/DISFA partitions, hash folds otherwise.

Fold k (0-based) holds the subjects of part k+1 of the JAA-Net/ME-GraphAU partitions; training
on fold k means testing on part k+1 and training on the other two. Subjects outside the lists
(EmotioNet images, user data, unknown ids) get a deterministic hash fold: SHA-1 of the subject
name modulo the number of folds, the same on every machine and Python process.
"""

from __future__ import annotations

import hashlib
from typing import Mapping

STANDARD_PARTS: Mapping[str, tuple[tuple[str, ...], ...]] = {
    "bp4d": (
        ("F001", "M007", "F018", "F008", "F002", "M004", "F010",
         "F009", "M012", "M001", "F016", "M014", "F023", "M008"),
        ("M011", "F003", "M010", "M002", "F005", "F022", "M018",
         "M017", "F013", "M016", "F020", "F011", "M013", "M005"),
        ("F007", "F015", "F006", "F019", "M006", "M009", "F012",
         "M003", "F004", "F021", "F017", "M015", "F014"),
    ),  # fmt: skip
    "disfa": (
        ("SN002", "SN010", "SN001", "SN026", "SN027", "SN032", "SN030", "SN009", "SN016"),
        ("SN013", "SN018", "SN011", "SN028", "SN012", "SN006", "SN031", "SN021", "SN024"),
        ("SN003", "SN029", "SN023", "SN025", "SN008", "SN005", "SN007", "SN017", "SN004"),
    ),
}

NUM_FOLDS = 3


def hash_fold(subject: str, num_folds: int = NUM_FOLDS) -> int:
    """Deterministic fold from the subject name (independent of PYTHONHASHSEED)."""
    digest = hashlib.sha1(subject.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % int(num_folds)


def standard_fold(dataset: str, subject: str) -> int | None:
    """0-based part of ``subject`` in the dataset's standard partition, or None."""
    for k, part in enumerate(STANDARD_PARTS.get(dataset.lower(), ())):
        if subject.upper() in part:
            return k
    return None


def fold_of(dataset: str, subject: str, num_folds: int = NUM_FOLDS) -> int:
    """Standard part for BP4D/DISFA subjects when ``num_folds`` is 3, else the hash fold."""
    if num_folds < 1:
        raise ValueError(f"num_folds must be >= 1, got {num_folds}")
    k = standard_fold(dataset, subject) if num_folds == NUM_FOLDS else None
    return hash_fold(subject, num_folds) if k is None else k
