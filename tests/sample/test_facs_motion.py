"""The FACS motion model on real landmarks (astronaut): each AU moves the face the way FACS says."""

from __future__ import annotations

import numpy as np
import pytest

from keras_au.sample import facs_motion as fm
from keras_au.sample.synth import prepare_still


@pytest.fixture(scope="module")
def landmarks(detector, astronaut) -> np.ndarray:
    det = detector.detect(astronaut)
    assert det.found
    return det.largest.landmarks.astype(np.float64)


@pytest.fixture(scope="module")
def still(detector, astronaut):
    return prepare_still(astronaut, detector)


class Motion:
    """Apex (intensity 5) displacement of one AU, read in the face's own axes, in eye distances."""

    def __init__(self, landmarks, aus):
        self.frame = fm.face_frame(landmarks)
        self.before = fm.control_points(landmarks)
        self.after = fm.moved_points(landmarks, {a: 5 for a in aus})
        self.d = (self.after - self.before) / self.frame.scale

    def up(self, i) -> float:
        return float(-self.d[i] @ self.frame.y_axis)

    def x(self, i) -> float:
        return float(self.d[i] @ self.frame.x_axis)

    def dist(self, i, j, after=True) -> float:
        p = self.after if after else self.before
        return float(np.hypot(*(p[i] - p[j])))


def test_au12_pulls_mouth_corners_up_and_out(landmarks):
    m = Motion(landmarks, [12])
    assert m.up(48) > 0.05 and m.up(54) > 0.05
    assert m.x(48) < -0.05 and m.x(54) > 0.05  # image-left corner goes left, right goes right
    assert m.dist(48, 54) > m.dist(48, 54, after=False)


def test_au4_lowers_brows_and_draws_them_together(landmarks):
    m = Motion(landmarks, [4])
    assert all(m.up(i) < -0.03 for i in (19, 20, 21, 22, 23, 24))
    assert m.dist(21, 22) < m.dist(21, 22, after=False) - 0.1 * m.frame.scale


def test_au1_raises_inner_brows_more_than_outer(landmarks):
    m = Motion(landmarks, [1])
    # Apex within the measured maximum voluntary brow raise (7.6-10.6 mm = 0.12-0.17 D), not above it.
    assert 0.12 <= m.up(21) <= 0.17 and 0.12 <= m.up(22) <= 0.17
    assert m.up(21) > 3 * max(m.up(17), 0.01) and m.up(22) > 3 * max(m.up(26), 0.01)


def test_au2_raises_outer_brows_more_than_inner(landmarks):
    m = Motion(landmarks, [2])
    assert 0.12 <= m.up(17) <= 0.17 and 0.12 <= m.up(26) <= 0.17
    assert m.up(17) > 3 * max(m.up(21), 0.01) and m.up(26) > 3 * max(m.up(22), 0.01)


def test_au26_lowers_the_jaw(landmarks):
    m = Motion(landmarks, [26])
    assert m.up(8) < -0.15 and m.up(7) < -0.1 and m.up(9) < -0.1
    assert abs(m.up(0)) < 1e-9 and abs(m.up(16)) < 1e-9  # the jaw hinges near the ears


def test_au25_parts_the_lips(landmarks):
    m = Motion(landmarks, [25])
    assert m.dist(62, 66) > m.dist(62, 66, after=False) + 0.08 * m.frame.scale
    # ...and with the jaw dropping too the mouth opens much wider.
    both = Motion(landmarks, [25, 26])
    assert both.dist(62, 66) > m.dist(62, 66) + 0.1 * m.frame.scale


def test_au26_alone_keeps_the_lips_together(landmarks):
    m = Motion(landmarks, [26])
    assert abs(m.dist(62, 66) - m.dist(62, 66, after=False)) < 0.01 * m.frame.scale


def test_au15_pulls_corners_down(landmarks):
    m = Motion(landmarks, [15])
    assert m.up(48) < -0.08 and m.up(54) < -0.08


def test_au6_raises_cheeks_and_lower_lids(landmarks):
    m = Motion(landmarks, [6])
    assert all(m.up(i) > 0.04 for i in (40, 41, 46, 47, *fm.CHEEK))


def test_au7_narrows_the_eyes(landmarks):
    m = Motion(landmarks, [7])
    for upper, lower in ((37, 41), (44, 46)):
        assert m.dist(upper, lower) < m.dist(upper, lower, after=False) - 0.05 * m.frame.scale


def test_au9_and_au10_raise_nose_wings_and_upper_lip(landmarks):
    m9, m10 = Motion(landmarks, [9]), Motion(landmarks, [10])
    assert m9.up(31) > 0.05 and m9.up(35) > 0.05 and m9.up(51) > 0.03
    assert m10.up(51) > 0.05 and m10.up(62) > 0.05
    assert m10.up(51) > m10.up(31)  # AU10 acts on the lip more than on the nose


def test_au17_pushes_chin_and_lower_lip_up(landmarks):
    m = Motion(landmarks, [17])
    assert m.up(8) > 0.05 and m.up(57) > 0.05


def test_au23_au24_make_lips_thinner_and_au14_wider(landmarks):
    for au in (23, 24):
        m = Motion(landmarks, [au])
        assert m.dist(51, 57) < m.dist(51, 57, after=False) - 0.03 * m.frame.scale


def test_au14_tightens_the_corners_inward_without_the_lift_of_au12(landmarks):
    m = Motion(landmarks, [14])
    assert m.dist(48, 54) < m.dist(48, 54, after=False) - 0.04 * m.frame.scale  # corners drawn in
    assert abs(m.up(48)) < 0.01 and abs(m.up(54)) < 0.01  # no lift
    smile = Motion(landmarks, [12])
    for corner in (48, 54):
        a, b = m.d[corner], smile.d[corner]
        assert a @ b / (np.linalg.norm(a) * np.linalg.norm(b)) < 0  # the two corner vectors point apart


def test_motion_is_mirror_symmetric_and_linear(landmarks):
    f = fm.face_frame(landmarks)
    # A left-right symmetric version of the real face, so lid/lip saturation is symmetric too.
    c = 0.5 * (landmarks[36:42].mean(0) + landmarks[42:48].mean(0))
    reflect = landmarks - 2 * np.outer((landmarks - c) @ f.x_axis, f.x_axis)
    sym = 0.5 * (landmarks + reflect[fm.MIRROR[:68]])
    for au in fm.MOTION_AUS:
        d = fm.displacement(sym, {au: 5}) / f.scale
        x, up = d @ f.x_axis, -(d @ f.y_axis)
        np.testing.assert_allclose(x, -x[fm.MIRROR], atol=1e-6)
        np.testing.assert_allclose(up, up[fm.MIRROR], atol=1e-6)
        if au == 45:  # a blink closes the eye: it saturates at the closure limit from low intensities on
            continue
        one, two = fm.displacement(landmarks, {au: 1}), fm.displacement(landmarks, {au: 2})
        np.testing.assert_allclose(two * fm.motion_scale(1), one * fm.motion_scale(2), atol=1e-9)
        assert np.all(fm.displacement(landmarks, {au: 0}) == 0)


def test_level_a_is_a_visible_trace():
    # A frame is labeled A from continuous intensity 0.5: its motion is already the visibility floor.
    assert fm.motion_scale(0.5) == pytest.approx(fm.VISIBILITY_FLOOR) and fm.VISIBILITY_FLOOR >= 0.3
    assert fm.motion_scale(0) == 0 and fm.motion_scale(5) == 1
    levels = np.linspace(0, 5, 101)
    scales = fm.motion_scale(levels)
    assert np.all(np.diff(scales) > 0)
    np.testing.assert_allclose(fm.intensity_of_scale(scales), levels, atol=1e-9)


def test_rendered_intensity_follows_the_limits(landmarks):
    alone = fm.motion(landmarks, {12: 3.0})
    assert alone.rendered[12] == pytest.approx(3.0)
    # Everything that closes the eyes at once: the closure limit shrinks the lid motion, and so the label.
    closing = fm.motion(landmarks, {4: 5.0, 6: 5.0, 7: 5.0, 9: 5.0})
    assert closing.rendered[7] < 4.5
    # A border taper of one half shows (about) half the motion.
    half = fm.motion(landmarks, {12: 5.0}, taper=np.full(fm.NUM_CONTROL, 0.5))
    assert half.rendered[12] == pytest.approx(fm.intensity_of_scale(0.5))


def test_lids_and_lips_saturate_instead_of_crossing(landmarks):
    m = Motion(landmarks, [4, 6, 7, 9])  # everything that closes the eyes at once
    for upper, lower in ((37, 41), (38, 40), (43, 47), (44, 46)):
        before = (m.before[lower] - m.before[upper]) @ m.frame.y_axis
        after = (m.after[lower] - m.after[upper]) @ m.frame.y_axis
        assert 0 < after < before and after >= (1 - fm.CLOSURE_MAX) * before - 1e-6


def test_crossed_inner_lips_are_closed(landmarks):
    lm = landmarks.copy()
    y = fm.face_frame(landmarks).y_axis
    mid = 0.5 * (landmarks[62] + landmarks[66])
    lm[62], lm[66] = mid + 2 * y, mid - 2 * y  # upper inner lip below the lower one
    tidy = fm.tidy_landmarks(lm)
    np.testing.assert_allclose(tidy[62], mid)
    np.testing.assert_allclose(tidy[66], mid)
    np.testing.assert_allclose(fm.tidy_landmarks(landmarks)[:60], landmarks[:60])


def test_tables_only_name_one_half_of_the_face():
    for moves in list(fm.AU_MOTION.values()) + [i.moves for i in fm.INTERACTIONS]:
        for move in moves:
            assert all(fm.SIDE[p] <= 0 for p in move.points), move


def test_unknown_au_and_bad_landmarks_are_refused(landmarks):
    with pytest.raises(ValueError, match="no motion model"):
        fm.displacement(landmarks, {5: 3})
    with pytest.raises(ValueError):
        fm.control_points(np.zeros((49, 2)))


def test_no_fold_in_the_warp_at_apex(still):
    # The motion model itself (no unfolding) keeps every triangle the right way round.
    for au in fm.MOTION_AUS:
        assert still.mesh.flipped(still.moved({au: 5}, unfold=False)) == 0, au
    for combo in ((6, 12, 25, 26), (1, 2, 25, 26), (4, 7, 9, 10), (15, 17, 24), (14, 23), (23, 24), (12, 14)):
        assert still.mesh.flipped(still.moved({a: 5 for a in combo}, unfold=False)) == 0, combo
