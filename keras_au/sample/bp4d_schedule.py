"""BP4D-faithful AU schedules: BP4D's AU rates, smile episodes and companions, and unlabeled talking/blinking.

``make_bp4d_events`` gives events whose labeled frames reach each AU's published rate on average, with the
smile cluster (6, 7, 10, 12, 14) in long co-occurring episodes; ``make_talk_blink_events`` adds AU25/26/45
motion that moves the face but never enters a BP4D label; ``simulated_rates`` checks the rates.
"""

from __future__ import annotations

import bisect
import functools
import math
from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping, Sequence

import numpy as np

from keras_au.sample.schedule import PEAK_PROBS, AUEvent, bp4d_occurrence, conflicts, label_intensity


# Share of coded frames with the AU present (occurrence: intensity A and up) in the BP4D-Spontaneous
# training partition of FERA 2015 (Valstar et al., "FERA 2015 - Second Facial Expression Recognition
# and Analysis Challenge", FG 2015): the rates quoted for the 3-fold BP4D protocol.
BP4D_RATES: Mapping[int, float] = MappingProxyType(
    {1: 0.21, 2: 0.17, 4: 0.20, 6: 0.46, 7: 0.55, 10: 0.59, 12: 0.56, 14: 0.47, 15: 0.17, 17: 0.34, 23: 0.17, 24: 0.15}
)

_PAD = 8  # frames simulated beyond each clip end, so clips begin and end mid-event
_SMILE = 12  # core of the smile episodes
_EPISODE_RUN, _EPISODE_MIN, _EPISODE_GAP = 24.0, 8, 7  # labeled smile run: mean, min; min gap between
_OWN_MIN, _OWN_GAP = 2, 2  # other runs; gap >= 2 keeps dilated runs apart (the free-share formula)
_JOIN_SHARE = 0.9  # at most this share of an AU comes from joining leaders: the rest occurs on its own


@dataclass(frozen=True)
class _Role:
    """How an AU occurs: joining runs of leader AUs (leader, probability) and in runs of its own."""

    joins: tuple[tuple[int, float], ...] = ()
    run: float = 8.0  # mean labeled length of its own runs (frames)
    tight: bool = False  # joins share the leader run's draw: nested, strongly correlated companions


# Processing order: leaders before followers, and an AU after those it must keep clear of (15 after 12,
# 24 after 10). Leaders (12, 1, 4, 17) are independent processes, which keeps the rate algebra exact.
_ROLES: Mapping[int, _Role] = MappingProxyType({
    12: _Role(run=_EPISODE_RUN),
    1: _Role(run=8.0),
    4: _Role(run=10.0),
    17: _Role(run=8.0),
    6: _Role(((12, 0.85),), run=6.0, tight=True),  # Duchenne smile: 6 and 10 join the same episodes
    10: _Role(((12, 0.95),), run=6.0, tight=True),
    7: _Role(((12, 0.6), (4, 0.8)), run=10.0),
    14: _Role(((12, 0.55),), run=10.0),
    2: _Role(((1, 0.75),), run=6.0),
    15: _Role(((17, 0.7),), run=6.0),
    24: _Role(((17, 0.6),), run=6.0),
    23: _Role(((24, 0.7),), run=6.0),
})


@dataclass(frozen=True)
class _Step:
    au: int
    joins: tuple[tuple[int, float], ...]
    own: float  # on-share of the AU's own stationary run process (before conflict masking)
    run: float
    tight: bool
    blockers: tuple[int, ...]  # earlier AUs it conflicts with: it keeps one frame clear of them
    avoid: tuple[int, ...]  # every AU of the set it conflicts with: its ramps stop short of them


def _smile_levels(rate: float) -> tuple[float, float, float]:
    """(share of clips without smiles, low, high): BP4D tasks range from no smile to mostly smiling;
    the clip's smile share is 0 or uniform in [low, high], with mean ``rate``."""
    top = max(0.9, rate)
    none = min(0.2, 1 - rate / top)
    mid = rate / (1 - none)
    half = min(mid, top - mid, 0.25)
    return none, mid - half, mid + half


def _check(aus: Sequence[int], rates: Mapping[int, float]) -> tuple[tuple[int, float], ...]:
    asked, known = {int(a) for a in aus}, {int(a) for a in rates}
    if asked != known:
        raise ValueError(f"AU(s) without a rate: {sorted(asked - known)}; rates for AU(s) not asked for: "
                         f"{sorted(known - asked)}")
    bad = {int(a): r for a, r in rates.items() if not 0 <= float(r) < 1}
    if bad:
        raise ValueError(f"rates must lie in [0, 1): {bad}")
    return tuple(sorted((int(a), float(r)) for a, r in rates.items()))


@functools.lru_cache(maxsize=16)
def _plan(items: tuple[tuple[int, float], ...]) -> tuple[tuple[float, float, float], tuple[_Step, ...]]:
    """Own-process shares that hit the rates. Sources of an AU (joined leader runs, own runs) are
    independent, so P(AU) = free * (1 - prod(1 - source share)); free = share of frames clear of
    conflicting AUs, 1 - P(conflicting AU dilated by one frame) = 1 - rate - 2 * runs per frame."""
    rates = dict(items)
    order = [a for a in _ROLES if a in rates] + sorted(a for a in rates if a not in _ROLES)
    smile = _smile_levels(rates.get(_SMILE, 0.0))
    dilated: dict[int, float] = {}
    steps = []
    for au in order:
        role, rate = _ROLES.get(au, _Role()), rates[au]
        if au == _SMILE:
            grid = smile[1] + (smile[2] - smile[1]) * (np.arange(64) + 0.5) / 64
            runs_per_frame = (1 - smile[0]) * float(np.mean(grid / _run_mean(grid, _EPISODE_RUN, _EPISODE_GAP)))
            dilated[au] = rate + 2 * runs_per_frame
            steps.append(_Step(au, (), 0.0, role.run, False, (), _avoid(au, rates)))
            continue
        blockers = tuple(c for c in dilated if conflicts(au, c))
        free = float(np.prod([1 - dilated[c] for c in blockers]))
        target = rate / free if free > 0 else np.inf
        if target >= 1:
            raise ValueError(f"AU{au}: rate {rate} does not fit beside conflicting AU(s) {list(blockers)}")
        joins = [(lead, j, rates[lead]) for lead, j in role.joins if lead in rates]
        lo, hi = 0.0, 1.0  # scale the join probabilities down where joins alone would overshoot
        if _joined(joins, 1.0) > _JOIN_SHARE * target:
            for _ in range(40):
                mid = (lo + hi) / 2
                lo, hi = (mid, hi) if _joined(joins, mid) < _JOIN_SHARE * target else (lo, mid)
        own = max(0.0, 1 - (1 - target) / (1 - _joined(joins, hi)))
        joins = [(lead, j * hi) for lead, j, _ in joins]
        run = float(_run_mean(own, role.run, _OWN_GAP))
        keep = float(np.prod([1 - j * dilated[lead] for lead, j in joins]))
        dilated[au] = 1 - keep * (1 - own * (1 + 2 / run))
        steps.append(_Step(au, tuple(joins), own, run, role.tight, blockers, _avoid(au, rates)))
    return smile, tuple(steps)


def _joined(joins: Sequence[tuple[int, float, float]], scale: float) -> float:
    """Share of frames that joined runs of independent leaders cover: (leader, probability, rate)."""
    return 1 - float(np.prod([1 - scale * j * rate for _, j, rate in joins]))


def _avoid(au: int, aus: Mapping[int, float]) -> tuple[int, ...]:
    return tuple(a for a in aus if conflicts(au, a))


def _run_mean(share: float | np.ndarray, run: float, gap_min: int) -> float | np.ndarray:
    """Mean on-length at an on-share: gaps average at least gap_min + 1 frames, runs lengthen instead."""
    return np.maximum(run, (gap_min + 1) * share / np.maximum(1 - share, 1e-9))


class _Uniform:
    """Uniform draws from ``rng``, taken in blocks: numpy's per-call cost dominates small draws."""

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng, self._block = rng, iter(())

    def __call__(self) -> float:
        for u in self._block:
            return u
        self._block = iter(self._rng.random(256).tolist())
        return next(self._block)

    def int(self, low: int, high: int) -> int:
        """Uniform in [low, high)."""
        return low + int(self() * (high - low))

    def geometric(self, mean: float) -> int:
        """Geometric on 1, 2, ... with the given mean."""
        return 1 if mean <= 1 else 1 + int(math.log(1 - self()) / math.log(1 - 1 / mean))

    def peak(self) -> int:
        return bisect.bisect_right(_PEAK_CDF, self()) + 1


def _runs(u: _Uniform, share: float, run: float, run_min: int, gap_min: int, lo: int, hi: int) -> list[tuple[int, int]]:
    """Runs [a, b) over [lo, hi) of a stationary on/off process: on-share ``share``, mean on-length
    ``run``; lengths are a minimum plus a geometric part. The start at ``lo`` is drawn from the
    equilibrium (state, residual length), so every frame has P(on) = share exactly."""
    if share <= 0:
        return []
    run = max(run, (gap_min + 1) * share / (1 - share))  # as _run_mean
    means = ((gap_min, run * (1 - share) / share), (max(1, min(run_min, int(run))), run))  # (min, mean): off, on

    def length(state: int, residual: bool = False) -> int:
        m, mean = means[state]
        if residual and u() * mean < m:  # equilibrium residual: uniform over the minimum, ...
            return u.int(1, m + 1)
        return m - (not residual) + u.geometric(1 + mean - m)  # ... or past it (memoryless)

    state = int(u() < share)
    t, d, runs = lo, length(state, residual=True), []
    while t < hi:
        if state:
            runs.append((t, min(t + d, hi)))
        t, state = t + d, 1 - state
        d = length(state)
    return runs


def _dilate(mask: np.ndarray) -> np.ndarray:
    out = mask.copy()
    out[1:] |= mask[:-1]
    out[:-1] |= mask[1:]
    return out


def _mask_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    edges = (np.flatnonzero(mask[1:] != mask[:-1]) + 1).tolist()
    edges = [0] * bool(mask[0]) + edges + [len(mask)] * bool(mask[-1])
    return list(zip(edges[::2], edges[1::2]))


_RAMP_MAX = 6
_PEAK_CDF = np.cumsum(PEAK_PROBS)[:-1].tolist()
# Frames from an event's start to its first labeled frame, per (peak, onset): computed with
# AUEvent.intensity's own arithmetic so that the labeled frames are exactly the planned run.
_LEAD: Mapping[tuple[int, int], int] = MappingProxyType({
    (p, o): next(k for k in range(1, o + 1) if label_intensity(np.float64(p) * (k / o)) >= 1)
    for p in range(1, 6) for o in range(1, _RAMP_MAX + 1)
})


def _ramped(u: _Uniform, au: int, a: int, b: int, peak: int, rooms: tuple[int, int]) -> AUEvent:
    """Event whose labeled frames (level >= 1) are exactly [a, b); onset and offset (2-6 frames) are
    shortened so that they reach at most ``rooms`` frames beyond the run (before, after): neighbours
    that must not overlap never do."""
    ramps = [u.int(2, _RAMP_MAX + 1), u.int(2, _RAMP_MAX + 1)]
    for i in (0, 1):
        while _LEAD[peak, ramps[i]] > rooms[i]:
            ramps[i] -= 1
    while ramps[0] - _LEAD[peak, ramps[0]] + ramps[1] - _LEAD[peak, ramps[1]] >= b - a:  # too short: no apex
        ramps[int(ramps[1] > ramps[0])] -= 1
    onset, offset = ramps
    start, end = a - _LEAD[peak, onset], b - 1 + _LEAD[peak, offset]
    return AUEvent(au, start, start + onset, end - offset, end, peak)


def make_bp4d_events(
    rng: np.random.Generator,
    aus: Sequence[int],
    num_frames: int,
    rates: Mapping[int, float] = BP4D_RATES,
) -> list[AUEvent]:
    """Labeled events whose BP4D occurrence matches ``rates`` on average, with BP4D's structure:
    long smile episodes (12 with 6 and 10, often 7 and 14, small lags, correlated peaks) whose share
    varies from clip to clip, shorter events for the rarer AUs with their companions (1+2, 4+7, 15+17,
    17+24, 23+24), no overlap of CONFLICTS. Every AU runs as a stationary process over the clip and
    ``_PAD`` frames beyond, so events may begin before frame 0 and end after the clip."""
    smile, steps = _plan(_check(aus, rates))
    u = _Uniform(rng)
    lo, size = -_PAD, num_frames + 2 * _PAD
    share = 0.0 if u() < smile[0] else smile[1] + u() * (smile[2] - smile[1])
    masks: dict[int, np.ndarray] = {}
    runs: dict[int, list[tuple[int, int, int, float]]] = {}  # (a, b, peak, draw shared by tight joins)
    for st in steps:
        mask, hint = np.zeros(size, bool), np.zeros(size, np.int64)
        if st.au == _SMILE:
            own = _runs(u, share, st.run, _EPISODE_MIN, _EPISODE_GAP, lo, lo + size)
        else:
            own = _runs(u, st.own, st.run, _OWN_MIN, _OWN_GAP, lo, lo + size)
        for a, b in own:
            mask[a - lo:b - lo] = True
        for lead, prob in st.joins:
            lag = 2 if lead == _SMILE else 1  # companions start and stop a little apart
            for a, b, peak, draw in runs[lead]:
                if (draw if st.tight else u()) < prob:
                    a, b = max(a + u.int(-lag, lag + 1) - lo, 0), min(b + u.int(-lag, lag + 1) - lo, size)
                    mask[a:b] = True
                    hint[a:b] = np.maximum(hint[a:b], peak)
        for c in st.blockers:
            mask &= ~_dilate(masks[c])
        masks[st.au] = mask
        runs[st.au] = []
        for a, b in _mask_runs(mask):
            led = int(hint[a:b].max())  # a companion's peak follows its leader's
            peak = min(5, max(1, led + u.int(-1, 2))) if led else u.peak()
            runs[st.au].append((a + lo, b + lo, peak, u()))
    events = []
    for st in steps:
        near = [r[:2] for c in (st.au, *st.avoid) for r in runs[c]]
        for a, b, peak, _ in runs[st.au]:
            gaps = (min([a - b2 for _, b2 in near if b2 <= a], default=size),
                    min([a2 - b for a2, _ in near if a2 >= b], default=size))
            ev = _ramped(u, st.au, a, b, peak, ((gaps[0] + 1) // 2, (gaps[1] + 1) // 2))
            if ev.end > 0 and ev.start < num_frames - 1:  # some motion inside the clip
                events.append(ev)
    return sorted(events, key=lambda e: (e.start, e.au))


def simulated_rates(
    rng: np.random.Generator,
    aus: Sequence[int],
    num_frames: int,
    clips: int,
    rates: Mapping[int, float] = BP4D_RATES,
) -> dict[int, float]:
    """Mean BP4D occurrence per AU over ``clips`` schedules from make_bp4d_events (docs, tests)."""
    total = np.zeros(len(aus))
    for _ in range(clips):
        track = _fast_track(make_bp4d_events(rng, aus, num_frames, rates), num_frames, aus)
        total += bp4d_occurrence(label_intensity(track)).sum(axis=0)
    return {int(a): float(t) / (clips * num_frames) for a, t in zip(aus, total)}


def _fast_track(events: Sequence[AUEvent], num_frames: int, aus: Sequence[int]) -> np.ndarray:
    """intensity_track, all events at once with AUEvent.intensity's arithmetic (identical values)."""
    column = {int(a): i for i, a in enumerate(aus)}
    events = [e for e in events if e.au in column]
    track = np.zeros((len(aus), num_frames))
    if events:
        start, apex, release, end, peak = np.array(
            [(e.start, e.apex, e.release, e.end, e.peak) for e in events], dtype=np.float64).T[:, :, None]
        f = np.arange(num_frames, dtype=np.float64)
        up = np.clip((f - start) / np.maximum(apex - start, 1), 0.0, 1.0)
        down = np.clip((end - f) / np.maximum(end - release, 1), 0.0, 1.0)
        np.maximum.at(track, [column[e.au] for e in events], peak * np.minimum(up, down) * ((f > start) & (f < end)))
    return track.T


# Share of frames inside an utterance, mean utterance length (frames): BP4D tasks are mostly talk; labeled
# 17/23/24 events (lips pressed, chin raised) block about half the frames, so 25/26 move ~30 % of them.
_TALK_SHARE, _TALK_RUN = 0.95, 30.0
_BLINK_EVERY = 90.0  # mean frames between blinks: one per 3-4 s at 25 fps


def make_talk_blink_events(rng: np.random.Generator, num_frames: int, labeled: Sequence[AUEvent]) -> list[AUEvent]:
    """Unlabeled motion BP4D people show while talking and blinking, for motion only (never labels):
    AU25 (lips part) with AU26 (jaw drop) half the time, one event per 2-6 frame syllable of an
    utterance (peak 1-3), and AU45 blinks (onset 1-2, apex 0-2, offset 2-3 frames, peak 4-5). A
    syllable is shortened or dropped where it would overlap a conflicting ``labeled`` event."""
    u = _Uniform(rng)
    lo, hi = -_PAD, num_frames + _PAD
    events = []
    against = {au: [e for e in labeled if conflicts(au, e.au)] for au in (25, 26)}
    for a, b in _runs(u, _TALK_SHARE, _TALK_RUN, 4, 2, lo, hi):  # utterances
        t = a
        while t < b:
            cycle, jaw = u.int(2, 7), u() < 0.5
            for au, peak in ((25, u.int(1, 4)), (26, u.int(1, 3))):
                start, end = _clear(t, min(t + cycle, b), against[au])
                if end - start >= 2 and (au == 25 or jaw):
                    hold = u.int(0, 2) if end - start >= 4 else 0
                    apex = start + max(1, (end - start - hold) // 2)
                    events.append(AUEvent(au, start, apex, apex + hold, end, peak))
            t += cycle
    for a, _ in _runs(u, 6 / _BLINK_EVERY, 6.0, 6, 10, lo, hi):  # blink starts, ~1 per _BLINK_EVERY frames
        apex = a + u.int(1, 3)
        release = apex + u.int(0, 3)
        events.append(AUEvent(45, a, apex, release, release + u.int(2, 4), u.int(4, 6)))
    return sorted((e for e in events if e.end > 0 and e.start < num_frames - 1), key=lambda e: (e.start, e.au))


def _clear(start: int, end: int, against: Sequence[AUEvent]) -> tuple[int, int]:
    """[start, end) shrunk to stay clear of the events ``against``."""
    for other in against:
        if other.start < end and start < other.end:
            start, end = (other.end, end) if other.start <= start else (start, other.start)
    return start, end
