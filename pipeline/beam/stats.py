"""Per-item accounting and its merge: the numbers behind ``report.json``.

Every frame selected for processing is counted once in ``frames_read`` and ends up either
written (``examples_written``) or skipped (``skipped[reason]``), so
``frames_read == examples_written + sum(skipped.values())`` holds per item and after merging.
``notes`` counts events that do not drop a frame (several faces, missing labels, no flow partner).
"""

from __future__ import annotations

from typing import Iterable


def new_stats() -> dict:
    return {
        "items": 0,
        "frames_read": 0,
        "examples_written": 0,
        "skipped": {},
        "notes": {},
        "folds": {},
        "seconds": {},
        "flow_pairs": 0,
    }


def bump(d: dict, key: str, n: float = 1) -> None:
    d[key] = d.get(key, 0) + n


def fold_entry(stats: dict, fold: int) -> dict:
    return stats["folds"].setdefault(str(fold), {"examples": 0, "labeled": 0, "with_flow": 0, "subjects": []})


def merge(a: dict, b: dict) -> dict:
    """Sums numbers, merges dicts key by key and unions lists (subjects), without mutating ``b``."""
    for key, value in b.items():
        if isinstance(value, dict):
            merge(a.setdefault(key, {}), value)
        elif isinstance(value, list):
            a[key] = sorted(set(a.get(key, [])) | set(value))
        else:
            a[key] = a.get(key, 0) + value
    return a


def merge_all(parts: Iterable[dict]) -> dict:
    out = new_stats()
    for part in parts:
        merge(out, part)
    return out


def accounting_ok(stats: dict) -> bool:
    return stats["frames_read"] == stats["examples_written"] + sum(stats["skipped"].values())
