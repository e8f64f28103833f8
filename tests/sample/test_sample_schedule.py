"""AU schedules: onset/apex/offset shape, label rules, conflicts, balance, determinism."""

from __future__ import annotations

import itertools

import numpy as np

from keras_au.au import dataset_aus
from keras_au.sample import schedule as sc


def test_event_rises_holds_and_falls():
    ev = sc.AUEvent(au=12, start=2, apex=6, release=10, end=14, peak=4)
    v = ev.intensity(np.arange(17))
    assert v[:3].tolist() == [0, 0, 0] and v[14:].tolist() == [0, 0, 0]
    assert np.all(np.diff(v[2:7]) > 0) and np.all(v[6:11] == 4) and np.all(np.diff(v[10:15]) < 0)


def test_label_rules():
    levels = sc.label_intensity(np.array([0.0, 0.49, 0.5, 1.49, 1.5, 4.6, 5.0]))
    assert levels.tolist() == [0, 0, 1, 1, 2, 5, 5]
    lv = np.array([0, 1, 2, 3, 4, 5])
    assert sc.bp4d_occurrence(lv).tolist() == [0, 1, 1, 1, 1, 1]  # BP4D: occurrence from level 1
    assert sc.disfa_positive(lv).tolist() == [0, 0, 1, 1, 1, 1]  # DISFA: positive from level 2


def test_track_takes_the_max_of_overlapping_events():
    events = [sc.AUEvent(1, 0, 2, 4, 6, 2), sc.AUEvent(1, 3, 4, 8, 9, 5), sc.AUEvent(2, 0, 1, 2, 3, 3)]
    track = sc.intensity_track(events, 10, (1, 2, 4))
    assert track[5, 0] == 5 and track[:, 2].max() == 0 and track[1, 1] == 3


def test_events_never_conflict_and_cover_every_au():
    for dataset in ("bp4d", "disfa"):
        aus = dataset_aus(dataset)
        rng, queue, seen = np.random.default_rng(7), [], set()
        for _ in range(40):
            events = sc.make_events(rng, aus, 32, 4, queue)
            assert all(e.au in aus and e.peak in range(1, 6) for e in events)
            for a, b in itertools.combinations(events, 2):
                if a.overlaps(b):
                    assert a.au != b.au and not sc.conflicts(a.au, b.au), (a, b)
            seen.update(e.au for e in events)
        assert seen == set(aus)


def test_same_seed_same_schedule():
    def draw(seed):
        return sc.make_events(np.random.default_rng(seed), dataset_aus("disfa"), 64, 8, [])

    assert draw(3) == draw(3) and draw(3) != draw(4)
