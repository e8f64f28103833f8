"""AU RoIs from landmarks, in TF ops: centres, bilinear crops of feature maps, box overlaps.

The centre rule is ``keras_au.geometry.au_centers`` (JAA-Net table ``AU_CENTER_TABLE``) written with
batched tensor ops so it runs inside the model (and under XLA). Coordinates are pixel positions in the
model's image frame where pixel i's centre is at i; a map of stride s has cell j centred at pixel
``s*j + (s-1)/2``, so the conversion ``f = (p + 0.5) / s - 0.5`` is exactly mirror-symmetric: a
horizontally flipped image with mirrored landmarks yields mirrored crops.

Token order everywhere: ``[AU0 first, AU0 second, AU1 first, ...]`` (first = the pair's first landmark,
on the image left for an aligned face; the input pipeline keeps that true under flips).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import tensorflow as tf

from keras_au.geometry.au_centers import AU_CENTER_TABLE

NUM_LANDMARKS = 68


def au_center_spec(aus: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Landmark index pairs (A, 2) and y shifts in units of r (A,) from ``AU_CENTER_TABLE``."""
    unknown = [a for a in aus if int(a) not in AU_CENTER_TABLE]
    if unknown:
        raise ValueError(f"no AU centre rule for AU(s) {unknown}; known: {sorted(AU_CENTER_TABLE)}")
    pairs = np.array([AU_CENTER_TABLE[int(a)][:2] for a in aus], np.int32)
    shifts = np.array([AU_CENTER_TABLE[int(a)][2] for a in aus], np.float32)
    return pairs, shifts


def au_centers_tf(landmarks: tf.Tensor, pairs: np.ndarray, shifts: np.ndarray) -> tf.Tensor:
    """(B, 68, 2) landmarks -> (B, A, 2, 2) centres (same rule as ``keras_au.geometry.au_centers``)."""
    lm = tf.convert_to_tensor(landmarks)
    r = tf.abs(lm[:, 39, 0] - lm[:, 42, 0])  # inner eye-corner distance
    pts = tf.gather(lm, pairs.reshape(-1), axis=1)  # (B, 2A, 2)
    pts = tf.reshape(pts, (-1, len(pairs), 2, 2))
    dy = shifts.astype(np.float32)[None, :, None] * r[:, None, None]  # (B, A, 1)
    return tf.stack([pts[..., 0], pts[..., 1] + tf.cast(dy, lm.dtype)], axis=-1)


def sanitize_landmarks(landmarks: tf.Tensor, mean_landmarks: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Replaces missing landmarks (non-finite or all zero, as the input pipeline writes them) with the
    mean shape. Returns (landmarks, valid (B,) float32)."""
    lm = tf.convert_to_tensor(landmarks, tf.float32)
    finite = tf.reduce_all(tf.math.is_finite(lm), axis=[1, 2])
    nonzero = tf.reduce_any(tf.abs(tf.where(tf.math.is_finite(lm), lm, 0.0)) > 0, axis=[1, 2])
    valid = tf.logical_and(finite, nonzero)
    mean = tf.broadcast_to(tf.cast(mean_landmarks, tf.float32)[None], tf.shape(lm))
    return tf.where(valid[:, None, None], lm, mean), tf.cast(valid, tf.float32)


def to_map_coords(points: tf.Tensor, stride: int) -> tf.Tensor:
    """Image pixel coordinates -> feature-map cell coordinates of a stride-``stride`` map."""
    return (points + 0.5) / float(stride) - 0.5


def crop_bilinear(feature: tf.Tensor, centers: tf.Tensor, size: int) -> tf.Tensor:
    """Bilinear ``size`` x ``size`` crops, one per centre, with zeros outside the map.

    feature (B, H, W, C); centers (B, N, 2) as (x, y) in map cells -> (B, N, size, size, C).
    Sample points are one cell apart, centred on the centre (even sizes straddle it).
    """
    shape = tf.shape(feature)
    b, h, w, c = shape[0], shape[1], shape[2], feature.shape[-1]
    n = tf.shape(centers)[1]
    offs = tf.range(size, dtype=tf.float32) - (size - 1) / 2.0
    cx = tf.cast(centers[..., 0], tf.float32)[:, :, None, None] + offs[None, None, None, :]  # (B,N,1,k)
    cy = tf.cast(centers[..., 1], tf.float32)[:, :, None, None] + offs[None, None, :, None]  # (B,N,k,1)
    cx = tf.broadcast_to(cx, (b, n, size, size))
    cy = tf.broadcast_to(cy, (b, n, size, size))
    x0, y0 = tf.floor(cx), tf.floor(cy)
    wx, wy = cx - x0, cy - y0
    flat = tf.reshape(feature, (b, h * w, c))
    hf, wf = tf.cast(h, tf.float32), tf.cast(w, tf.float32)
    out = 0.0
    for dy, ky in ((0.0, 1.0 - wy), (1.0, wy)):
        for dx, kx in ((0.0, 1.0 - wx), (1.0, wx)):
            xi, yi = x0 + dx, y0 + dy
            inside = (xi >= 0) & (xi <= wf - 1) & (yi >= 0) & (yi <= hf - 1)
            idx = tf.cast(tf.clip_by_value(yi, 0, hf - 1) * wf + tf.clip_by_value(xi, 0, wf - 1), tf.int32)
            vals = tf.gather(flat, tf.reshape(idx, (b, -1)), batch_dims=1)  # (B, N*k*k, C)
            weight = tf.reshape(tf.where(inside, kx * ky, 0.0), (b, -1, 1))
            out = out + vals * tf.cast(weight, feature.dtype)
    return tf.reshape(out, (b, n, size, size, c))


def box_mask(centers: tf.Tensor, half: float, size: int) -> tf.Tensor:
    """(B, N, 2) centres -> (B, size, size, 1) float mask of pixels within ``half`` (Chebyshev) of any centre."""
    grid = tf.range(size, dtype=tf.float32)
    cx = tf.cast(centers[..., 0], tf.float32)[:, :, None]
    cy = tf.cast(centers[..., 1], tf.float32)[:, :, None]
    in_x = tf.abs(grid[None, None, :] - cx) <= half  # (B, N, W)
    in_y = tf.abs(grid[None, None, :] - cy) <= half  # (B, N, H)
    inside = tf.logical_and(in_y[:, :, :, None], in_x[:, :, None, :])  # (B, N, H, W)
    return tf.cast(tf.reduce_any(inside, axis=1), tf.float32)[..., None]


def _overlap_1d(a0, a1, b0, b1):
    return tf.maximum(tf.minimum(a1, b1) - tf.maximum(a0, b0), 0.0)


def blanked_fraction(boxes: tf.Tensor, box_half: float, blanks: tf.Tensor, blank_half: float) -> tf.Tensor:
    """Share of each square box covered by the union of two blank squares.

    boxes (B, M, 2) centres of squares with half-side ``box_half``; blanks (B, 2, 2) centres of the two
    blanked squares with half-side ``blank_half`` -> (B, M) in [0, 1].
    """
    bx, by = boxes[..., 0][..., None], boxes[..., 1][..., None]  # (B, M, 1)
    sx, sy = blanks[..., 0][:, None, :], blanks[..., 1][:, None, :]  # (B, 1, 2)
    ox = _overlap_1d(bx - box_half, bx + box_half, sx - blank_half, sx + blank_half)  # (B, M, 2)
    oy = _overlap_1d(by - box_half, by + box_half, sy - blank_half, sy + blank_half)
    single = ox * oy
    # box ∩ blank0 ∩ blank1 is a rectangle too: subtract it once (inclusion-exclusion).
    lo_x = tf.maximum(bx[..., 0] - box_half, tf.reduce_max(sx, -1) - blank_half)
    hi_x = tf.minimum(bx[..., 0] + box_half, tf.reduce_min(sx, -1) + blank_half)
    lo_y = tf.maximum(by[..., 0] - box_half, tf.reduce_max(sy, -1) - blank_half)
    hi_y = tf.minimum(by[..., 0] + box_half, tf.reduce_min(sy, -1) + blank_half)
    both = tf.maximum(hi_x - lo_x, 0.0) * tf.maximum(hi_y - lo_y, 0.0)
    return (tf.reduce_sum(single, -1) - both) / (2.0 * box_half) ** 2
