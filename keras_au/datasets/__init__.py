"""Dataset readers: BP4D, DISFA, EmotioNet and any folder of images/videos -> ``WorkItem`` lists.

Readers only list files and parse labels (no pixels are decoded), so preprocessing can spread
the items over workers. ``list_dataset(name, root)`` dispatches by name.
"""

from __future__ import annotations

from typing import Optional, Sequence

from keras_au.datasets.bp4d import list_bp4d
from keras_au.datasets.disfa import list_disfa
from keras_au.datasets.emotionet import list_emotionet
from keras_au.datasets.folder import list_folder
from keras_au.datasets.folds import NUM_FOLDS, STANDARD_PARTS, fold_of, hash_fold
from keras_au.datasets.records import FrameRef, Listing, WorkItem

DATASETS = ("bp4d", "disfa", "emotionet", "folder")
LAYOUTS = {
    "bp4d": "<root>/[prefix/]<subject>/<task>/<frame>.jpg + <root>/AUCoding/AU_OCC/<subject>_<task>.csv",
    "disfa": "<root>/Videos_LeftCamera/LeftVideoSN0xx_comp.avi + <root>/ActionUnit_Labels/SN0xx/SN0xx_au<k>.txt",
    "emotionet": "images anywhere under <root> (+ a labels CSV)",
    "folder": "image or video files anywhere under <root>",
}


def list_dataset(
    name: str,
    root: str,
    labels: Optional[str] = None,
    aus: Optional[Sequence[int]] = None,
    num_folds: int = NUM_FOLDS,
) -> Listing:
    """Work items of dataset ``name`` under ``root``; ``labels`` is the CSV for EmotioNet/folder.

    Raises ``FileNotFoundError`` for a missing root and ``ValueError`` when nothing is found.
    """
    key = name.lower()
    if key not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
    if labels and key in ("bp4d", "disfa"):
        raise ValueError(f"--labels is for emotionet/folder; {name} labels are read from its own layout")
    if key == "bp4d":
        listing = list_bp4d(root, aus, num_folds)
    elif key == "disfa":
        listing = list_disfa(root, aus, num_folds)
    elif key == "emotionet":
        listing = list_emotionet(root, labels, aus, num_folds)
    else:
        listing = list_folder(root, labels, aus, num_folds)
    if not listing.items:
        raise ValueError(f"no {key} media found under {root}; expected {LAYOUTS[key]}")
    return listing


__all__ = [
    "DATASETS",
    "LAYOUTS",
    "FrameRef",
    "Listing",
    "NUM_FOLDS",
    "STANDARD_PARTS",
    "WorkItem",
    "fold_of",
    "hash_fold",
    "list_bp4d",
    "list_dataset",
    "list_disfa",
    "list_emotionet",
    "list_folder",
]
