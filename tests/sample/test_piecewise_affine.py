"""The mesh warp: border pinned (no tearing), content follows moved points, folds removed."""

from __future__ import annotations

import numpy as np
import pytest

from keras_au.sample.piecewise_affine import PiecewiseAffineWarp, border_ring
from keras_au.sample.synth import Jitter, prepare_still


@pytest.fixture(scope="module")
def face(astronaut) -> np.ndarray:
    return np.ascontiguousarray(astronaut[20:260, 130:370])  # 240x240 around the face


def _grid(n=5, lo=60, hi=180) -> np.ndarray:
    v = np.linspace(lo, hi, n)
    return np.stack(np.meshgrid(v, v), -1).reshape(-1, 2)


def _border(img: np.ndarray) -> np.ndarray:
    return np.concatenate([img[0], img[-1], img[:, 0], img[:, -1]])


def test_identity_when_nothing_moves(face):
    pts = _grid()
    warp = PiecewiseAffineWarp(pts, (240, 240))
    np.testing.assert_array_equal(warp.warp(face, pts), face)


def test_border_is_pinned_and_moved_region_changes(face):
    pts = _grid()
    moved = pts.copy()
    moved[12] += (6.0, -8.0)  # the centre point
    warp = PiecewiseAffineWarp(pts, (240, 240))
    out = warp.warp(face, moved)
    np.testing.assert_array_equal(_border(out), _border(face))
    diff = np.abs(out.astype(int) - face.astype(int)).sum(-1)
    cx, cy = pts[12].astype(int)
    assert diff[cy - 10 : cy + 10, cx - 10 : cx + 10].mean() > 5
    # Outside the triangles around the moved point nothing changes at all.
    assert diff[:50].max() == 0 and diff[:, :50].max() == 0


def test_content_follows_the_moved_point():
    img = np.full((200, 200, 3), 255, np.uint8)
    yy, xx = np.mgrid[:200, :200]
    img[(xx - 100) ** 2 + (yy - 100) ** 2 <= 16] = 0  # a dark dot on the middle control point
    pts = _grid(5, 40, 160)
    moved = pts.copy()
    moved[12] += (7.0, -5.0)
    out = PiecewiseAffineWarp(pts, (200, 200)).warp(img, moved)
    ys, xs = np.nonzero(out[:, :, 0] < 128)
    assert abs(xs.mean() - 107) < 1.5 and abs(ys.mean() - 95) < 1.5  # moved 7 px right, 5 px up


def test_border_ring_has_corners():
    ring = border_ring(100, 80, per_side=4)
    for corner in ((0, 0), (99, 0), (0, 79), (99, 79)):
        assert np.any(np.all(np.isclose(ring, corner), axis=1))


def test_unfold_removes_a_fold(face):
    pts = _grid()
    moved = pts.copy()
    moved[12] += (70.0, 0.0)  # past its right neighbour: triangles turn inside out
    warp = PiecewiseAffineWarp(pts, (240, 240))
    assert warp.flipped(moved) > 0
    fixed, changed = warp.unfold(moved)
    assert changed and warp.flipped(fixed) == 0
    assert fixed[12, 0] > pts[12, 0]  # still moved the way it was pushed, only less
    same, changed = warp.unfold(pts)
    assert not changed and np.array_equal(same, pts)


def test_rendered_frame_border_is_unchanged_by_aus(detector, astronaut):
    still = prepare_still(astronaut, detector)
    neutral = still.render({})
    for aus in ({26: 5, 25: 5}, {1: 5, 2: 5}, {12: 5, 6: 5}):
        frame = still.render(aus)
        np.testing.assert_array_equal(_border(frame), _border(neutral))
        assert np.abs(frame.astype(int) - neutral.astype(int)).max() > 40
    # Head motion moves the whole frame, lighting changes its brightness.
    moved = still.render({}, Jitter(dx=2.0, angle=1.0))
    assert np.abs(moved.astype(int) - neutral.astype(int)).mean() > 2
    brighter = still.render({}, Jitter(gain=1.1))
    assert brighter.mean() > neutral.mean() + 5
