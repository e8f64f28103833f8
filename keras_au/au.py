"""AU catalogue: FACS numbers and names, and the AU sets of each dataset."""

from __future__ import annotations

from typing import Mapping, Sequence

FACS_NAMES: Mapping[int, str] = {
    1: "inner brow raiser",
    2: "outer brow raiser",
    4: "brow lowerer",
    5: "upper lid raiser",
    6: "cheek raiser",
    7: "lid tightener",
    9: "nose wrinkler",
    10: "upper lip raiser",
    12: "lip corner puller",
    14: "dimpler",
    15: "lip corner depressor",
    17: "chin raiser",
    20: "lip stretcher",
    23: "lip tightener",
    24: "lip pressor",
    25: "lips part",
    26: "jaw drop",
}

DATASET_AUS: Mapping[str, tuple[int, ...]] = {
    "bp4d": (1, 2, 4, 6, 7, 10, 12, 14, 15, 17, 23, 24),
    "disfa": (1, 2, 4, 6, 9, 12, 25, 26),
    "emotionet": (1, 2, 4, 6, 12, 17),
}

# Label values that mean "not coded": BP4D writes 9, EmotioNet 999, records use -1.
UNKNOWN_LABELS: tuple[int, ...] = (9, 999)


def dataset_aus(dataset: str) -> tuple[int, ...]:
    """AU numbers of a dataset (``bp4d``, ``disfa``, ``emotionet``), case-insensitive."""
    key = dataset.strip().lower().replace("-", "").replace("_", "")
    if key in ("emotionet6", "emotionet"):
        key = "emotionet"
    if key not in DATASET_AUS:
        raise KeyError(f"unknown dataset {dataset!r}; known: {', '.join(sorted(DATASET_AUS))}")
    return DATASET_AUS[key]


def au_name(au: int) -> str:
    """FACS name of an AU number."""
    if au not in FACS_NAMES:
        raise KeyError(f"AU{au} is not in the catalogue")
    return FACS_NAMES[au]


def au_label(au: int) -> str:
    """Zero-padded column label, e.g. ``AU01``."""
    return f"AU{int(au):02d}"


def au_labels(aus: Sequence[int]) -> list[str]:
    return [au_label(a) for a in aus]


def union_aus(*datasets: str) -> tuple[int, ...]:
    """Sorted union of several datasets' AU sets."""
    out: set[int] = set()
    for d in datasets:
        out.update(dataset_aus(d))
    return tuple(sorted(out))
