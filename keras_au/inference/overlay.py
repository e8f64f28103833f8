"""``keras-au predict --overlay``: the video as the model saw it, H.264 for browsers.

Each frame gets every face's box and ``face_id``, its 68 landmarks, and a side panel with one bar per AU
(probability, the threshold marked; person-calibrated values when the table is). Frames without a face say why
(``no_face``, ``alignment_failed``). Encoding is ``imageio-ffmpeg``'s bundled ffmpeg (libx264, yuv420p,
``+faststart``): nothing for the user to install, and Chromium/Firefox/Safari play it.

Streamed: frames are decoded again, drawn and piped to ffmpeg one at a time (the landmarks of the prediction pass,
544 bytes per face-frame, are all that is kept), so memory stays flat however long the video is.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable, Mapping, Optional, Sequence

import numpy as np

from keras_au.inference.atomic import atomic_path
from keras_au.inference.media import Frame

PANEL_W = 250  # px beside the frame: AU bars
ROW_H = 14  # px per AU bar
HEAD_H = 20  # px per face header
FONT = 0.4  # cv2 Hershey scale: legible at 14 px rows
# (RGB) above threshold, below, threshold tick, missing face, landmarks, box
ON, OFF, TICK, WARN = (60, 200, 90), (110, 140, 200), (255, 255, 255), (230, 60, 60)
DOTS, BOX = (255, 220, 0), (0, 230, 255)
FRAME_REASONS = ("no_face", "alignment_failed")  # success = 0 rows that still have a decoded frame


def _even(n: int) -> int:
    return n + (n % 2)  # yuv420p needs even sides


def canvas_size(width: int, height: int, n_aus: int, max_faces: int) -> tuple[int, int]:
    """(w, h) of the overlay frames: the video plus the panel, tall enough for every face's bars."""
    return _even(width + PANEL_W), _even(max(height, HEAD_H + max(1, max_faces) * (HEAD_H + n_aus * ROW_H)))


def draw_frame(image: np.ndarray, rows: Sequence[Mapping], landmarks: Mapping[int, np.ndarray],
               au_names: Sequence[str], size: tuple[int, int], threshold: float = 0.5, title: str = "") -> np.ndarray:
    """One overlay frame (RGB uint8 of ``size``) from the frame's rows (``predict`` columns) and
    ``face_id -> (68, 2)`` landmarks in frame pixels."""
    import cv2

    h, w = image.shape[:2]
    out = np.zeros((size[1], size[0], 3), np.uint8)
    out[:h, :w] = image
    px = w + 8
    cv2.putText(out, title, (px, 14), cv2.FONT_HERSHEY_SIMPLEX, FONT, TICK, 1, cv2.LINE_AA)
    faces = [r for r in rows if int(r["success"]) == 1]
    if not faces:
        reason = next((str(r["reason"]) for r in rows if r.get("reason")), "no_face")
        cv2.rectangle(out, (0, 0), (w - 1, 22), WARN, -1)
        cv2.putText(out, f"NO FACE: {reason}", (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
        cv2.putText(out, f"no face: {reason}", (px, HEAD_H + 14), cv2.FONT_HERSHEY_SIMPLEX, FONT, WARN, 1, cv2.LINE_AA)
    y = HEAD_H
    for r in rows:
        fid = int(r["face_id"])
        ok = int(r["success"]) == 1
        if ok:
            box = tuple(int(round(float(r[k]))) for k in ("bbox_x0", "bbox_y0", "bbox_x1", "bbox_y1"))
            cv2.rectangle(out, box[:2], box[2:], BOX, 1)
            cv2.putText(out, f"face {fid}", (box[0], max(12, box[1] - 4)), cv2.FONT_HERSHEY_SIMPLEX, FONT, BOX, 1,
                        cv2.LINE_AA)
        lm = landmarks.get(fid)
        if lm is not None:
            for x, yy in np.round(lm).astype(int):
                cv2.circle(out, (int(x), int(yy)), 1, DOTS, -1)
        if fid < 0:
            continue
        cv2.putText(out, f"face {fid}" + ("" if ok else f": {r['reason']}"), (px, y + 14),
                    cv2.FONT_HERSHEY_SIMPLEX, FONT, TICK if ok else WARN, 1, cv2.LINE_AA)
        y += HEAD_H
        if ok:
            y = _bars(out, r, au_names, threshold, px, y)
    return out


def _bars(out: np.ndarray, row: Mapping, au_names: Sequence[str], threshold: float, px: int, y: int) -> int:
    import cv2

    x0, bar_w = px + 42, PANEL_W - 92
    for a in au_names:
        p = float(row[f"{a}_p"])
        cv2.putText(out, a, (px, y + 11), cv2.FONT_HERSHEY_SIMPLEX, FONT, TICK, 1, cv2.LINE_AA)
        cv2.rectangle(out, (x0, y + 2), (x0 + bar_w, y + ROW_H - 2), (50, 50, 50), -1)
        cv2.rectangle(out, (x0, y + 2), (x0 + int(round(p * bar_w)), y + ROW_H - 2), ON if p >= threshold else OFF, -1)
        tx = x0 + int(round(threshold * bar_w))
        cv2.line(out, (tx, y), (tx, y + ROW_H - 1), TICK, 1)
        cv2.putText(out, f"{p:.2f}", (x0 + bar_w + 4, y + 11), cv2.FONT_HERSHEY_SIMPLEX, FONT, TICK, 1, cv2.LINE_AA)
        y += ROW_H
    return y


class OverlayWriter:
    """H.264 mp4 (yuv420p, ``+faststart``) written frame by frame through imageio-ffmpeg's bundled ffmpeg, to a
    temporary name that replaces ``path`` only when ``close()`` succeeds (``abort()`` removes it)."""

    def __init__(self, path: str, size: tuple[int, int], fps: float, crf: int = 23):
        from keras_au.media import imageio_ffmpeg

        self.path, self.size, self.frames = path, size, 0
        self._atomic = atomic_path(path)
        tmp = self._atomic.__enter__()
        self._gen = imageio_ffmpeg().write_frames(
            tmp, size, fps=fps, codec="libx264", pix_fmt_in="rgb24", pix_fmt_out="yuv420p", macro_block_size=2,
            quality=None, ffmpeg_log_level="error",
            output_params=["-crf", str(crf), "-preset", "veryfast", "-movflags", "+faststart", "-f", "mp4"])
        self._gen.send(None)

    def write(self, rgb: np.ndarray) -> None:
        if rgb.shape != (self.size[1], self.size[0], 3) or rgb.dtype != np.uint8:
            raise ValueError(f"overlay frame must be {self.size[1]}x{self.size[0]}x3 uint8, "
                             f"got {rgb.shape} {rgb.dtype}")
        self._gen.send(np.ascontiguousarray(rgb))
        self.frames += 1

    def close(self) -> str:
        self._gen.close()  # waits for ffmpeg (faststart rewrites the file at the end)
        self._atomic.__exit__(None, None, None)
        return self.path

    def abort(self, exc: BaseException) -> None:
        try:
            self._gen.close()
        finally:
            try:
                self._atomic.__exit__(type(exc), exc, exc.__traceback__)
            except BaseException:  # the context manager re-raises the error it was handed: the caller does that
                pass

    def __enter__(self) -> "OverlayWriter":
        return self

    def __exit__(self, kind, exc, tb) -> None:
        if exc is None:
            self.close()
        else:
            self.abort(exc)


def frame_rows(rows: Iterable[Mapping]) -> dict[int, list[Mapping]]:
    """``frame -> rows`` for the rows that belong to a decoded frame (faces, ``no_face``, ``alignment_failed``)."""
    out: dict[int, list[Mapping]] = defaultdict(list)
    for r in rows:
        if int(r["success"]) == 1 or r.get("reason") in FRAME_REASONS:
            out[int(r["frame"])].append(r)
    return out


def render_overlay(frames: Iterable[Frame], rows: Iterable[Mapping],
                   landmarks: Mapping[int, Mapping[int, np.ndarray]], au_names: Sequence[str], out_path: str,
                   fps: float, threshold: float = 0.5, calibrated: bool = False,
                   name: Optional[str] = None) -> dict:
    """Draws every decoded frame of one video with its rows (``landmarks``: frame -> face_id -> (68, 2)) and
    writes ``out_path``; a frame count that
    differs from the rows' (a different video) raises ``ValueError`` naming ``name`` and leaves nothing."""
    by_frame = frame_rows(rows)
    it = iter(f for f in frames if f.image is not None)
    first = next(it, None)
    if first is None:
        raise ValueError(f"{name or 'video'}: no decodable frame to draw")
    h, w = first.image.shape[:2]
    size = canvas_size(w, h, len(au_names), max((len(v) for v in by_frame.values()), default=1))
    title = ("person-calibrated" if calibrated else "AU probability") + f"  thr {threshold:.2f}"
    seen = 0
    with OverlayWriter(out_path, size, fps) as writer:
        for frame in _chain(first, it):
            rows_here = by_frame.get(frame.index)
            if rows_here is None:
                raise ValueError(f"{name or frame.source}: frame {frame.index} is not in the predictions "
                                 f"({len(by_frame)} frames there): not the video these rows came from")
            writer.write(draw_frame(frame.image, rows_here, landmarks.get(frame.index, {}), au_names, size, threshold,
                                    f"{title}  t={frame.timestamp:.2f}s"))
            seen += 1
        if seen != len(by_frame):
            raise ValueError(f"{name or 'video'}: {seen} frames decoded but the predictions have {len(by_frame)}: "
                             "not the video these rows came from")
    return {"path": out_path, "frames": seen, "size": list(size), "fps": fps, "calibrated": calibrated}


def _chain(first: Frame, rest: Iterable[Frame]) -> Iterable[Frame]:
    yield first
    yield from rest
