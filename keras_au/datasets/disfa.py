"""DISFA reader: ``Videos_LeftCamera/LeftVideoSN0xx_comp.avi`` + ``ActionUnit_Labels/SN0xx/SN0xx_au<k>.txt``.

Each label line is ``frame,intensity`` (intensity 0-5); an AU is present when the intensity
is >= 2 (the usual DISFA protocol), absent below, unknown for anything else. Frame numbers in
the released files are 1-based (the first line is ``1,<intensity>``) while video frames are
read 0-based, so label frame k is video frame k-1; a subject whose files contain a frame 0 is
taken as already 0-based. Records store the 0-based video frame index.
"""

from __future__ import annotations

import glob
import os
import re
from typing import Optional, Sequence

from keras_au.au import dataset_aus
from keras_au.data.schema import UNKNOWN
from keras_au.datasets.folds import NUM_FOLDS, fold_of
from keras_au.datasets.records import Labels, Listing, WorkItem
from keras_au.media import is_video

SUBJECT_RE = re.compile(r"SN\d+", re.IGNORECASE)
AU_FILE_RE = re.compile(r"^(SN\d+)_au(\d+)\.txt$", re.IGNORECASE)
POSITIVE_INTENSITY = 2
MAX_INTENSITY = 5


def intensity_to_occurrence(value: int) -> int:
    if 0 <= value <= MAX_INTENSITY:
        return int(value >= POSITIVE_INTENSITY)
    return UNKNOWN


def read_intensity_file(path: str) -> tuple[dict[int, int], int]:
    """``{frame (as written): intensity}`` and the number of unparsable lines."""
    out, bad = {}, 0
    with open(path, encoding="utf-8-sig") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            parts = re.split(r"[,\s;]+", line)
            try:
                out[int(float(parts[0]))] = int(float(parts[1]))
            except (IndexError, ValueError):
                bad += 1
    return out, bad


def read_subject_labels(label_dir: str, aus: Sequence[int]) -> tuple[dict[int, Labels], int, list[str]]:
    """Per-frame (0-based) occurrence tuples for one subject, bad line count and the files used."""
    files = {}
    for path in glob.glob(os.path.join(label_dir, "*")):
        m = AU_FILE_RE.match(os.path.basename(path))
        if m and int(m.group(2)) in aus:
            files[int(m.group(2))] = path
    per_au, bad = {}, 0
    for au, path in files.items():
        per_au[au], b = read_intensity_file(path)
        bad += b
    one_based = not any(0 in v for v in per_au.values())
    frames = sorted(set().union(*[v.keys() for v in per_au.values()])) if per_au else []
    labels = {}
    for fr in frames:
        labels[fr - 1 if one_based else fr] = tuple(
            intensity_to_occurrence(per_au[a][fr]) if a in per_au and fr in per_au[a] else UNKNOWN for a in aus
        )
    return labels, bad, sorted(files.values())


def _find_dirs(root: str, name: str) -> list[str]:
    return sorted(
        p for pattern in (name, f"*/{name}") for p in glob.glob(os.path.join(root, pattern)) if os.path.isdir(p)
    )


def list_disfa(
    root: str, aus: Optional[Sequence[int]] = None, num_folds: int = NUM_FOLDS, camera: str = "Left"
) -> Listing:
    """One work item per subject video (left camera by default)."""
    if not os.path.isdir(root):
        raise FileNotFoundError(f"DISFA root {root} is not a directory")
    aus = tuple(aus or dataset_aus("disfa"))
    videos = {}
    for vdir in _find_dirs(root, f"Video*_{camera}Camera") or [root]:
        for name in sorted(os.listdir(vdir)):
            m = SUBJECT_RE.search(name)
            if m and is_video(name) and name.lower().startswith(camera.lower()):
                videos.setdefault(m.group(0).upper(), os.path.join(vdir, name))
    label_dirs = {}
    for ldir in _find_dirs(root, "ActionUnit_Labels"):
        for name in sorted(os.listdir(ldir)):
            if SUBJECT_RE.fullmatch(name) and os.path.isdir(os.path.join(ldir, name)):
                label_dirs.setdefault(name.upper(), os.path.join(ldir, name))
    listing = Listing(items=[])
    for subject, video in sorted(videos.items()):
        labels, label_file = {}, ""
        if subject in label_dirs:
            labels, bad, files = read_subject_labels(label_dirs[subject], aus)
            label_file = label_dirs[subject] if files else ""
            if bad:
                listing.add_note("bad_label_rows", bad)
        if not labels:
            listing.add_note("sequences_without_labels")
        listing.items.append(
            WorkItem(
                dataset="disfa",
                subject=subject,
                sequence=subject,
                kind="video",
                au_ids=aus,
                fold=fold_of("disfa", subject, num_folds),
                video=video,
                labels=labels,
                labeled=True,
                label_file=label_file,
            )
        )
    for subject in sorted(set(label_dirs) - set(videos)):
        rows = len(read_subject_labels(label_dirs[subject], aus)[0])
        listing.label_without_frame += rows
        listing.orphans.append({"label_file": label_dirs[subject], "reason": "no_video_for_labels", "rows": rows})
    return listing
