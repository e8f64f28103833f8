"""Similarity alignment on real faces: eyes level, template inter-ocular distance, consistent landmarks."""

import numpy as np
import pytest

from keras_au.geometry import align_face, similarity_matrix, transform_points
from keras_au.geometry.alignment import (
    TEMPLATE_INTEROCULAR,
    TEMPLATE_SIZE,
    eye_angle_degrees,
    interocular_distance,
    template_points,
)


@pytest.fixture(scope="module")
def aligned_pairs(astronaut, grace_hopper, detector):
    out = []
    for img in (astronaut, grace_hopper):
        lm = detector.detect(img).largest.landmarks
        out.append((img, lm, align_face(img, lm)))
    return out


def test_output_size_and_matrix(aligned_pairs):
    for _, _, a in aligned_pairs:
        assert a.image.shape == (TEMPLATE_SIZE, TEMPLATE_SIZE, 3) and a.image.dtype == np.uint8
        assert a.matrix.shape == (2, 3)
        assert a.landmarks.shape == (68, 2)


def test_eyes_level_and_interocular_distance(aligned_pairs):
    for img, lm, a in aligned_pairs:
        assert abs(eye_angle_degrees(lm)) > 0.0  # the raw faces are not already level
        assert abs(eye_angle_degrees(a.landmarks)) < 1.0
        assert interocular_distance(a.landmarks) == pytest.approx(TEMPLATE_INTEROCULAR, abs=2.0)


def test_landmarks_transformed_consistently_with_the_image(aligned_pairs, detector):
    # Re-detecting on the aligned image must find the transformed landmarks again.
    for _, _, a in aligned_pairs:
        det = detector.detect(a.image)
        assert det.found
        err = np.linalg.norm(det.largest.landmarks - a.landmarks, axis=1)
        assert np.median(err) < 3.0, np.median(err)


def test_matrix_reuse_for_video_frames(aligned_pairs):
    img, lm, a = aligned_pairs[0]
    again = align_face(img, lm + 3.0, matrix=a.matrix)
    np.testing.assert_array_equal(again.image, a.image)
    np.testing.assert_allclose(again.landmarks, transform_points(lm + 3.0, a.matrix), atol=1e-4)


def test_template_maps_onto_itself_and_scales_with_size():
    tpl = np.zeros((68, 2))
    pts = template_points(100)
    tpl[36:42], tpl[42:48], tpl[30], tpl[48], tpl[54] = pts[0], pts[1], pts[2], pts[3], pts[4]
    m = similarity_matrix(tpl, size=100)
    np.testing.assert_allclose(m, [[1, 0, 0], [0, 1, 0]], atol=1e-9)


def test_border_is_grey_and_degenerate_landmarks_raise(aligned_pairs):
    img, lm, _ = aligned_pairs[1]
    far = align_face(img, lm + 10000.0)  # the face lies far outside the image
    assert np.all(far.image == 128)
    with pytest.raises(ValueError, match="degenerate"):
        align_face(img, np.zeros((68, 2)))
