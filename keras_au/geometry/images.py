"""Image reading and normalisation to the one format the geometry code uses: RGB uint8.

Everything that can go wrong with an input image is turned into an ``ImageError``
with a readable message here, before it can reach dlib or OpenCV internals.
"""

from __future__ import annotations

import os
from typing import Literal

import numpy as np

ChannelOrder = Literal["rgb", "bgr"]

# Refuse to decode absurdly large images (decompression bombs); 100 MP is plenty for faces.
MAX_PIXELS = 100_000_000


class ImageError(ValueError):
    """An image that cannot be used: unreadable, empty, or of an unsupported layout."""

    def __init__(self, message: str, reason: str = "bad_image"):
        super().__init__(message)
        self.reason = reason


def to_rgb_uint8(image: np.ndarray, channel_order: ChannelOrder = "rgb") -> np.ndarray:
    """Converts grey, grey+alpha, RGB(A)/BGR(A), 16-bit or float images to contiguous RGB uint8."""
    if image is None:
        raise ImageError("image is None", "unreadable")
    arr = np.asarray(image)
    if arr.size == 0 or min(arr.shape[:2], default=0) == 0:
        raise ImageError(f"image is empty (shape {arr.shape})", "empty")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (2, 3, 4)):
        raise ImageError(f"unsupported image shape {arr.shape}; expected HxW, HxWx1, HxWx3 or HxWx4")
    arr = _to_uint8(arr)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    elif arr.shape[2] == 2:  # grey + alpha
        arr = np.repeat(arr[:, :, :1], 3, axis=2)
    elif arr.shape[2] == 4:
        arr = arr[:, :, :3]
    if channel_order == "bgr":
        arr = arr[:, :, ::-1]
    elif channel_order != "rgb":
        raise ValueError(f"channel_order must be 'rgb' or 'bgr', got {channel_order!r}")
    return np.ascontiguousarray(arr)


def _to_uint8(arr: np.ndarray) -> np.ndarray:
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8) * 255
    if arr.dtype == np.uint16:
        return (arr >> 8).astype(np.uint8)
    if np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)):
            raise ImageError("float image contains NaN or inf")
        scale = 255.0 if arr.max(initial=0.0) <= 1.0 else 1.0
        return np.clip(arr * scale + 0.5, 0, 255).astype(np.uint8)
    if np.issubdtype(arr.dtype, np.integer):
        return np.clip(arr, 0, 255).astype(np.uint8)
    raise ImageError(f"unsupported image dtype {arr.dtype}")


def decode_image(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decodes encoded image bytes (JPEG/PNG/BMP/TIFF/...) to RGB uint8."""
    import cv2

    if not data:
        raise ImageError(f"{name}: file is empty", "empty")
    buf = np.frombuffer(data, dtype=np.uint8)
    img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ImageError(f"{name}: not a decodable image (corrupt, truncated or not an image)", "undecodable")
    if img.shape[0] * img.shape[1] > MAX_PIXELS:
        raise ImageError(f"{name}: image of {img.shape[1]}x{img.shape[0]} exceeds {MAX_PIXELS} pixels", "too_large")
    # OpenCV decodes colour as BGR(A); grey stays 2-D.
    order: ChannelOrder = "bgr" if img.ndim == 3 and img.shape[2] >= 3 else "rgb"
    if img.ndim == 3 and img.shape[2] == 4:
        img = img[:, :, :3]
    return to_rgb_uint8(img, order)


def load_image(path: str | os.PathLike) -> np.ndarray:
    """Reads an image file as RGB uint8, raising ``ImageError`` with the reason on failure."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ImageError(f"{path}: no such file", "missing")
    if os.path.isdir(path):
        raise ImageError(f"{path}: is a directory", "unreadable")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ImageError(f"{path}: cannot read ({e.strerror})", "unreadable") from e
    return decode_image(data, path)
