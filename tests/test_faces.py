"""Detection + landmarks on real faces shipped by packages, and every kind of bad input."""

import numpy as np
import pytest

from keras_au.geometry import ImageError, decode_image, load_image


def _inside(points, box, margin=0.15):
    x0, y0, x1, y1 = box
    mx, my = margin * (x1 - x0), margin * (y1 - y0)
    return np.all((points[:, 0] > x0 - mx) & (points[:, 0] < x1 + mx) & (points[:, 1] > y0 - my) & (points[:, 1] < y1 + my))


def test_landmarks_found_on_real_faces(real_face, detector):
    det = detector.detect(real_face)
    assert det.found and det.reason is None
    face = det.largest
    assert face.landmarks.shape == (68, 2)
    assert _inside(face.landmarks, face.box)
    lm = face.landmarks
    # anatomy: eyes above the nose tip above the mouth, left eye left of the right eye
    assert lm[36:42, 1].mean() < lm[30, 1] < lm[48:68, 1].mean()
    assert lm[36:42, 0].mean() < lm[42:48, 0].mean()


def test_grey_bgr_rgba_16bit_float_inputs_agree(astronaut, detector):
    ref = detector.detect(astronaut).largest.landmarks
    variants = {
        "bgr": (astronaut[:, :, ::-1].copy(), "bgr"),
        "rgba": (np.dstack([astronaut, np.full(astronaut.shape[:2], 255, np.uint8)]), "rgb"),
        "16bit": (astronaut.astype(np.uint16) * 257, "rgb"),
        "float": (astronaut.astype(np.float32) / 255.0, "rgb"),
    }
    for name, (img, order) in variants.items():
        lm = detector.detect(img, channel_order=order).largest.landmarks
        assert np.abs(lm - ref).max() <= 2.0, name
    grey = (astronaut @ np.array([0.299, 0.587, 0.114])).astype(np.uint8)
    lm = detector.detect(grey).largest.landmarks
    assert np.abs(lm - ref).mean() < 4.0


def test_huge_image_is_detected_on_a_downscaled_copy(astronaut, detector):
    import cv2

    huge = cv2.resize(astronaut, (4096, 4096), interpolation=cv2.INTER_LINEAR)
    det = detector.detect(huge)
    assert det.found and det.image_size == (4096, 4096)
    ref = detector.detect(astronaut).largest.landmarks * 8.0
    assert np.abs(det.largest.landmarks - ref).mean() < 8.0 * 3


def test_no_face_is_a_typed_result(detector):
    flat = np.full((240, 320, 3), 128, np.uint8)
    det = detector.detect(flat)
    assert not det.found and det.largest is None and det.reason == "no_face"
    noise = np.random.default_rng(0).integers(0, 256, (300, 300, 3), dtype=np.uint8)
    assert not detector.detect(noise).found


def test_all_faces_on_request(astronaut, grace_hopper, detector):
    import cv2

    h = 400
    a = cv2.resize(astronaut, (h, h))
    g = cv2.resize(grace_hopper, (int(grace_hopper.shape[1] * h / grace_hopper.shape[0]), h))
    both = np.hstack([a, g])
    assert len(detector.detect(both, all_faces=True).faces) == 2
    assert len(detector.detect(both).faces) == 1


@pytest.mark.parametrize(
    "bad, reason",
    [
        (np.zeros((0, 0, 3), np.uint8), "empty"),
        (np.zeros((10, 10, 5), np.uint8), "bad_image"),
        (np.full((8, 8, 3), np.nan, np.float32), "bad_image"),
        (None, "unreadable"),
    ],
)
def test_bad_arrays_raise_image_error(bad, reason, detector):
    with pytest.raises(ImageError) as e:
        detector.detect(bad)
    assert e.value.reason == reason


def test_bad_files(tmp_path, astronaut):
    import cv2

    (tmp_path / "text.jpg").write_text("this is not a picture")
    (tmp_path / "empty.png").write_bytes(b"")
    ok, buf = cv2.imencode(".png", astronaut)
    (tmp_path / "truncated.png").write_bytes(buf.tobytes()[:200])
    for name, reason in [("text.jpg", "undecodable"), ("empty.png", "empty"), ("truncated.png", "undecodable"), ("missing.jpg", "missing")]:
        with pytest.raises(ImageError) as e:
            load_image(tmp_path / name)
        assert e.value.reason == reason, name
        assert name in str(e.value)
    with pytest.raises(ImageError):
        load_image(tmp_path)


def test_decodes_grey_rgba_and_16bit_files(tmp_path, astronaut):
    import cv2

    grey16 = (cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY).astype(np.uint16) * 257)
    cv2.imwrite(str(tmp_path / "g16.png"), grey16)
    rgba = cv2.cvtColor(astronaut, cv2.COLOR_RGB2BGRA)
    cv2.imwrite(str(tmp_path / "rgba.png"), rgba)
    g = load_image(tmp_path / "g16.png")
    assert g.shape == astronaut.shape and g.dtype == np.uint8
    np.testing.assert_array_equal(load_image(tmp_path / "rgba.png"), astronaut)
    with pytest.raises(ImageError):
        decode_image(b"\x89PNG\r\n\x1a\n" + b"\x00" * 50)


def test_detector_pickles_for_beam(detector, astronaut):
    import pickle

    detector.detect(astronaut)
    clone = pickle.loads(pickle.dumps(detector))
    assert clone.detect(astronaut).found


def test_landmarks_in_a_known_box(astronaut, detector):
    face = detector.detect(astronaut).largest
    np.testing.assert_allclose(detector.landmarks(astronaut, face.box), face.landmarks, atol=1.0)


def test_upsample_on_miss_searches_small_images_as_they_are_first(astronaut, detector):
    """Preprocessing's detector: a face of >= 80 px in a small image is found without the upsampled pass,
    a smaller one only through it, and both land where the always-upsampling detector puts them."""
    import cv2

    from keras_au.geometry import FaceDetector

    calls = []

    class Counting:  # records the upsample argument of every dlib call
        def __init__(self, inner):
            self.inner = inner

        def run(self, image, upsample, threshold):
            calls.append(upsample)
            return self.inner.run(image, upsample, threshold)

    x0, y0, x1, y1 = detector.detect(astronaut).largest.box
    cx, cy, half = (x0 + x1) / 2, (y0 + y1) / 2, 1.25 * max(x1 - x0, y1 - y0)
    crop = astronaut[int(max(0, cy - half)):int(cy + half), int(max(0, cx - half)):int(cx + half)]
    on_miss = FaceDetector(upsample_on_miss=True)
    on_miss._load()
    on_miss._detector = Counting(on_miss._detector)
    for side, expected in ((250, [0]), (120, [0, 1])):  # the face is ~100 px, then ~48 px wide
        small = cv2.resize(crop, (side, side), interpolation=cv2.INTER_AREA)
        calls.clear()
        det, ref = on_miss.detect(small), detector.detect(small)
        assert det.found and ref.found, side
        assert calls == expected, (side, calls)
        assert np.abs(det.largest.landmarks - ref.largest.landmarks).mean() < 0.03 * side
