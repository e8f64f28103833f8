"""BP4D reader: ``<root>/[prefix/]<subject>/<task>/<frame>.jpg`` + ``AUCoding/AU_OCC/<subject>_<task>.csv``.

The occurrence CSV header holds AU numbers with column ``0`` = frame number (the number in
the frame's file name); values are 1/0 and 9 = unknown (-> -1). Only the requested AUs (the
12 BP4D AUs by default) are kept. One prefix folder between the root and the subjects
(``2DFaces``, ``BP4D-training``, ...) is accepted.
"""

from __future__ import annotations

import csv
import glob
import os
import re
from typing import Optional, Sequence

from keras_au.au import dataset_aus
from keras_au.data.schema import UNKNOWN
from keras_au.datasets.folds import NUM_FOLDS, fold_of
from keras_au.datasets.records import FrameRef, Labels, Listing, WorkItem, au_number, frame_number, occurrence
from keras_au.media import is_image

SUBJECT_RE = re.compile(r"^[A-Za-z]+\d+$")
TASK_RE = re.compile(r"^T\d+$", re.IGNORECASE)
LABEL_DIR_NAMES = ("AU_OCC", "AUCoding")


def read_occurrence_csv(path: str, aus: Sequence[int]) -> tuple[dict[int, Labels], int]:
    """``{frame: labels}`` from a BP4D AU_OCC CSV and the number of unparsable rows."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.reader(f))
    if not rows:
        raise ValueError(f"{path}: empty AU occurrence file")
    header = [h.strip() for h in rows[0]]
    if not header or header[0] != "0":
        raise ValueError(f"{path}: first header cell must be '0' (the frame column), got {header[:1]}")
    cols = {au_number(h): i for i, h in enumerate(header) if i > 0 and au_number(h) is not None}
    labels, bad = {}, 0
    for row in rows[1:]:
        if not row or not "".join(row).strip():
            continue
        try:
            frame = int(float(row[0]))
            labels[frame] = tuple(occurrence(row[cols[a]]) if a in cols else UNKNOWN for a in aus)
        except (IndexError, ValueError):
            bad += 1
    return labels, bad


def _label_files(root: str) -> dict[str, str]:
    """``{"F001_T1": path}`` for every CSV in an AU_OCC/AUCoding folder up to two levels below ``root``."""
    found = {}
    for pattern in ("*.csv", "*/*.csv", "*/*/*.csv", "*/*/*/*.csv"):
        for path in glob.glob(os.path.join(root, pattern)):
            parts = os.path.relpath(path, root).split(os.sep)[:-1]
            if any(p in LABEL_DIR_NAMES for p in parts):
                found.setdefault(os.path.splitext(os.path.basename(path))[0].upper(), path)
    return found


def _sequence_dirs(root: str) -> list[tuple[str, str, str]]:
    """(subject, task, dir) for ``root/S/T`` and ``root/prefix/S/T`` layouts."""
    bases = [root] + [
        os.path.join(root, d)
        for d in sorted(os.listdir(root))
        if os.path.isdir(os.path.join(root, d)) and not SUBJECT_RE.match(d) and d not in LABEL_DIR_NAMES
    ]
    out = []
    for base in bases:
        for subject in sorted(os.listdir(base)):
            sdir = os.path.join(base, subject)
            if not (SUBJECT_RE.match(subject) and os.path.isdir(sdir)):
                continue
            for task in sorted(os.listdir(sdir)):
                tdir = os.path.join(sdir, task)
                if TASK_RE.match(task) and os.path.isdir(tdir):
                    out.append((subject, task, tdir))
    return out


def _frames(tdir: str, listing: Listing) -> tuple[FrameRef, ...]:
    paths = sorted(os.path.join(tdir, n) for n in os.listdir(tdir) if is_image(n) and not n.startswith("."))
    numbers = [frame_number(p) for p in paths]
    if any(n is None for n in numbers) or len(set(numbers)) != len(numbers):
        # Without unique frame numbers the CSV cannot be matched: fall back to positions.
        listing.add_note("unnumbered_sequences")
        return tuple(FrameRef(p, i) for i, p in enumerate(paths))
    return tuple(sorted((FrameRef(p, n) for p, n in zip(paths, numbers)), key=lambda f: f.index))


def list_bp4d(root: str, aus: Optional[Sequence[int]] = None, num_folds: int = NUM_FOLDS) -> Listing:
    """One work item per subject/task sequence, labels from the matching AU_OCC CSV."""
    if not os.path.isdir(root):
        raise FileNotFoundError(f"BP4D root {root} is not a directory")
    aus = tuple(aus or dataset_aus("bp4d"))
    label_files = _label_files(root)
    listing = Listing(items=[])
    used = set()
    for subject, task, tdir in _sequence_dirs(root):
        frames = _frames(tdir, listing)
        if not frames:
            listing.add_note("empty_sequences")
            continue
        key = f"{subject}_{task}".upper()
        labels, label_file = {}, label_files.get(key, "")
        if label_file:
            used.add(key)
            try:
                labels, bad = read_occurrence_csv(label_file, aus)
                if bad:
                    listing.add_note("bad_label_rows", bad)
            except (OSError, ValueError) as e:
                listing.orphans.append({"label_file": label_file, "reason": f"unreadable_label_file: {e}"})
                listing.add_note("unreadable_label_files")
        else:
            listing.add_note("sequences_without_labels")
        listing.items.append(
            WorkItem(
                dataset="bp4d",
                subject=subject,
                sequence=f"{subject}/{task}",
                kind="frames",
                au_ids=aus,
                fold=fold_of("bp4d", subject, num_folds),
                frames=frames,
                labels=labels,
                labeled=True,
                label_file=label_file,
            )
        )
    for key in sorted(set(label_files) - used):
        try:
            rows = len(read_occurrence_csv(label_files[key], aus)[0])
        except (OSError, ValueError):
            rows = 0
        listing.label_without_frame += rows
        listing.orphans.append({"label_file": label_files[key], "reason": "no_frames_for_label_file", "rows": rows})
    return listing
