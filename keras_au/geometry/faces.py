"""Face detection and 68-point landmarks with dlib.

Input may be RGB, BGR or grey, uint8/uint16/float; it is normalised first, so bad
arrays raise ``ImageError`` instead of failing inside dlib. "No face" is a normal
result (``Detection.found`` is False), not an exception.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from keras_au.geometry.images import ChannelOrder, ImageError, to_rgb_uint8

LANDMARK_MODEL_FILE = "shape_predictor_68_face_landmarks.dat"


def find_landmark_model() -> str:
    """Path of dlib's 68-point model shipped by ``face-recognition-models``.

    Located with importlib (no import: the package's ``__init__`` needs pkg_resources,
    which recent setuptools dropped). ``KERAS_AU_LANDMARK_MODEL`` overrides it.
    """
    override = os.environ.get("KERAS_AU_LANDMARK_MODEL")
    if override:
        if not os.path.isfile(override):
            raise FileNotFoundError(f"KERAS_AU_LANDMARK_MODEL={override} does not exist")
        return override
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "dlib's 68-point landmark model was not found: install `face-recognition-models` "
            "(make setup does) or set KERAS_AU_LANDMARK_MODEL to a shape_predictor_68_face_landmarks.dat"
        )
    for base in spec.submodule_search_locations:
        path = os.path.join(base, "models", LANDMARK_MODEL_FILE)
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(f"{LANDMARK_MODEL_FILE} missing from face_recognition_models at {spec.origin}")


@dataclass(frozen=True)
class Face:
    """One detected face: box (x0, y0, x1, y1), detector score and (68, 2) landmarks (x, y)."""

    box: tuple[float, float, float, float]
    confidence: float
    landmarks: np.ndarray

    @property
    def area(self) -> float:
        x0, y0, x1, y1 = self.box
        return max(0.0, x1 - x0) * max(0.0, y1 - y0)


@dataclass(frozen=True)
class Detection:
    """Faces found in one image, largest first; empty with ``reason`` when there is none."""

    faces: tuple[Face, ...]
    image_size: tuple[int, int]  # (height, width)
    reason: Optional[str] = None

    @property
    def found(self) -> bool:
        return bool(self.faces)

    @property
    def largest(self) -> Optional[Face]:
        return self.faces[0] if self.faces else None


@dataclass
class FaceDetector:
    """dlib HOG frontal detector + 68-point shape predictor.

    Picklable (dlib objects are built lazily per process), so Beam workers can carry it.
    Images larger than ``max_detect_side`` are detected on a downscaled copy; landmarks are
    always fitted on the full-resolution image. Small images are upsampled once for the
    detector so faces of ~40 px are still found. Detections scoring below ``min_confidence``
    (dlib's SVM margin) are dropped: at 0 the HOG detector reports textures as faces.
    With ``upsample_on_miss`` a small image is first searched as it is (dlib's HOG window finds faces
    of >= 80 px there, at a quarter of the upsampled cost) and upsampled only when that finds none:
    what preprocessing uses, since it keeps the largest face; small faces beside a large one are
    then not reported.
    """

    max_detect_side: int = 1024
    min_face_size: int = 24
    min_confidence: float = 0.2
    upsample_below: int = 400
    upsample_on_miss: bool = False
    model_path: Optional[str] = None
    _detector: object = field(default=None, init=False, repr=False, compare=False)
    _predictor: object = field(default=None, init=False, repr=False, compare=False)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_detector"] = state["_predictor"] = None
        return state

    def _load(self) -> None:
        if self._detector is None:
            import dlib

            self._detector = dlib.get_frontal_face_detector()
            self._predictor = dlib.shape_predictor(self.model_path or find_landmark_model())

    def detect(
        self, image: np.ndarray, all_faces: bool = False, channel_order: ChannelOrder = "rgb"
    ) -> Detection:
        """Faces with landmarks; only the largest unless ``all_faces``."""
        rgb = to_rgb_uint8(image, channel_order)
        self._load()
        h, w = rgb.shape[:2]
        scale = min(1.0, self.max_detect_side / max(h, w))
        small = rgb if scale == 1.0 else _resize(rgb, scale)
        upsample = 1 if max(small.shape[:2]) < self.upsample_below else 0
        rects, scores = [], []
        if upsample and self.upsample_on_miss:
            rects, scores, _ = self._detector.run(small, 0, self.min_confidence)
        if not len(rects):
            rects, scores, _ = self._detector.run(small, upsample, self.min_confidence)
        faces = []
        for rect, score in zip(rects, scores):
            box = (rect.left() / scale, rect.top() / scale, rect.right() / scale, rect.bottom() / scale)
            if min(box[2] - box[0], box[3] - box[1]) < self.min_face_size:
                continue
            faces.append(Face(box=box, confidence=float(score), landmarks=self._fit(rgb, box)))
        faces.sort(key=lambda f: f.area, reverse=True)
        if not faces:
            return Detection(faces=(), image_size=(h, w), reason="no_face")
        return Detection(faces=tuple(faces if all_faces else faces[:1]), image_size=(h, w))

    def landmarks(
        self, image: np.ndarray, box: tuple[float, float, float, float], channel_order: ChannelOrder = "rgb"
    ) -> np.ndarray:
        """68 landmarks inside a known box (e.g. the previous video frame's), without detection."""
        rgb = to_rgb_uint8(image, channel_order)
        self._load()
        return self._fit(rgb, box)

    def _fit(self, rgb: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
        import dlib

        rect = dlib.rectangle(*(int(round(v)) for v in box))
        shape = self._predictor(rgb, rect)
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)


def _resize(rgb: np.ndarray, scale: float) -> np.ndarray:
    import cv2

    h, w = rgb.shape[:2]
    size = (max(1, int(round(w * scale))), max(1, int(round(h * scale))))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


__all__ = ["Face", "Detection", "FaceDetector", "ImageError", "find_landmark_model"]
