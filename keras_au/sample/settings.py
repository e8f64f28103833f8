"""``SampleSettings``: what an embedded sample is generated from (seed, identities, clip sizes, labels).

The same settings and media give the same sample; ``manifest.settings_key`` hashes them with the
media and the generator's code to decide whether an existing sample can be reused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from keras_au.sample.synth import FRAME_SIZE


@dataclass(frozen=True)
class SampleSettings:
    """What a sample is generated from; the same settings and media give the same sample."""

    seed: int = 0
    identities: Optional[int] = None  # at most this many identities (None: every usable one)
    bp4d_tasks: int = 2  # 4 ranks held-out people better but does not fit the demo's 15 minutes (docs/rtatl.md)
    bp4d_frames: int = 32
    disfa_frames: int = 64
    frame_size: int = FRAME_SIZE
    local_only: bool = False  # only the faces installed packages ship (no download)
    # AUs a base photo already shows (catalog.BASE_AUS): "unknown" labels them 9 (BP4D) in every frame made
    # from that still; "schedule" keeps the synthetic schedule's 0 at the "neutral" frames (generator v2).
    base_au_labels: str = "unknown"
    # Synthetic identities per base photo; None fills the standard partitions (BP4D 41 names, DISFA 27).
    variants: Optional[int] = None
