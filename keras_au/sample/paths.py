"""Where the parts of a generated sample live."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Optional

from keras_au.sample.layouts import BP4D_DIR, DISFA_DIR, UNLABELED_DIR

MANIFEST, README, PREVIEW = "manifest.json", "README.txt", "preview.png"


@dataclass(frozen=True)
class SamplePaths:
    """A generated sample: dataset roots for the readers plus the unlabeled media."""

    root: str
    bp4d: str  # BP4D root (subject folders + AUCoding/AU_OCC)
    disfa: str  # DISFA root (Videos_LeftCamera + ActionUnit_Labels)
    unlabeled: str  # EmotioNet-style folder: images/ and videos/
    videos: tuple[str, ...]  # real videos (unlabeled)
    stills: tuple[str, ...]  # real photos (unlabeled)
    manifest: str
    readme: str
    preview: Optional[str] = None

    @classmethod
    def from_root(cls, root: str) -> "SamplePaths":
        """Paths of the sample in ``root`` (reads its manifest for the unlabeled files)."""
        root = os.path.abspath(root)
        manifest = os.path.join(root, MANIFEST)
        with open(manifest, encoding="utf-8") as f:
            info = json.load(f)
        unlabeled = info.get("unlabeled", {})
        preview = os.path.join(root, PREVIEW)
        return cls(
            root=root,
            bp4d=os.path.join(root, BP4D_DIR),
            disfa=os.path.join(root, DISFA_DIR),
            unlabeled=os.path.join(root, UNLABELED_DIR),
            videos=tuple(os.path.join(root, p) for p in unlabeled.get("videos", [])),
            stills=tuple(os.path.join(root, p) for p in unlabeled.get("images", [])),
            manifest=manifest,
            readme=os.path.join(root, README),
            preview=preview if os.path.isfile(preview) else None,
        )
