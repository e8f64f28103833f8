"""AU schedules for synthetic clips: events with onset, apex and offset, and the label rules.

An event raises one AU linearly from 0 to its peak intensity (1-5) over the onset, holds
it through the apex and lowers it back to 0 over the offset. The face is moved with the
continuous intensity; the label of a frame is the intensity rounded to the nearest level.

Label rules (documented in docs/sample.md):
* BP4D occurrence: 1 when the rounded intensity is >= 1 (FACS trace level A and up).
* DISFA: the intensity file holds the rounded intensity 0-5; positive means >= 2 (the
  usual DISFA convention).

``make_events`` draws events evenly over the AUs (DISFA clips); ``bp4d_schedule`` follows BP4D's AU
rates and co-occurrence and adds unlabeled speech and blink motion.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Mapping, Sequence

import numpy as np

BP4D_OCCURRENCE_MIN = 1
DISFA_POSITIVE_MIN = 2

# Pairs that pull the same tissue in opposite directions: never active at the same time.
CONFLICTS: frozenset[frozenset[int]] = frozenset(
    frozenset(p) for p in ((12, 15), (23, 25), (24, 25), (17, 25), (17, 26), (24, 26), (23, 26), (10, 24))
)
# Natural companions (smile 6+12, surprise 1+2, ...): added with COMPANION_PROB.
COMPANIONS: Mapping[int, tuple[int, ...]] = {
    1: (2,),
    2: (1,),
    4: (7,),
    6: (12,),
    9: (10, 4),
    12: (6, 25),
    15: (17,),
    17: (24, 15),
    23: (24,),
    26: (25,),
}
COMPANION_PROB = 0.4
# Peak intensity 1..5: mostly clear expressions, some subtle ones.
PEAK_PROBS = (0.1, 0.2, 0.25, 0.25, 0.2)


@dataclass(frozen=True)
class AUEvent:
    """One AU action: 0 at ``start``, ``peak`` from ``apex`` to ``release``, 0 again at ``end``."""

    au: int
    start: int
    apex: int
    release: int
    end: int
    peak: int

    def intensity(self, frames: np.ndarray) -> np.ndarray:
        f = np.asarray(frames, dtype=np.float64)
        up = np.clip((f - self.start) / max(self.apex - self.start, 1), 0.0, 1.0)
        down = np.clip((self.end - f) / max(self.end - self.release, 1), 0.0, 1.0)
        return self.peak * np.minimum(up, down) * ((f > self.start) & (f < self.end))

    def overlaps(self, other: "AUEvent") -> bool:
        return self.start < other.end and other.start < self.end

    def to_json(self) -> dict:
        return asdict(self)


def intensity_track(events: Sequence[AUEvent], num_frames: int, aus: Sequence[int]) -> np.ndarray:
    """(num_frames, len(aus)) continuous intensities; overlapping events of one AU take the max."""
    frames = np.arange(num_frames)
    track = np.zeros((num_frames, len(aus)), dtype=np.float64)
    column = {int(a): i for i, a in enumerate(aus)}
    for ev in events:
        if ev.au in column:
            i = column[ev.au]
            track[:, i] = np.maximum(track[:, i], ev.intensity(frames))
    return track


def label_intensity(track: np.ndarray) -> np.ndarray:
    """Rounded intensity level 0-5 (int) of continuous intensities."""
    return np.clip(np.floor(np.asarray(track, dtype=np.float64) + 0.5), 0, 5).astype(np.int64)


def bp4d_occurrence(levels: np.ndarray) -> np.ndarray:
    """BP4D-style occurrence (0/1) from intensity levels."""
    return (np.asarray(levels) >= BP4D_OCCURRENCE_MIN).astype(np.int64)


def disfa_positive(levels: np.ndarray) -> np.ndarray:
    """DISFA positives (0/1) from intensity levels."""
    return (np.asarray(levels) >= DISFA_POSITIVE_MIN).astype(np.int64)


def conflicts(a: int, b: int) -> bool:
    return frozenset((int(a), int(b))) in CONFLICTS


def make_events(
    rng: np.random.Generator,
    aus: Sequence[int],
    num_frames: int,
    num_events: int,
    queue: list[int],
) -> list[AUEvent]:
    """Random non-conflicting events; AUs are drawn from ``queue`` (refilled shuffled) so that
    every AU of the set gets about the same number of events over a subject's clips."""
    aus = [int(a) for a in aus]
    events: list[AUEvent] = []
    primary = attempts = 0
    while primary < num_events and attempts < 8 * num_events:
        attempts += 1
        if not queue:
            queue.extend(int(a) for a in rng.permutation(aus))
        au = queue.pop(0)
        ev = _random_event(rng, au, num_frames)
        if ev is None or not _fits(ev, events):
            queue.append(au)
            continue
        events.append(ev)
        primary += 1
        partners = [c for c in COMPANIONS.get(au, ()) if c in aus]
        if partners and rng.random() < COMPANION_PROB:
            partner = partners[int(rng.integers(len(partners)))]
            comp = _companion(rng, ev, partner, num_frames)
            if _fits(comp, events):
                events.append(comp)
    return sorted(events, key=lambda e: (e.start, e.au))


def _random_event(rng: np.random.Generator, au: int, num_frames: int) -> AUEvent | None:
    onset, apex, offset = int(rng.integers(3, 7)), int(rng.integers(3, 11)), int(rng.integers(3, 7))
    length = onset + apex + offset
    if length > num_frames:
        return None
    start = int(rng.integers(-1, num_frames - length + 1))
    peak = int(rng.choice(np.arange(1, 6), p=PEAK_PROBS))
    return AUEvent(au, start, start + onset, start + onset + apex, start + length, peak)


def _companion(rng: np.random.Generator, ev: AUEvent, au: int, num_frames: int) -> AUEvent:
    lag = int(rng.integers(-2, 3))
    peak = int(np.clip(ev.peak + rng.integers(-1, 2), 1, 5))
    s = max(-1, ev.start + lag)
    apex, release = max(s + 1, ev.apex + lag), max(s + 1, ev.release + lag)
    return AUEvent(au, s, apex, release, min(num_frames + 1, ev.end + lag), peak)


def _fits(ev: AUEvent, events: Sequence[AUEvent]) -> bool:
    for other in events:
        if other.overlaps(ev) and (other.au == ev.au or conflicts(other.au, ev.au)):
            return False
    return True
