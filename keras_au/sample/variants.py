"""Synthetic identities: several resting faces and cameras from one base photo.

A base photo gives one resting face. If every clip of a person shows that one face, there is almost no nuisance
within a person and a huge one between people: where a brow *rests* differs more between people than an AU moves
it, and a model learns who a person is instead of what the face does. BP4D has 41 people, the sample's media 18.
A ``Variant`` makes a new subject from a base photo by changing what differs between people and sessions:

* the resting shape (a warp applied before any AU): brow height and tilt, eye opening, mouth width, lip
  thickness and jaw length, drawn from spreads of the order of adult anthropometric variation (standard
  deviations of 2-5 mm, i.e. 0.03-0.08 of the eye-centre distance D ~ 63 mm; Farkas, *Anthropometry of the
  Head and Face*, 1994);
* the camera and light: gamma, white balance and a directional shading ramp across the frame.

Variant 0 of a photo is the photo as it is. All variants of one photo stay in one fold part (builder), so no face
crosses folds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from keras_au.sample.facs_motion import Move

# (sd, limit) of each resting-shape change, in D; draws are clipped at the limit.
SHAPE_SPREAD = {
    "brow_height": (0.035, 0.07),
    "brow_tilt": (0.02, 0.04),
    "eye_opening": (0.012, 0.025),
    "mouth_width": (0.025, 0.05),
    "lip_thickness": (0.012, 0.025),
    "jaw": (0.035, 0.07),
}


@dataclass(frozen=True)
class Variant:
    """One synthetic identity of a base photo; shape values in D (+ = up / out / wider / thicker / longer)."""

    number: int = 0
    brow_height: float = 0.0
    brow_tilt: float = 0.0  # outer brow end up, inner end down
    eye_opening: float = 0.0
    mouth_width: float = 0.0  # per corner
    lip_thickness: float = 0.0  # per lip
    jaw: float = 0.0  # chin down
    gamma: float = 1.0
    white_balance: tuple[float, float, float] = (1.0, 1.0, 1.0)
    shading: float = 0.0  # brightness change from the frame's centre to its edge along ``shading_angle``
    shading_angle: float = 0.0  # radians

    @classmethod
    def draw(cls, rng: np.random.Generator, number: int) -> "Variant":
        """Variant ``number`` (0: the photo unchanged; the draws are made anyway, so the stream does not shift)."""
        shape = {k: float(np.clip(rng.normal(0.0, sd), -lim, lim)) for k, (sd, lim) in SHAPE_SPREAD.items()}
        gamma = float(np.exp(rng.uniform(np.log(0.8), np.log(1.25))))
        wb = tuple(float(g) for g in rng.uniform(0.9, 1.1, size=3))
        shading, angle = float(rng.uniform(0.0, 0.25)), float(rng.uniform(0.0, 2 * np.pi))
        if number == 0:
            return cls()
        return cls(number, **shape, gamma=gamma, white_balance=wb, shading=shading, shading_angle=angle)

    @property
    def is_identity(self) -> bool:
        return self == Variant(self.number)

    def shape_moves(self) -> tuple[Move, ...]:
        """The resting-shape change as image-left moves (``facs_motion.shape_displacement`` mirrors them)."""
        h, t, e, w, lt, j = (self.brow_height, self.brow_tilt, self.eye_opening, self.mouth_width,
                             self.lip_thickness, self.jaw)
        brows = tuple(Move((p,), 0.0, h + t * (1 - i / 2)) for i, p in enumerate(range(17, 22)))
        eyes = (Move((37, 38), 0.0, e), Move((40, 41), 0.0, -0.3 * e))
        mouth = (Move((48,), w, 0.0), Move((60,), 0.9 * w, 0.0), Move((49, 59), 0.5 * w, 0.0),
                 Move((61, 67), 0.4 * w, 0.0))
        lips = (Move((50, 51), 0.0, lt), Move((49,), 0.0, 0.7 * lt), Move((57, 58), 0.0, -lt),
                Move((59,), 0.0, -0.7 * lt))
        jaw = tuple(Move((p,), 0.0, -j * s) for p, s in ((8, 1.0), (7, 0.9), (6, 0.7), (5, 0.45), (4, 0.2), (3, 0.05)))
        return brows + eyes + mouth + lips + jaw

    def photometric(self, frame: np.ndarray) -> np.ndarray:
        """``frame`` (RGB uint8) as this variant's camera and light show it."""
        if self.is_identity:
            return frame
        import cv2

        levels = np.arange(256, dtype=np.float64) / 255.0
        luts = [np.clip(255.0 * g * levels**self.gamma + 0.5, 0, 255).astype(np.uint8) for g in self.white_balance]
        out = np.dstack([cv2.LUT(np.ascontiguousarray(frame[:, :, c]), luts[c]) for c in range(3)])
        if self.shading > 0:
            h, w = frame.shape[:2]
            yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
            r = ((xx - (w - 1) / 2) * np.cos(self.shading_angle) + (yy - (h - 1) / 2) * np.sin(self.shading_angle))
            ramp = 1.0 + self.shading * r / (max(h, w) / 2)
            out = np.clip(out.astype(np.float32) * ramp[:, :, None] + 0.5, 0, 255).astype(np.uint8)
        return out

    def to_json(self) -> dict:
        def r(v):
            return [round(x, 4) for x in v] if isinstance(v, (tuple, list)) else round(v, 4) if isinstance(v, float) else v

        return {k: r(v) for k, v in asdict(self).items()}
