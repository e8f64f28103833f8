"""Work items: what a dataset reader hands to preprocessing (paths and labels, never pixels).

One ``WorkItem`` per sequence (a folder of frames), video or still image, so a Beam
runner can spread them over workers. Labels are stored per frame index as tuples aligned
with ``au_ids``: 1 present, 0 absent, -1 unknown.
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence

from keras_au.au import UNKNOWN_LABELS
from keras_au.data.schema import UNKNOWN

Labels = tuple[int, ...]


@dataclass(frozen=True)
class FrameRef:
    """One frame file of a sequence (``index`` = frame number, 0 for a still)."""

    path: str
    index: int


@dataclass
class WorkItem:
    """A sequence of frame files (``kind="frames"``), a video (``"video"``) or one image (``"image"``)."""

    dataset: str
    subject: str
    sequence: str
    kind: str
    au_ids: tuple[int, ...]
    fold: int = -1
    frames: tuple[FrameRef, ...] = ()  # "frames" and "image"; empty for videos (frames are read at run time)
    video: str = ""
    labels: Mapping[int, Labels] = field(default_factory=dict)
    labeled: bool = False  # labels were provided for this item: frames without a row count as label_missing
    label_file: str = ""

    @property
    def source(self) -> str:
        """Path used in reports: the video, the image, or the sequence folder."""
        if self.video:
            return self.video
        if self.kind == "image" and self.frames:
            return self.frames[0].path
        return os.path.dirname(self.frames[0].path) if self.frames else ""

    def labels_for(self, index: int) -> Optional[Labels]:
        return self.labels.get(index)

    def unknown_labels(self) -> Labels:
        return (UNKNOWN,) * len(self.au_ids)


@dataclass
class Listing:
    """Readers' result: the work items plus label rows that match no media file at all."""

    items: list[WorkItem]
    label_without_frame: int = 0
    orphans: list[dict] = field(default_factory=list)  # {"label_file", "reason", "rows"} per orphaned group
    notes: dict = field(default_factory=dict)  # reader-level counters, e.g. bad_label_rows
    labels_file: str = ""  # the labels CSV used (EmotioNet/folder), for the report

    def add_note(self, name: str, count: int = 1) -> None:
        self.notes[name] = self.notes.get(name, 0) + count


def occurrence(value) -> int:
    """A coded occurrence value as 1 / 0 / -1 (9, 999, blanks and anything else are unknown)."""
    try:
        v = int(float(str(value).strip()))
    except ValueError:
        return UNKNOWN
    if v in UNKNOWN_LABELS or v not in (0, 1):
        return UNKNOWN
    return v


_AU_COLUMN = re.compile(r"^\s*(?:au)?\s*0*(\d+)\s*$", re.IGNORECASE)


def au_number(column: str) -> Optional[int]:
    """``"AU1"``, ``"au01"``, ``"1"`` -> 1; other names -> None."""
    m = _AU_COLUMN.match(column)
    return int(m.group(1)) if m else None


FILE_COLUMNS = ("file", "filename", "file_name", "image", "image_name", "path", "name", "video")


@dataclass
class AUTable:
    """A labels CSV keyed by file (as written: relative path, file name or stem) and frame."""

    au_ids: tuple[int, ...]
    rows: dict[tuple[str, int], Labels]
    bad_rows: int = 0


def read_au_csv(path: str, aus: Optional[Sequence[int]] = None) -> AUTable:
    """Reads a labels CSV: a file-name column, an optional ``frame`` column and AU columns (``AU1``/``1``).

    Values 1/0 are kept; 999, 9, blanks and anything else become -1 (unknown). ``aus`` picks and
    orders the AUs kept (missing columns are all unknown); by default every AU column, sorted.
    """
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise ValueError(f"{path}: labels CSV is empty") from None
        lower = [h.lower() for h in header]
        file_col = next((lower.index(c) for c in FILE_COLUMNS if c in lower), None)
        frame_col = lower.index("frame") if "frame" in lower else None
        au_cols = {au_number(h): i for i, h in enumerate(header) if i not in (file_col, frame_col) and au_number(h)}
        if file_col is None:
            file_col = next((i for i in range(len(header)) if i not in au_cols.values() and i != frame_col), None)
        if file_col is None:
            raise ValueError(f"{path}: no file-name column (expected one of {', '.join(FILE_COLUMNS)})")
        if not au_cols:
            raise ValueError(f"{path}: no AU columns (expected headers like AU1 or 1)")
        au_ids = tuple(int(a) for a in (aus if aus is not None else sorted(au_cols)))
        table = AUTable(au_ids=au_ids, rows={})
        for row in reader:
            if not row or not "".join(row).strip():
                continue
            try:
                key = row[file_col].strip().replace("\\", "/")
                frame = int(float(row[frame_col])) if frame_col is not None else 0
                labels = tuple(occurrence(row[au_cols[a]]) if a in au_cols else UNKNOWN for a in au_ids)
            except (IndexError, ValueError):
                table.bad_rows += 1
                continue
            if not key:
                table.bad_rows += 1
                continue
            table.rows[(key, frame)] = labels
    return table


def sorted_files(root: str, keep=None) -> list[str]:
    """Every file under ``root`` (accepted by ``keep(name)`` if given), sorted, hidden entries skipped."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        out.extend(os.path.join(dirpath, n) for n in filenames if not n.startswith(".") and (keep is None or keep(n)))
    return sorted(out)


def frame_number(path: str) -> Optional[int]:
    """Frame number from a file name such as ``0123.jpg`` or ``frame_0123.png``."""
    digits = re.findall(r"\d+", os.path.splitext(os.path.basename(path))[0])
    return int(digits[-1]) if digits else None
