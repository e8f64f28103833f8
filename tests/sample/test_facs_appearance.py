"""FACS appearance changes (creases) on a real face: where they darken, symmetry, intensity scaling."""

from __future__ import annotations

import numpy as np
import pytest

from keras_au.sample import facs_appearance as fa
from keras_au.sample import facs_motion as fm
from keras_au.sample.synth import prepare_still


@pytest.fixture(scope="module")
def still(detector, astronaut):
    return prepare_still(astronaut, detector)


def _box_mean(frame: np.ndarray, centre: np.ndarray, half: int) -> float:
    x, y = np.round(centre).astype(int)
    return float(frame[y - half:y + half + 1, x - half:x + half + 1].astype(np.float64).mean())


def test_every_crease_au_has_a_motion_model_and_valid_anchors():
    assert set(fa.CREASES) <= set(fm.AU_MOTION)
    for creases in fa.CREASES.values():
        for crease in creases:
            assert 0 < crease.depth < 1 and len(crease.points) >= 2
            assert all(0 <= a < fm.NUM_LANDMARKS for anchor, _, _ in crease.points for a in anchor)


def test_no_crease_without_an_active_au(still):
    moved = still.moved({})
    assert fa.crease_polylines(still.frame_landmarks, moved, {}) == []
    assert fa.crease_polylines(still.frame_landmarks, moved, {25: 5.0, 26: 5.0}) == []  # shape-only AUs
    frame = still.render({})
    again = fa.paint_creases(frame, still.frame_landmarks, moved, {}, np.eye(2, 3))
    assert again is frame


def test_creases_are_mirrored_and_scale_with_intensity(still):
    lm = still.frame_landmarks
    full = fa.crease_polylines(lm, lm, {12: 5.0})
    half = fa.crease_polylines(lm, lm, {12: 2.5})
    assert len(full) == 2 * len(fa.CREASES[12])
    assert [a for _, a in half] == pytest.approx([a * fm.motion_scale(2.5) for _, a in full])
    frame = fm.face_frame(lm)
    mid = 0.5 * (lm[36:42].mean(0) + lm[42:48].mean(0))
    (left, _), (right, _) = full[0], full[1]
    # image-left and image-right copies sit at mirrored positions about the face midline
    lx = (left - mid) @ frame.x_axis
    rx = (right - mid) @ frame.x_axis
    assert np.all(lx < 0) and np.all(rx > 0)
    assert np.abs(lx + rx).max() < 0.1 * frame.scale


@pytest.mark.parametrize("au", [1, 4, 6, 12, 14, 17])
def test_crease_darkens_the_skin_on_its_line_only(still, au, monkeypatch):
    apex = still.render({au: 5.0})
    with monkeypatch.context() as m:
        m.setattr(fa, "CREASES", {})
        shape_only = still.render({au: 5.0})
    lines = fa.crease_polylines(still.frame_landmarks, still.moved({au: 5.0}), {au: 5.0})
    for pts, _ in lines:  # a polyline vertex lies on the groove (no head motion: identity transform)
        assert _box_mean(apex, pts[1], 1) < 0.97 * _box_mean(shape_only, pts[1], 1)
    far = np.ones(apex.shape[:2], bool)
    far[:, 40:184] = False  # the face's columns
    assert np.array_equal(apex[far], shape_only[far])


def test_painting_is_deterministic_and_bounded(still):
    a = still.render({1: 5.0, 4: 5.0, 6: 5.0, 12: 5.0, 17: 5.0})
    b = still.render({1: 5.0, 4: 5.0, 6: 5.0, 12: 5.0, 17: 5.0})
    assert a.dtype == np.uint8 and np.array_equal(a, b)
