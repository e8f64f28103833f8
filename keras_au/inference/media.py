"""Input media for ``keras-au predict``: expand paths to images and videos, read frames.

Extensions and video decoding are ``keras_au.media``'s (shared with preprocessing). Reading never
raises for a bad file: ``frames()`` yields a ``Frame`` with ``error`` set (the ``ImageError`` /
``MediaError`` reason: ``undecodable``, ``empty``, ``missing``, ``video_read_error``, ...) so the
caller writes a ``success = 0`` row for it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterator, Optional, Sequence

import numpy as np

from keras_au.media import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, MediaError, VideoReader, is_video

DEFAULT_FPS = 25.0  # when a container does not say


@dataclass
class Frame:
    source: str
    index: int
    timestamp: float  # seconds; 0 for still images
    image: Optional[np.ndarray]  # RGB uint8, None when unreadable
    error: Optional[str] = None  # reason code when unreadable
    message: str = ""


def expand_inputs(paths: Sequence[str]) -> tuple[list[str], list[str]]:
    """(media files in order, files skipped in folders for an unknown extension).

    Folders are walked recursively in sorted order; a file named explicitly is always kept (an
    unreadable one gets a ``success = 0`` row later), as is a path that does not exist.
    """
    media, skipped = [], []
    for p in paths:
        if os.path.isdir(p):
            for root, dirs, files in os.walk(p):
                dirs.sort()
                for name in sorted(files):
                    full = os.path.join(root, name)
                    ext = os.path.splitext(name)[1].lower()
                    (media if ext in IMAGE_EXTENSIONS + VIDEO_EXTENSIONS else skipped).append(full)
        else:
            media.append(p)
    return media, skipped


def frame_count(path: str) -> int:
    """Frames to expect (for the progress bar): 1 for an image, the container's count for a video."""
    if not is_video(path):
        return 1
    import cv2

    cap = cv2.VideoCapture(path)
    try:
        return max(1, int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)) if cap.isOpened() else 1
    finally:
        cap.release()


def frames(path: str) -> Iterator[Frame]:
    """Frames of an image (one) or a video (all), RGB uint8."""
    if not is_video(path):
        from keras_au.geometry import ImageError, load_image

        try:
            yield Frame(path, 0, 0.0, load_image(path))
        except ImageError as e:
            yield Frame(path, 0, 0.0, None, e.reason, str(e))
        return
    yield from _video_frames(path)


def video_fps(path: str) -> float:
    import cv2

    cap = cv2.VideoCapture(path)
    try:
        fps = cap.get(cv2.CAP_PROP_FPS) if cap.isOpened() else 0.0
    finally:
        cap.release()
    return fps if fps and np.isfinite(fps) and 0 < fps < 1000 else DEFAULT_FPS


def _video_frames(path: str) -> Iterator[Frame]:
    fps = video_fps(path) if os.path.isfile(path) else DEFAULT_FPS
    index = -1
    reader = VideoReader(path)
    try:
        for index, rgb in reader.frames():
            # Frame index / fps rather than CAP_PROP_POS_MSEC: monotonic even where containers misreport.
            yield Frame(path, index, index / fps, rgb)
    except MediaError as e:  # nothing decodable at all
        yield Frame(path, index + 1, (index + 1) / fps, None, e.reason, str(e))
        return
    if reader.ended_early:  # truncated: say so in a row rather than stop silently
        yield Frame(path, index + 1, (index + 1) / fps, None, "video_ended_early",
                    f"{path}: stream ended after {index + 1} of {reader.expected_frames} frames")
