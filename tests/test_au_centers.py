import numpy as np
import pytest

from keras_au.geometry import AU_CENTER_TABLE, au_centers


@pytest.fixture
def landmarks():
    # Distinct, hand-made points: landmark i sits at (10 * i, 1000 + i); x39 and x42 set so r = 40.
    pts = np.stack([10.0 * np.arange(68), 1000.0 + np.arange(68)], axis=1)
    pts[39, 0], pts[42, 0] = 300.0, 340.0
    return pts


def test_table_values(landmarks):
    c = au_centers(landmarks, [1, 2, 4, 6, 7, 9, 26])
    assert c.shape == (7, 2, 2)
    # AU1: landmarks 21, 22 shifted up by r/2 = 20
    np.testing.assert_allclose(c[0], [[210, 1021 - 20], [220, 1022 - 20]])
    # AU2: 18, 25, up by r/3
    np.testing.assert_allclose(c[1], [[180, 1018 - 40 / 3], [250, 1025 - 40 / 3]])
    # AU4: 19, 24 down by r/3
    np.testing.assert_allclose(c[2], [[190, 1019 + 40 / 3], [240, 1024 + 40 / 3]])
    # AU6: 41, 46 down by r
    np.testing.assert_allclose(c[3], [[410, 1041 + 40], [460, 1046 + 40]])
    # AU7: 38, 43, no shift
    np.testing.assert_allclose(c[4], [[380, 1038], [430, 1043]])
    # AU9: 32, 34 up by r/2
    np.testing.assert_allclose(c[5], [[320, 1032 - 20], [340, 1034 - 20]])
    # AU26: 56, 58 down by r/2
    np.testing.assert_allclose(c[6], [[560, 1056 + 20], [580, 1058 + 20]])


def test_shared_pairs_and_order(landmarks):
    c = au_centers(landmarks, [24, 12, 14, 15, 23, 25, 10, 17])
    np.testing.assert_allclose(c[0], [[510, 1051], [570, 1057]])  # AU24: 51, 57
    for i in (1, 2, 3):  # AU12/14/15: 48, 54
        np.testing.assert_allclose(c[i], [[480, 1048], [540, 1054]])
    np.testing.assert_allclose(c[4], c[0])
    np.testing.assert_allclose(c[5], c[0])
    np.testing.assert_allclose(c[6], [[610, 1061], [630, 1063]])  # AU10: 61, 63
    np.testing.assert_allclose(c[7], [[560, 1056 + 20], [580, 1058 + 20]])  # AU17


def test_r_uses_absolute_difference(landmarks):
    swapped = landmarks.copy()
    swapped[39, 0], swapped[42, 0] = 340.0, 300.0
    np.testing.assert_allclose(au_centers(swapped, [1]), au_centers(landmarks, [1]))


def test_covers_all_table_aus(landmarks):
    assert sorted(AU_CENTER_TABLE) == [1, 2, 4, 6, 7, 9, 10, 12, 14, 15, 17, 23, 24, 25, 26]
    assert au_centers(landmarks, sorted(AU_CENTER_TABLE)).shape == (15, 2, 2)


def test_bad_input(landmarks):
    with pytest.raises(ValueError, match=r"\(68, 2\)"):
        au_centers(landmarks[:49], [1])
    with pytest.raises(ValueError, match="AU"):
        au_centers(landmarks, [5])
    bad = landmarks.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        au_centers(bad, [1])
