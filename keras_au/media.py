"""Media files: which extensions are images or videos, and a video frame reader with clear errors.

Video decoding goes through ``cv2.VideoCapture`` (FFmpeg backend of the OpenCV wheel). A file
that cannot be opened, or opens but yields no frame, raises ``MediaError`` with
``reason="video_read_error"``; a video that stops before the frame count its container
announces is flagged by ``VideoReader.ended_early`` (truncated files decode up to the damage).
"""

from __future__ import annotations

import os
from typing import Iterator, Optional

import numpy as np

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
VIDEO_EXTENSIONS = (".avi", ".mp4", ".mov", ".mkv", ".m4v", ".mpg", ".mpeg", ".wmv", ".webm")


class MediaError(ValueError):
    """A media file that cannot be read; ``reason`` is the short code used in reports."""

    def __init__(self, message: str, reason: str = "video_read_error"):
        super().__init__(message)
        self.reason = reason


def imageio_ffmpeg():
    """imageio-ffmpeg, set to start ffmpeg without a ``preexec_fn``. With one (its default, to keep Ctrl-C from
    ffmpeg) Python forks instead of vfork-exec, and gRPC's fork handlers (TensorFlow and TFX load gRPC) can end
    the child before it runs ffmpeg: "Could not load meta information" with a gRPC epoll error as ffmpeg's only
    output (seen once in the suite). ``IMAGEIO_FFMPEG_NO_PREVENT_SIGINT`` is imageio-ffmpeg's own switch for hangs
    on fork (its issue #58); it is read at each call."""
    os.environ.setdefault("IMAGEIO_FFMPEG_NO_PREVENT_SIGINT", "1")
    import imageio_ffmpeg as module

    return module


def is_image(path: str) -> bool:
    return os.path.splitext(path)[1].lower() in IMAGE_EXTENSIONS


def is_video(path: str) -> bool:
    return os.path.splitext(path)[1].lower() in VIDEO_EXTENSIONS


class VideoReader:
    """Sequential frame reader: ``for index, frame in reader.frames(need)`` yields 0-based indices.

    ``need(index)`` decides whether a frame is converted to RGB (``frame`` is None otherwise),
    so skipped frames only cost a ``grab``. Stop early by closing the generator.
    """

    def __init__(self, path: str):
        self.path = os.fspath(path)
        self.frames_seen = 0
        self.reached_end = False
        self.expected_frames: Optional[int] = None

    def frames(self, need=lambda index: True) -> Iterator[tuple[int, Optional[np.ndarray]]]:
        import cv2

        if not os.path.isfile(self.path):
            raise MediaError(f"{self.path}: no such video file", "missing")
        if os.path.getsize(self.path) == 0:
            raise MediaError(f"{self.path}: video file is empty", "empty")
        cap = cv2.VideoCapture(self.path)
        try:
            if not cap.isOpened():
                raise MediaError(f"{self.path}: cannot open video (corrupt, unsupported codec or not a video)")
            count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
            self.expected_frames = count if count > 0 else None
            index = 0
            while True:
                if not cap.grab():
                    self.reached_end = True
                    break
                frame = None
                if need(index):
                    ok, bgr = cap.retrieve()
                    if not ok or bgr is None:
                        self.reached_end = True
                        break
                    frame = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB) if bgr.ndim == 3 else np.dstack([bgr] * 3)
                self.frames_seen = index + 1
                yield index, frame
                index += 1
            if self.frames_seen == 0 and self.reached_end:
                raise MediaError(f"{self.path}: video opened but no frame could be decoded")
        finally:
            cap.release()

    @property
    def ended_early(self) -> bool:
        """True when the stream ended before the container's announced frame count."""
        return bool(self.reached_end and self.expected_frames and self.frames_seen < self.expected_frames)
