"""Piecewise-affine image warp over a Delaunay mesh with a fixed ring of border points.

The mesh is built once on the neutral points (plus fixed points: a ring on the image border
and any extra fixed points the caller adds, e.g. an ellipse around the face), and reused for
every frame, so triangle topology never changes. For a frame, each triangle's affine map from
its moved position back to its neutral position is solved in one batched NumPy call, the
moved triangles are rasterised into a triangle-index map, and a single ``cv2.remap`` pulls
the pixels. Pixels outside every moved triangle (and triangles whose three corners did not
move) use the fall-back map, which is the identity unless an output/source transform is given.
Because border points never move, the image border is never torn.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

_SHIFT = 4  # sub-pixel bits for triangle rasterisation


def border_ring(width: int, height: int, per_side: int = 4) -> np.ndarray:
    """Points on the pixel-centre border of a width x height image, corners included."""
    xs = np.linspace(0.0, width - 1.0, per_side + 1)
    ys = np.linspace(0.0, height - 1.0, per_side + 1)
    top = np.stack([xs, np.zeros_like(xs)], 1)
    bottom = np.stack([xs, np.full_like(xs, height - 1.0)], 1)
    left = np.stack([np.zeros_like(ys[1:-1]), ys[1:-1]], 1)
    right = np.stack([np.full_like(ys[1:-1], width - 1.0), ys[1:-1]], 1)
    return np.concatenate([top, bottom, left, right])


class PiecewiseAffineWarp:
    """Warps an image so that ``points`` move to new positions; fixed points stay put.

    Args:
        points: (N, 2) neutral control points (x, y) in the mesh frame.
        size: (width, height) of the mesh frame; its border gets a fixed ring of points.
        fixed: optional (M, 2) extra fixed points (e.g. a ring around the face).
        ring_per_side: border points per side (corners included).
    Points closer than ``min_spacing`` pixels to an earlier point are dropped from the mesh
    (they would make degenerate triangles); their motion then follows their neighbours.
    """

    def __init__(
        self,
        points: np.ndarray,
        size: tuple[int, int],
        fixed: Optional[np.ndarray] = None,
        ring_per_side: int = 4,
        min_spacing: float = 1.5,
    ):
        from scipy.spatial import Delaunay

        pts = np.asarray(points, dtype=np.float64)
        if pts.ndim != 2 or pts.shape[1] != 2 or not np.all(np.isfinite(pts)):
            raise ValueError(f"points must be a finite (N, 2) array, got shape {pts.shape}")
        w, h = int(size[0]), int(size[1])
        self.size = (w, h)
        self.num_control = len(pts)
        extra = [border_ring(w, h, ring_per_side)]
        if fixed is not None and len(fixed):
            f = np.asarray(fixed, dtype=np.float64)
            inside = (f[:, 0] > 1) & (f[:, 0] < w - 2) & (f[:, 1] > 1) & (f[:, 1] < h - 2)
            extra.insert(0, f[inside])
        self.fixed = np.concatenate(extra)
        all_pts = np.concatenate([pts, self.fixed])
        keep = _spaced(all_pts, min_spacing)
        self.vertex_ids = np.flatnonzero(keep)  # indices into [controls, fixed]
        self.neutral = all_pts[keep]
        self.triangles = Delaunay(self.neutral).simplices.astype(np.int64)

    def mesh_points(self, moved: np.ndarray) -> np.ndarray:
        """Mesh vertices for moved control points (fixed points unchanged)."""
        moved = np.asarray(moved, dtype=np.float64)
        if moved.shape != (self.num_control, 2):
            raise ValueError(f"moved must have shape ({self.num_control}, 2), got {moved.shape}")
        return np.concatenate([moved, self.fixed])[self.vertex_ids]

    def flipped(self, moved: np.ndarray) -> int:
        """Number of triangles whose orientation flips (a fold in the warp)."""
        return len(self._flipped_triangles(moved))

    def unfold(self, moved: np.ndarray, iterations: int = 30) -> tuple[np.ndarray, bool]:
        """Moved control points without folds, and whether any had to be removed.

        Each control vertex of a flipped triangle takes the mean displacement of that triangle's
        corners (fixed corners count as zero), repeated until nothing is flipped: slivers move
        rigidly instead of turning inside out, triangles that are fine are left alone. Should
        that not converge, the whole motion is halved until it has no fold.
        """
        moved = np.array(moved, dtype=np.float64)
        base = moved.copy()
        changed = False
        for _ in range(iterations):
            bad = self._flipped_triangles(moved)
            if not len(bad):
                return moved, changed
            changed = True
            disp = self.mesh_points(moved) - self.neutral
            for tri in bad:
                mean = disp[tri].mean(axis=0)
                for v in tri:
                    c = self.vertex_ids[v]
                    if c < self.num_control:
                        moved[c] = self.neutral[v] + mean
        neutral = self.neutral_controls(base)
        shrink = 1.0
        while len(self._flipped_triangles(moved)) and shrink > 1e-3:
            shrink *= 0.5
            moved = neutral + shrink * (base - neutral)
        return moved, True

    def neutral_controls(self, like: np.ndarray) -> np.ndarray:
        """Neutral positions of all control points (dropped duplicates: taken from ``like``)."""
        out = np.array(like, dtype=np.float64)
        ids = self.vertex_ids < self.num_control
        out[self.vertex_ids[ids]] = self.neutral[ids]
        return out

    def _flipped_triangles(self, moved: np.ndarray) -> np.ndarray:
        a0 = _signed_areas(self.neutral, self.triangles)
        a1 = _signed_areas(self.mesh_points(moved), self.triangles)
        return self.triangles[(np.sign(a0) != np.sign(a1)) & (np.abs(a0) > 0.5)]

    def maps(
        self,
        moved: np.ndarray,
        out_size: Optional[tuple[int, int]] = None,
        out_matrix: Optional[np.ndarray] = None,
        src_matrix: Optional[np.ndarray] = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """float32 (map_x, map_y) over the output grid, for ``cv2.remap`` of the source image.

        ``out_matrix`` (2x3) places the mesh frame in the output (e.g. a small head motion);
        ``src_matrix`` (2x3) maps mesh-frame coordinates to source-image pixels.
        """
        import cv2

        w, h = out_size or self.size
        to_out = _as3(out_matrix)
        to_src = _as3(src_matrix)
        dst = _apply(to_out, self.mesh_points(moved))
        src = _apply(to_src, self.neutral)
        # Fall-back: output pixel -> mesh frame (inverse of to_out) -> source.
        fall = (to_src @ np.linalg.inv(to_out))[:2]
        xs, ys = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
        map_x = fall[0, 0] * xs + fall[0, 1] * ys + fall[0, 2]
        map_y = fall[1, 0] * xs + fall[1, 1] * ys + fall[1, 2]
        moving = np.any(np.abs(self.mesh_points(moved) - self.neutral) > 1e-6, axis=1)
        tris = self.triangles[np.any(moving[self.triangles], axis=1)]
        if len(tris):
            affine = _triangle_affines(dst, src, tris)
            index = np.full((h, w), -1, dtype=np.int32)
            corners = np.round(dst[tris] * (1 << _SHIFT)).astype(np.int32)
            for t, poly in enumerate(corners):
                cv2.fillConvexPoly(index, poly, int(t), lineType=cv2.LINE_8, shift=_SHIFT)
            sel = index >= 0
            # The ring pins the mesh frame's border; keep rasterisation fuzz at the corners of
            # triangles that only touch it from pulling its outermost pixels.
            inv = np.linalg.inv(to_out)
            qx = inv[0, 0] * xs + inv[0, 1] * ys + inv[0, 2]
            qy = inv[1, 0] * xs + inv[1, 1] * ys + inv[1, 2]
            mw, mh = self.size
            sel &= (qx >= 0.5) & (qx <= mw - 1.5) & (qy >= 0.5) & (qy <= mh - 1.5)
            a = affine[index[sel]]
            px, py = xs[sel], ys[sel]
            map_x[sel] = a[:, 0, 0] * px + a[:, 0, 1] * py + a[:, 0, 2]
            map_y[sel] = a[:, 1, 0] * px + a[:, 1, 1] * py + a[:, 1, 2]
        return map_x.astype(np.float32), map_y.astype(np.float32)

    def warp(
        self,
        image: np.ndarray,
        moved: np.ndarray,
        out_size: Optional[tuple[int, int]] = None,
        out_matrix: Optional[np.ndarray] = None,
        src_matrix: Optional[np.ndarray] = None,
    ) -> np.ndarray:
        """The warped image (bilinear; outside the source image: reflected)."""
        import cv2

        map_x, map_y = self.maps(moved, out_size, out_matrix, src_matrix)
        return cv2.remap(
            np.ascontiguousarray(image), map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101
        )


def _spaced(points: np.ndarray, min_spacing: float) -> np.ndarray:
    keep = np.ones(len(points), dtype=bool)
    for i in range(1, len(points)):
        d = np.hypot(*(points[:i][keep[:i]] - points[i]).T)
        if d.size and d.min() < min_spacing:
            keep[i] = False
    return keep


def _as3(matrix: Optional[np.ndarray]) -> np.ndarray:
    m = np.eye(3)
    if matrix is not None:
        m[:2] = np.asarray(matrix, dtype=np.float64).reshape(2, 3)
    return m


def _apply(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return pts @ m[:2, :2].T + m[:2, 2]


def _signed_areas(pts: np.ndarray, tris: np.ndarray) -> np.ndarray:
    a, b, c = pts[tris[:, 0]], pts[tris[:, 1]], pts[tris[:, 2]]
    return 0.5 * ((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0]))


def _triangle_affines(dst: np.ndarray, src: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """(T, 2, 3) affine maps taking each moved triangle (dst) onto its neutral one (src)."""
    d = np.concatenate([dst[tris].transpose(0, 2, 1), np.ones((len(tris), 1, 3))], axis=1)  # (T, 3, 3)
    s = src[tris].transpose(0, 2, 1)  # (T, 2, 3)
    det = np.linalg.det(d)
    ok = np.abs(det) > 1e-9
    out = np.zeros((len(tris), 2, 3))
    out[ok] = s[ok] @ np.linalg.inv(d[ok])
    # Collapsed triangles cover no pixel area; map them by their centroid shift.
    shift = s[~ok].mean(axis=2) - dst[tris[~ok]].mean(axis=1)
    out[~ok, 0, 0] = out[~ok, 1, 1] = 1.0
    out[~ok, :, 2] = shift
    return out
