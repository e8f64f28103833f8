"""BP4D-faithful schedules: AU rates, smile episodes, companions, conflicts, talk and blink motion."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from keras_au.au import dataset_aus
from keras_au.sample import bp4d_schedule as bs
from keras_au.sample import schedule as sc

AUS = dataset_aus("bp4d")
N = 32
CLIPS = 600


@pytest.fixture(scope="module")
def sim():
    """CLIPS clips of N frames: labeled events, talk/blink events, occurrence (clips, N, AUs)."""
    rng = np.random.default_rng(0)
    labeled, extra, occ = [], [], []
    for _ in range(CLIPS):
        events = bs.make_bp4d_events(rng, AUS, N)
        labeled.append(events)
        extra.append(bs.make_talk_blink_events(rng, N, events))
        occ.append(sc.bp4d_occurrence(sc.label_intensity(sc.intensity_track(events, N, AUS))))
    return labeled, extra, np.stack(occ)


def _col(occ: np.ndarray, au: int) -> np.ndarray:
    return occ[..., AUS.index(au)].ravel()


def _phi(occ: np.ndarray, a: int, b: int) -> float:
    return float(np.corrcoef(_col(occ, a), _col(occ, b))[0, 1])


def test_rates_are_bp4d():
    assert set(bs.BP4D_RATES) == set(AUS) and bs.BP4D_RATES[12] == 0.56 and bs.BP4D_RATES[24] == 0.15


def test_mean_rates_match(sim):
    rates = sim[2].mean(axis=(0, 1))
    for au, rate in zip(AUS, rates):
        assert abs(rate - bs.BP4D_RATES[au]) <= 0.04, (au, rate, bs.BP4D_RATES[au])


@pytest.mark.parametrize("frames,clips", [(16, 400), (64, 250)])
def test_rates_hold_for_other_clip_lengths(frames, clips):
    rates = bs.simulated_rates(np.random.default_rng(1), AUS, frames, clips)
    off = {au: round(r - bs.BP4D_RATES[au], 3) for au, r in rates.items()}
    assert max(abs(d) for d in off.values()) <= 0.04, off


def test_simulated_rates_labels_as_intensity_track():
    rng = np.random.default_rng(5)
    occ = [sc.bp4d_occurrence(sc.label_intensity(sc.intensity_track(bs.make_bp4d_events(rng, AUS, N), N, AUS)))
           for _ in range(40)]
    expected = np.stack(occ).mean(axis=(0, 1))
    got = bs.simulated_rates(np.random.default_rng(5), AUS, N, 40)
    assert [got[a] for a in AUS] == pytest.approx(expected.tolist(), abs=1e-12)


def test_custom_rates_and_subsets():
    rates = {1: 0.3, 2: 0.25, 6: 0.3, 12: 0.4, 15: 0.25, 17: 0.1}
    got = bs.simulated_rates(np.random.default_rng(2), list(rates), 32, 400, rates)
    assert all(abs(got[a] - r) <= 0.04 for a, r in rates.items()), got


def test_smile_cluster_co_occurs(sim):
    occ = sim[2]
    for a, b in ((6, 12), (10, 12), (6, 10)):
        assert _phi(occ, a, b) >= 0.4, (a, b, _phi(occ, a, b))
    smile = _col(occ, 12) == 1
    for au in (7, 14):  # often join smiles, but also occur on their own
        on = _col(occ, au) == 1
        assert on[smile].mean() > on[~smile].mean() > 0.1, au


def test_companions_go_together(sim):
    occ = sim[2]
    for a, b in ((1, 2), (4, 7), (15, 17), (17, 24), (23, 24)):
        x, y = _col(occ, a), _col(occ, b)
        lift = (x * y).mean() / (x.mean() * y.mean())  # P(a and b) / (P(a) P(b)): 1 if independent
        assert lift > 1.4, (a, b, lift)


def test_clips_differ_in_smiling(sim):
    smile = sim[2][..., AUS.index(12)].mean(axis=1)
    assert (smile == 0).mean() > 0.1 and (smile > 0.75).mean() > 0.1


def test_smile_episodes_are_long_and_cross_clip_edges(sim):
    episodes = [e for events in sim[0] for e in events if e.au == 12]
    assert np.mean([e.release - e.apex >= 8 for e in episodes]) > 0.4
    assert any(e.start < -1 for e in episodes) and any(e.end > N + 1 for e in episodes)
    assert all(e.end > 0 and e.start < N - 1 for events in sim[0] for e in events)  # each one moves the clip


def test_events_are_valid_and_never_conflict(sim):
    peaks = []
    for events in sim[0]:
        assert all(e.au in AUS and e.start < e.apex <= e.release < e.end for e in events)
        peaks += [e.peak for e in events]
        for a, b in itertools.combinations(events, 2):
            if a.overlaps(b):
                assert a.au != b.au and not sc.conflicts(a.au, b.au), (a, b)
    share = np.bincount(peaks, minlength=6)[1:] / len(peaks)
    assert np.abs(share - np.array(sc.PEAK_PROBS)).max() < 0.05


def test_same_seed_same_schedule():
    def draw(seed: int) -> list:
        rng = np.random.default_rng(seed)
        events = bs.make_bp4d_events(rng, AUS, N)
        return events + bs.make_talk_blink_events(rng, N, events)

    assert draw(3) == draw(3) and draw(3) != draw(4)


def test_bad_rates_are_refused():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="9"):
        bs.make_bp4d_events(rng, (*AUS, 9), N)  # AU9 has no rate
    with pytest.raises(ValueError, match="24"):
        bs.make_bp4d_events(rng, AUS[:-1], N)  # a rate for AU24, which is not asked for
    for bad in (1.0, -0.1):
        with pytest.raises(ValueError, match="17"):
            bs.make_bp4d_events(rng, AUS, N, {**bs.BP4D_RATES, 17: bad})


def test_talk_and_blinks(sim):
    labeled, extra, _ = sim
    talk = blinks = 0.0
    for events, motion in zip(labeled, extra):
        assert {e.au for e in motion} <= {25, 26, 45}
        for m in motion:
            assert not any(m.overlaps(e) and sc.conflicts(m.au, e.au) for e in events), m
            assert m.start < m.apex <= m.release < m.end and m.end > 0 and m.start < N - 1
            if m.au == 45:
                assert m.peak in (4, 5) and m.apex - m.start in (1, 2) and m.release - m.apex <= 2
                assert m.end - m.release in (2, 3)
            else:
                assert m.end - m.start <= 6 and m.peak in (1, 2, 3)
        for a, b in itertools.combinations(motion, 2):
            assert not (a.au == b.au and a.overlaps(b)), (a, b)
        track = sc.intensity_track(motion, N, (25, 26, 45)) > 0
        talk += track[:, :2].any(axis=1).mean()
        blinks += track[:, 2].any()
    assert 0.25 <= talk / CLIPS <= 0.45
    assert 0.2 <= blinks / CLIPS <= 0.6  # about one blink per 90 frames: some 32-frame clips have one
    assert not any(45 in pair for pair in sc.CONFLICTS)
