"""Similarity alignment of a face to a fixed 5-point template (200x200 by default).

Five points, as in JAA-Net/ADLD: the two eye centres (mean of 68-pt 36-41 and 42-47),
the nose tip (30) and the mouth corners (48, 54). Rotation and scale come from the eye
centres, so eyes are level and the inter-ocular distance equals the template's; the
translation is the least-squares fit of all five points given that rotation and scale,
so nose and mouth centre the face vertically. Borders are filled with grey 128.

The 2x3 matrix is returned so video frames can reuse an earlier frame's transform
(e.g. frame t+3 warped with frame t's matrix for optical flow).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

TEMPLATE_SIZE = 200
# (x, y) on a 200x200 face: image-left eye, image-right eye, nose tip, mouth corners 48 and 54.
TEMPLATE_5PTS = np.array(
    [[70.0, 72.0], [130.0, 72.0], [100.0, 104.0], [76.0, 132.0], [124.0, 132.0]], dtype=np.float64
)
TEMPLATE_INTEROCULAR = float(TEMPLATE_5PTS[1, 0] - TEMPLATE_5PTS[0, 0])
BORDER_VALUE = 128


@dataclass(frozen=True)
class AlignedFace:
    image: np.ndarray  # (size, size, 3) uint8 RGB
    landmarks: np.ndarray  # (68, 2) float32 in aligned pixel coordinates
    matrix: np.ndarray  # (2, 3) float64: source pixel -> aligned pixel


def five_points(landmarks: np.ndarray) -> np.ndarray:
    """(5, 2) eye centres, nose tip and mouth corners from (68, 2) landmarks."""
    pts = np.asarray(landmarks, dtype=np.float64)
    if pts.shape != (68, 2):
        raise ValueError(f"landmarks must have shape (68, 2), got {pts.shape}")
    return np.stack([pts[36:42].mean(0), pts[42:48].mean(0), pts[30], pts[48], pts[54]])


def template_points(size: int = TEMPLATE_SIZE) -> np.ndarray:
    return TEMPLATE_5PTS * (size / TEMPLATE_SIZE)


def similarity_matrix(landmarks: np.ndarray, size: int = TEMPLATE_SIZE) -> np.ndarray:
    """2x3 similarity transform mapping the face's five points onto the template."""
    src = five_points(landmarks)
    if not np.all(np.isfinite(src)):
        raise ValueError("landmarks contain NaN or inf")
    dst = template_points(size)
    v_src, v_dst = src[1] - src[0], dst[1] - dst[0]
    n_src = float(np.hypot(*v_src))
    if n_src < 1e-6:
        raise ValueError("degenerate landmarks: the eye centres coincide")
    scale = float(np.hypot(*v_dst)) / n_src
    theta = np.arctan2(v_dst[1], v_dst[0]) - np.arctan2(v_src[1], v_src[0])
    rot = scale * np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    t = dst.mean(0) - rot @ src.mean(0)
    return np.hstack([rot, t[:, None]])


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Applies a 2x3 affine matrix to (N, 2) points."""
    pts = np.asarray(points, dtype=np.float64)
    return pts @ np.asarray(matrix)[:, :2].T + np.asarray(matrix)[:, 2]


def warp_image(image: np.ndarray, matrix: np.ndarray, size: int = TEMPLATE_SIZE) -> np.ndarray:
    import cv2

    return cv2.warpAffine(
        np.ascontiguousarray(image),
        np.asarray(matrix, dtype=np.float64),
        (size, size),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(BORDER_VALUE,) * 3,
    )


def align_face(
    image: np.ndarray,
    landmarks: np.ndarray,
    size: int = TEMPLATE_SIZE,
    matrix: Optional[np.ndarray] = None,
) -> AlignedFace:
    """Aligned RGB face, its transformed landmarks and the matrix used.

    Pass ``matrix`` to reuse a transform (the landmarks are then only transformed).
    """
    m = similarity_matrix(landmarks, size) if matrix is None else np.asarray(matrix, dtype=np.float64)
    if m.shape != (2, 3):
        raise ValueError(f"matrix must be 2x3, got {m.shape}")
    aligned = warp_image(image, m, size)
    return AlignedFace(image=aligned, landmarks=transform_points(landmarks, m).astype(np.float32), matrix=m)


def eye_angle_degrees(landmarks: np.ndarray) -> float:
    """Angle of the line between the eye centres (0 = level)."""
    p = five_points(landmarks)
    d = p[1] - p[0]
    return float(np.degrees(np.arctan2(d[1], d[0])))


def interocular_distance(landmarks: np.ndarray) -> float:
    """Distance between the eye centres."""
    p = five_points(landmarks)
    return float(np.hypot(*(p[1] - p[0])))
