"""Your own media: every image or video file under a directory.

Subject = the first-level subfolder name, or the file stem for files at the top level.
Images become stills, videos sequences (with flow targets). Unlabeled unless a labels CSV
is given (``file`` column with the path relative to the root or the file name, optional
``frame`` column for videos, AU columns ``AU1``/``1``; 1/0, anything else unknown).
Files with other extensions are ignored and counted (``ignored_files``).
"""

from __future__ import annotations

import os
from typing import Callable, Optional, Sequence

from keras_au.au import dataset_aus
from keras_au.datasets.folds import NUM_FOLDS, fold_of
from keras_au.datasets.records import AUTable, FrameRef, Listing, WorkItem, read_au_csv, sorted_files
from keras_au.media import is_image, is_video

DEFAULT_UNLABELED_AUS = "bp4d"  # AU set written (all unknown) when no labels and no --aus are given


def folder_subject(root: str, path: str) -> str:
    rel = os.path.relpath(path, root).split(os.sep)
    return rel[0] if len(rel) > 1 else os.path.splitext(rel[0])[0]


def list_media(
    root: str,
    dataset: str,
    subject_of: Callable[[str, str], str],
    labels: Optional[str] = None,
    aus: Optional[Sequence[int]] = None,
    num_folds: int = NUM_FOLDS,
    videos: bool = True,
) -> Listing:
    """Work items for every image (and video, when ``videos``) under ``root``, labelled from an optional CSV."""
    if not os.path.isdir(root):
        raise FileNotFoundError(f"{dataset} root {root} is not a directory")
    table: Optional[AUTable] = read_au_csv(labels, aus) if labels else None
    if aus:
        au_ids = tuple(int(a) for a in aus)
    elif table is not None:
        au_ids = table.au_ids
    else:
        au_ids = dataset_aus(dataset if dataset in ("bp4d", "disfa", "emotionet") else DEFAULT_UNLABELED_AUS)
    listing = Listing(items=[], labels_file=labels or "")
    by_key: dict[str, dict[int, tuple]] = {}
    if table is not None:
        for (key, frame), value in table.rows.items():
            by_key.setdefault(key, {})[frame] = value
        if table.bad_rows:
            listing.add_note("bad_label_rows", table.bad_rows)
    used = set()
    skip = os.path.abspath(labels) if labels else None
    for path in sorted_files(root):
        kind = "image" if is_image(path) else "video" if videos and is_video(path) else None
        if kind is None:
            if os.path.abspath(path) != skip:
                listing.add_note("ignored_files")
            continue
        subject = subject_of(root, path)
        rel = os.path.relpath(path, root).replace(os.sep, "/")
        base = os.path.basename(path)
        key = next((k for k in (rel, base, os.path.splitext(base)[0], os.path.splitext(rel)[0]) if k in by_key), None)
        item_labels = dict(by_key[key]) if key is not None else {}
        if kind == "image":  # a still has only frame 0; other rows stay unmatched
            item_labels = {0: item_labels[0]} if 0 in item_labels else {}
        used.update((key, f) for f in item_labels)
        listing.items.append(
            WorkItem(
                dataset=dataset,
                subject=subject,
                sequence=rel,
                kind=kind,
                au_ids=au_ids,
                fold=fold_of(dataset, subject, num_folds),
                frames=(FrameRef(path, 0),) if kind == "image" else (),
                video=path if kind == "video" else "",
                labels=item_labels,
                labeled=table is not None,
                label_file=labels or "",
            )
        )
    if table is not None:
        unused = len(set(table.rows) - used)
        listing.label_without_frame += unused
        if unused:
            listing.orphans.append({"label_file": labels, "reason": "no_media_for_label_rows", "rows": unused})
    return listing


def list_folder(
    root: str, labels: Optional[str] = None, aus: Optional[Sequence[int]] = None, num_folds: int = NUM_FOLDS,
    dataset: str = "folder",
) -> Listing:
    """Every image or video under ``root``; see the module docstring."""
    return list_media(root, dataset, folder_subject, labels, aus, num_folds, videos=True)
