"""EmotioNet reader: a folder of images, labelled by an optional occurrence CSV (999 = unknown).

The CSV has a file-name column (path relative to the root, file name or stem) and AU columns
(``AU1`` or ``1``); values 1/0, 999 (and anything else) unknown. Without a CSV the images are
unlabeled (the RTATL unlabeled set). Identities are unknown, so each image is its own subject
(hash folds spread images evenly); videos in the folder are ignored and counted.
When no ``labels`` path is given, a single ``*.csv`` at the top of the root is used.
"""

from __future__ import annotations

import glob
import os
from typing import Optional, Sequence

from keras_au.au import dataset_aus
from keras_au.datasets.folder import list_media
from keras_au.datasets.folds import NUM_FOLDS
from keras_au.datasets.records import Listing


def image_subject(root: str, path: str) -> str:
    return os.path.splitext(os.path.relpath(path, root))[0].replace(os.sep, "/")


def find_labels_csv(root: str) -> Optional[str]:
    """The labels CSV at the top of ``root`` when there is exactly one."""
    found = sorted(glob.glob(os.path.join(root, "*.csv")))
    return found[0] if len(found) == 1 else None


def list_emotionet(
    root: str, labels: Optional[str] = None, aus: Optional[Sequence[int]] = None, num_folds: int = NUM_FOLDS
) -> Listing:
    """One work item per image; labels from ``labels`` (or the root's only CSV) when present."""
    if labels is None and os.path.isdir(root):
        labels = find_labels_csv(root)
    return list_media(
        root, "emotionet", image_subject, labels, tuple(aus or dataset_aus("emotionet")), num_folds, videos=False
    )
