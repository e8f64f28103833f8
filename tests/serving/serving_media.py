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
