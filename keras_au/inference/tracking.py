"""Face tracking for video: detect every K frames, fit landmarks in between.

dlib's HOG detector is the expensive step (tens of ms per frame); its 68-point shape predictor is
~2 ms. Between detections each face's box is predicted from its previous landmarks and only the
landmarks are refitted. The box is computed with the same offset from the landmark extent that the
last real detection had, so the predictor sees detector-like boxes and does not drift in scale.

A track is lost, and the frame is detected again at once, when the refitted face no longer looks
like the face at the last detection (normalised cross-correlation of small aligned grey patches
below ``min_similarity``: the face left, a scene cut), its size jumps, or its box leaves the frame.
That keeps faceless stretches from inheriting a stale face between two scheduled detections.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from keras_au.geometry import FaceDetector
from keras_au.geometry.alignment import interocular_distance, similarity_matrix

PATCH = 48  # side of the grey aligned patch used to tell "same face" from "something else"


@dataclass
class TrackedFace:
    """One face in one frame."""

    face_id: int
    box: tuple[float, float, float, float]
    confidence: float  # dlib detector score at the track's last detection
    landmarks: np.ndarray  # (68, 2) in frame pixels
    detected: bool  # True when found by the detector in this frame, False when tracked


@dataclass
class _Track:
    face_id: int
    landmarks: np.ndarray
    confidence: float
    box_offset: np.ndarray  # detector box minus landmark extent, in units of the extent's width/height
    patch: np.ndarray
    scale: float


def _extent(landmarks: np.ndarray) -> np.ndarray:
    return np.concatenate([landmarks.min(0), landmarks.max(0)]).astype(np.float64)


def _wh(ext: np.ndarray) -> np.ndarray:
    size = np.maximum(ext[2:] - ext[:2], 1.0)
    return np.concatenate([size, size])


def _patch(grey: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    import cv2

    m = similarity_matrix(landmarks, PATCH)
    p = cv2.warpAffine(grey, m, (PATCH, PATCH), flags=cv2.INTER_LINEAR, borderValue=128).astype(np.float32)
    p -= p.mean()
    return p / (np.linalg.norm(p) + 1e-6)


def _grey(rgb: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def _iou(a, b) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@dataclass
class FaceTracker:
    """Detect-every-K tracker over RGB frames of one video (call ``update`` frame by frame)."""

    detector: FaceDetector = field(default_factory=FaceDetector)
    detect_every: int = 10
    all_faces: bool = False
    min_similarity: float = 0.5
    max_scale_change: float = 0.25
    detections: int = 0  # frames on which the detector ran (for reporting)
    _tracks: list = field(default_factory=list, repr=False)
    _since_detect: int = field(default=0, repr=False)
    _next_id: int = field(default=0, repr=False)
    _last_boxes: dict = field(default_factory=dict, repr=False)

    def update(self, rgb: np.ndarray) -> list[TrackedFace]:
        """Faces in this frame (empty when there is none)."""
        self._since_detect += 1
        if not self._tracks or self._since_detect >= self.detect_every:
            return self._detect(rgb)
        grey = _grey(rgb)
        h, w = rgb.shape[:2]
        out = []
        for t in self._tracks:
            ext = _extent(t.landmarks)
            box = ext + t.box_offset * _wh(ext)
            inside = (min(box[2], w) - max(box[0], 0)) * (min(box[3], h) - max(box[1], 0))
            if inside < 0.5 * (box[2] - box[0]) * (box[3] - box[1]):
                return self._detect(rgb, grey)
            lm = self.detector.landmarks(rgb, tuple(box))
            try:
                scale = interocular_distance(lm)
                similar = float(np.sum(_patch(grey, lm) * t.patch)) >= self.min_similarity
            except ValueError:  # degenerate landmarks
                return self._detect(rgb, grey)
            if not similar or abs(scale / t.scale - 1.0) > self.max_scale_change:
                return self._detect(rgb, grey)
            t.landmarks = lm
            out.append(TrackedFace(t.face_id, tuple(float(v) for v in box), t.confidence, lm, False))
        return out

    def _detect(self, rgb: np.ndarray, grey: Optional[np.ndarray] = None) -> list[TrackedFace]:
        self._since_detect = 0
        self.detections += 1
        grey = _grey(rgb) if grey is None else grey
        detection = self.detector.detect(rgb, all_faces=self.all_faces)
        tracks, out, used = [], [], set()
        for face in detection.faces:
            face_id = self._match(face.box, used)
            used.add(face_id)
            ext = _extent(face.landmarks)
            try:
                track = _Track(face_id, face.landmarks, face.confidence,
                               (np.asarray(face.box, np.float64) - ext) / _wh(ext),
                               _patch(grey, face.landmarks), interocular_distance(face.landmarks))
            except ValueError:
                continue
            tracks.append(track)
            self._last_boxes[face_id] = face.box
            out.append(TrackedFace(face_id, face.box, face.confidence, face.landmarks, True))
        self._tracks = tracks
        return out

    def _match(self, box, used: set) -> int:
        """Single-face mode: always 0. Otherwise the id of the best-overlapping earlier face, or a new id."""
        if not self.all_faces:
            return 0
        best, best_iou = None, 0.3
        for face_id, prev in self._last_boxes.items():
            iou = _iou(box, prev)
            if face_id not in used and iou > best_iou:
                best, best_iou = face_id, iou
        if best is None:
            best, self._next_id = self._next_id, self._next_id + 1
        return best
