"""Constants and media builders shared by the serving tests (module name kept unique for pytest's rootdir imports)."""

from __future__ import annotations

import numpy as np

AUS = (1, 2, 4, 6, 7, 10, 12, 14, 15, 17, 23, 24)  # the stand-in model's AUs (BP4D)
VIDEO_FPS = 25.0
# (segment, frames): a moving astronaut face, a faceless stretch, Grace Hopper
VIDEO_SEGMENTS = (("astronaut", 12), ("faceless", 12), ("hopper", 10))


def video_frames(astronaut: np.ndarray, hopper: np.ndarray):
    import cv2
    from skimage import data

    h, w = 240, 320
    hop = cv2.resize(hopper, (256, 300), interpolation=cv2.INTER_AREA)[30:270]
    hop = np.pad(hop, ((0, 0), (32, 32), (0, 0)), constant_values=128)
    faceless = cv2.resize(data.coffee(), (w, h), interpolation=cv2.INTER_AREA)
    out = []
    for name, n in VIDEO_SEGMENTS:
        for i in range(n):
            dx, dy = int(round(5 * np.sin(i / 3))), int(round(3 * np.cos(i / 4)))
            if name == "astronaut":
                out.append(astronaut[20 + dy : 20 + dy + h, 60 + dx : 60 + dx + w])
            elif name == "faceless":
                out.append(np.roll(faceless, dx, axis=1))
            else:
                out.append(np.roll(hop, (dy, dx), axis=(0, 1)))
    return out


# (segment, frames) of the two-face clip: both faces side by side (two tracks >= 30 frames, so person calibration
# moves them), then a faceless stretch
TWO_FACE_SEGMENTS = (("both", 32), ("faceless", 6))
TWO_FACE_SIZE = (640, 352)  # (w, h)


def two_face_frames(astronaut: np.ndarray, hopper: np.ndarray):
    """The astronaut (left) and Grace Hopper (right) drifting a little, then coffee: RGB frames."""
    import cv2
    from skimage import data

    w, h = TWO_FACE_SIZE
    both = np.full((512, 512 + 427, 3), 128, np.uint8)
    both[:, :512] = astronaut
    both[6:506, 512:] = cv2.resize(hopper, (427, 500), interpolation=cv2.INTER_AREA)
    base = cv2.resize(both, (w, h), interpolation=cv2.INTER_AREA)
    faceless = cv2.resize(data.coffee(), (w, h), interpolation=cv2.INTER_AREA)
    out = []
    for name, n in TWO_FACE_SEGMENTS:
        for i in range(n):
            dx, dy = int(round(4 * np.sin(i / 4))), int(round(3 * np.cos(i / 5)))
            out.append(np.roll(base if name == "both" else faceless, (dy, dx), axis=(0, 1)))
    return out
