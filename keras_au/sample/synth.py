"""Synthetic-AU frames from one real face still.

A still is prepared once: dlib finds the face and its 68 landmarks (``keras_au.geometry``),
a square frame of ``size`` pixels is cut around the face (upright, eye-centre distance about a
quarter of the frame, real background kept; no rotation, so the head keeps its natural roll),
and a Delaunay mesh is laid over the control points of ``facs_motion`` plus a fixed ellipse
around the face and a fixed ring on the frame border. Each frame then moves the control points
for the frame's AU intensities, composes a small head motion (shift, roll, scale) and pulls
all pixels from the original photo with one remap, so every frame is resampled once. Where the
lips part further than in the photo, a dark mouth cavity is painted in, and the AUs' creases
(wrinkles, furrows; ``facs_appearance``) are shaded on top.

We work on this crop rather than on the 200x200 aligned face so the written datasets look like
camera frames: the preprocessing (detect, align) runs on them as it does on real data.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Mapping, Optional

import numpy as np

from keras_au.geometry import FaceDetector, ImageError
from keras_au.geometry.alignment import transform_points
from keras_au.sample import facs_appearance, facs_motion
from keras_au.sample.piecewise_affine import PiecewiseAffineWarp
from keras_au.sample.variants import Variant

FRAME_SIZE = 224
EYE_DISTANCE = 0.25  # eye-centre distance in the frame, as a share of the frame size
MAX_EYE_DISTANCE = 0.42  # faces in tight crops are shown larger (up to this share) rather than padded
BORDER_TAPER = 0.4  # eye distances over which motion fades out towards the frame border
MIN_SOURCE_EYE_DISTANCE = 40.0  # px in the photo; smaller faces are skipped as tiny
MOUTH_CAVITY_RGB = np.array([52.0, 16.0, 18.0])


class SkipStill(Exception):
    """A still we cannot synthesise from; ``reason`` goes into the sample manifest."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Jitter:
    """Small identity-preserving head motion and lighting change of one frame."""

    dx: float = 0.0
    dy: float = 0.0
    angle: float = 0.0  # degrees
    scale: float = 1.0
    gain: float = 1.0

    def matrix(self, size: int) -> np.ndarray:
        import cv2

        c = (size - 1) / 2.0
        m = cv2.getRotationMatrix2D((c, c), self.angle, self.scale)
        m[:, 2] += (self.dx, self.dy)
        return m


@dataclass
class PreparedStill:
    """A face photo ready for synthesis: landmarks, crop transform and mesh."""

    path: str
    image: np.ndarray  # source RGB
    landmarks: np.ndarray  # (68, 2) in the photo
    eye_distance: float  # in the photo (px)
    to_frame: np.ndarray  # 2x3 photo -> frame
    controls: np.ndarray  # (NUM_CONTROL, 2) neutral control points in the frame
    frame_landmarks: np.ndarray  # (68, 2) in the frame
    mesh: PiecewiseAffineWarp
    size: int
    cavity: tuple[int, ...]  # control points around the part of the mouth that opens
    unfolded: int = 0  # frames whose motion needed unfolding (see ``moved``)
    variant: Variant = field(default_factory=Variant)
    rest: Optional[np.ndarray] = None  # (NUM_CONTROL, 2) resting-shape change of the variant (pixels)

    def with_variant(self, variant: Variant) -> "PreparedStill":
        """The same photo as another synthetic identity: the variant's resting shape becomes the neutral face
        (AUs move from there) and its camera and light are applied to every frame."""
        source = self.source_landmarks
        rest = facs_motion.shape_displacement(source, variant.shape_moves()) * self._taper()[:, None]
        neutral = self.controls + rest
        return replace(self, variant=variant, rest=rest, frame_landmarks=neutral[: facs_motion.NUM_LANDMARKS],
                       unfolded=0)

    @property
    def source_landmarks(self) -> np.ndarray:
        return self.controls[: facs_motion.NUM_LANDMARKS]

    @property
    def neutral(self) -> np.ndarray:
        """Control points of the resting face (the photo's, moved by the variant's shape)."""
        return self.controls if self.rest is None else self.controls + self.rest

    def _taper(self) -> np.ndarray:
        return border_taper(self.controls, self.size, self.eye_distance * self.to_frame[0, 0])

    def motion(self, intensities: Mapping[int, float]) -> facs_motion.RenderedMotion:
        """AU motion from the resting face, faded out near the frame border (``border_taper``)."""
        return facs_motion.motion(self.frame_landmarks, intensities, self._taper())

    def moved(self, intensities: Mapping[int, float], unfold: bool = True) -> np.ndarray:
        """Control points after the AU motion; with ``unfold``, slivers that the summed motions would turn
        inside out move rigidly instead (counted in ``unfolded``)."""
        return self._moved(self.motion(intensities), unfold)

    def _moved(self, m: facs_motion.RenderedMotion, unfold: bool = True) -> np.ndarray:
        moved = self.neutral + m.pixels
        if unfold:
            moved, changed = self.mesh.unfold(moved)
            self.unfolded += int(changed)
        return moved

    def render(self, intensities: Mapping[int, float], jitter: Optional[Jitter] = None) -> np.ndarray:
        """RGB uint8 frame (size x size) with the AUs at the given intensities (0-5)."""
        return self.render_labeled(intensities, jitter)[0]

    def render_labeled(
        self, intensities: Mapping[int, float], jitter: Optional[Jitter] = None
    ) -> tuple[np.ndarray, dict]:
        """The frame and the intensity each AU shows in it (after the border taper and the closure limit);
        labels are made from the latter, so they follow what is drawn."""
        import cv2

        jitter = jitter or Jitter()
        m = self.motion(intensities)
        moved = self._moved(m)
        out_m = jitter.matrix(self.size)
        to_photo = _invert(self.to_frame)
        frame = self.mesh.warp(self.image, moved, (self.size, self.size), out_matrix=out_m, src_matrix=to_photo)
        frame = _paint_cavity(frame, self.neutral, moved, out_m, self.cavity)
        frame = facs_appearance.paint_creases(frame, self.frame_landmarks, moved, m.rendered, out_m)
        frame = self.variant.photometric(frame)
        if jitter.gain != 1.0:
            frame = cv2.convertScaleAbs(frame, alpha=jitter.gain, beta=0.0)
        return frame, m.rendered


def border_taper(points: np.ndarray, size: int, eye_distance: float) -> np.ndarray:
    """Motion weight per point: 1 inside, falling smoothly to 0 at the frame border.

    In tight photos the chin or brows can touch the frame edge, where the mesh is pinned;
    full motion right next to a pinned point would kink the contour, so it fades over
    ``BORDER_TAPER`` eye distances (the AU then shows less there, as a cut-off chin would).
    """
    d = np.minimum(points, size - 1 - points).min(axis=1)
    x = np.clip(d / (BORDER_TAPER * eye_distance), 0.0, 1.0)
    return x * x * (3 - 2 * x)


def prepare_still(
    image: np.ndarray,
    detector: FaceDetector,
    path: str = "",
    size: int = FRAME_SIZE,
    min_eye_distance: float = MIN_SOURCE_EYE_DISTANCE,
    redetect: bool = True,
) -> PreparedStill:
    """Detects the face and builds the mesh; raises ``SkipStill`` (no_face, tiny_face,
    not_redetected: the face is not found again in the neutral synthesised frame)."""
    try:
        det = detector.detect(image)
    except ImageError as e:
        raise SkipStill(e.reason, str(e)) from e
    if not det.found:
        raise SkipStill("no_face", "dlib found no face")
    lm = np.asarray(det.largest.landmarks, dtype=np.float64)
    frame = facs_motion.face_frame(lm)
    if frame.scale < min_eye_distance:
        raise SkipStill("tiny_face", f"eye-centre distance {frame.scale:.0f} px < {min_eye_distance:.0f} px")
    h, w = image.shape[:2]
    to_frame = _crop_matrix(lm, frame.scale, (w, h), size)
    frame_lm = facs_motion.tidy_landmarks(transform_points(lm, to_frame))
    controls = facs_motion.control_points(frame_lm)
    mesh = PiecewiseAffineWarp(controls, (size, size), fixed=_face_ellipse(controls, frame_lm))
    # Teeth seen between parted lips stay (with the skull): the cavity opens below them.
    teeth = tuple(facs_motion.TEETH.values())
    open_mouth = bool(set(teeth) & set(mesh.vertex_ids.tolist()))
    cavity = (60, *(teeth if open_mouth else (61, 62, 63)), 64, 65, 66, 67)
    still = PreparedStill(
        path=path,
        image=np.ascontiguousarray(image),
        landmarks=lm,
        eye_distance=frame.scale,
        to_frame=to_frame,
        controls=controls,
        frame_landmarks=frame_lm,
        mesh=mesh,
        size=size,
        cavity=cavity,
    )
    # The frames must be usable downstream: the detector has to find the face in the crop too.
    if redetect and not detector.detect(still.render({})).found:
        raise SkipStill("not_redetected", "no face found again in the synthesised frame")
    return still


def _crop_matrix(lm: np.ndarray, eye_distance: float, image_size: tuple[int, int], size: int) -> np.ndarray:
    """Scale + shift (no rotation) putting the face in the middle of a size x size frame.

    The face is made larger (up to MAX_EYE_DISTANCE) when the photo is too tight to fill the
    frame, and the window is kept inside the photo where it fits; otherwise it is centred on
    the photo and the missing strip is reflected.
    """
    scale = EYE_DISTANCE * size / eye_distance
    w, h = image_size
    scale = min(max(scale, size / min(w, h)), MAX_EYE_DISTANCE * size / eye_distance)
    window = size / scale
    centre = 0.5 * (0.5 * (lm[36:42].mean(0) + lm[42:48].mean(0)) + 0.5 * (lm[48] + lm[54]))
    origin = []
    for c, extent in zip(centre, (w, h)):
        if window <= extent:
            origin.append(float(np.clip(c - window / 2, 0, extent - window)))
        else:
            origin.append((extent - window) / 2)
    return np.array([[scale, 0.0, -scale * origin[0]], [0.0, scale, -scale * origin[1]]])


def _face_ellipse(controls: np.ndarray, lm: np.ndarray, count: int = 24) -> np.ndarray:
    """Fixed points on an ellipse well outside the face: motion stays inside it."""
    f = facs_motion.face_frame(lm)
    centre = controls.mean(0)
    rel = controls - centre
    u, v = rel @ f.x_axis, rel @ f.y_axis
    a, b = 1.5 * np.abs(u).max(), 1.45 * np.abs(v).max()
    t = np.linspace(0, 2 * np.pi, count, endpoint=False)
    return centre + np.outer(a * np.cos(t), f.x_axis) + np.outer(b * np.sin(t), f.y_axis)


def _paint_cavity(
    frame: np.ndarray, neutral: np.ndarray, moved: np.ndarray, out_m: np.ndarray, cavity: tuple[int, ...]
) -> np.ndarray:
    """Paints the mouth cavity that opens between the upper boundary (lip or teeth) and the lower lip."""
    import cv2

    top = cavity[2]
    added = float(np.hypot(*(moved[66] - moved[top]))) - float(np.hypot(*(neutral[66] - neutral[top])))
    if added < 0.75:
        return frame
    alpha = float(np.clip(added / 2.5, 0.0, 1.0))
    poly = transform_points(moved[list(cavity)], out_m)
    x0, y0 = np.floor(poly.min(0)).astype(int) - 3
    x1, y1 = np.ceil(poly.max(0)).astype(int) + 4
    h, w = frame.shape[:2]
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 <= x0 or y1 <= y0:
        return frame
    mask = np.zeros((y1 - y0, x1 - x0), dtype=np.uint8)
    pts = np.round((poly - (x0, y0)) * 16).astype(np.int32)
    cv2.fillPoly(mask, [pts], 255, lineType=cv2.LINE_AA, shift=4)
    mask = cv2.GaussianBlur(mask, (3, 3), 0).astype(np.float64)[:, :, None] / 255.0 * alpha
    roi = frame[y0:y1, x0:x1].astype(np.float64)
    dark = 0.15 * roi + 0.85 * MOUTH_CAVITY_RGB
    out = frame.copy()
    out[y0:y1, x0:x1] = np.clip(roi * (1 - mask) + dark * mask + 0.5, 0, 255).astype(np.uint8)
    return out


def _invert(m: np.ndarray) -> np.ndarray:
    full = np.vstack([m, [0.0, 0.0, 1.0]])
    return np.linalg.inv(full)[:2]


def jitter_track(
    rng: np.random.Generator,
    num_frames: int,
    shift: float = 2.5,
    angle: float = 1.5,
    zoom: float = 0.02,
    gain: float = 0.05,
) -> list[Jitter]:
    """Smooth per-frame head motion and lighting: each parameter is a slow sinusoid with a random
    phase and period (1-3 clip lengths), so consecutive frames differ by a fraction of a pixel."""
    t = np.arange(num_frames, dtype=np.float64)

    def wave(amplitude: float) -> np.ndarray:
        period = num_frames * rng.uniform(1.0, 3.0)
        return amplitude * rng.uniform(0.3, 1.0) * np.sin(2 * np.pi * t / period + rng.uniform(0, 2 * np.pi))

    dx, dy, rot, sc, g = wave(shift), wave(shift), wave(angle), wave(zoom), wave(gain)
    waves = zip(dx, dy, rot, sc, g)
    return [Jitter(float(x), float(y), float(r), float(1 + s), float(1 + k)) for x, y, r, s, k in waves]
