"""Writers for the dataset layouts the real readers expect (see REFERENCE.md, "Datasets").

* BP4D: ``BP4D/<subject>/<task>/<frame>.jpg`` and ``BP4D/AUCoding/AU_OCC/<subject>_<task>.csv``
  (header: ``0`` then the AU numbers; column ``0`` = the frame number in the file name;
  values 0/1, 9 = unknown). Frame numbers start at 1000 or more, so zero-padded
  (``zfill(4)``) and plain names are the same file.
* DISFA: ``DISFA/Videos_LeftCamera/LeftVideo<SN>_comp.avi`` (Motion-JPEG, 20 fps) and
  ``DISFA/ActionUnit_Labels/<SN>/<SN>_au<k>.txt`` with one ``frame,intensity`` line per
  video frame; frames are numbered from 1 as in DISFA (line i is video frame i - 1).
* Unlabeled (EmotioNet-style folder): ``unlabeled/images/*.jpg|png`` and ``unlabeled/videos/*.mp4``.
"""

from __future__ import annotations

import csv
import os
import shutil
from typing import Iterable, Sequence

import numpy as np

BP4D_DIR, DISFA_DIR, UNLABELED_DIR = "BP4D", "DISFA", "unlabeled"
BP4D_UNKNOWN = 9
DISFA_FPS = 20
JPEG_QUALITY = 92


def bp4d_frame_path(root: str, subject: str, task: str, frame: int) -> str:
    return os.path.join(root, BP4D_DIR, subject, task, f"{frame:04d}.jpg")


def bp4d_label_path(root: str, subject: str, task: str) -> str:
    return os.path.join(root, BP4D_DIR, "AUCoding", "AU_OCC", f"{subject}_{task}.csv")


def disfa_video_path(root: str, subject: str) -> str:
    return os.path.join(root, DISFA_DIR, "Videos_LeftCamera", f"LeftVideo{subject}_comp.avi")


def disfa_label_path(root: str, subject: str, au: int) -> str:
    return os.path.join(root, DISFA_DIR, "ActionUnit_Labels", subject, f"{subject}_au{int(au)}.txt")


def write_jpeg(path: str, rgb: np.ndarray, quality: int = JPEG_QUALITY) -> None:
    import cv2

    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(rgb[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise OSError(f"JPEG encoding failed for {path}")
    with open(path, "wb") as f:
        f.write(buf.tobytes())


def write_bp4d_sequence(
    root: str,
    subject: str,
    task: str,
    frames: Sequence[np.ndarray],
    first_frame: int,
    aus: Sequence[int],
    occurrence: np.ndarray,
) -> tuple[str, str]:
    """Writes the frames and the occurrence CSV (``occurrence`` holds 0/1/9); returns (dir, csv)."""
    occurrence = np.asarray(occurrence, dtype=np.int64)
    if occurrence.shape != (len(frames), len(aus)):
        raise ValueError(f"occurrence shape {occurrence.shape} != ({len(frames)}, {len(aus)})")
    folder = os.path.dirname(bp4d_frame_path(root, subject, task, first_frame))
    os.makedirs(folder, exist_ok=True)
    for i, frame in enumerate(frames):
        write_jpeg(bp4d_frame_path(root, subject, task, first_frame + i), frame)
    label = bp4d_label_path(root, subject, task)
    os.makedirs(os.path.dirname(label), exist_ok=True)
    with open(label, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["0"] + [str(int(a)) for a in aus])
        for i, row in enumerate(occurrence):
            w.writerow([first_frame + i] + [int(v) for v in row])
    return folder, label


class DisfaVideoWriter:
    """Streams the frames of one DISFA subject into its left-camera video (Motion-JPEG AVI)."""

    def __init__(self, root: str, subject: str, size: int):
        import cv2

        self.path = disfa_video_path(root, subject)
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self._writer = cv2.VideoWriter(self.path, cv2.VideoWriter_fourcc(*"MJPG"), DISFA_FPS, (size, size))
        if not self._writer.isOpened():
            raise OSError(f"OpenCV cannot write Motion-JPEG AVI to {self.path}")
        self.frames = 0

    def write(self, rgb: np.ndarray) -> None:
        self._writer.write(np.ascontiguousarray(rgb[:, :, ::-1]))
        self.frames += 1

    def close(self) -> None:
        self._writer.release()


def write_disfa_labels(root: str, subject: str, aus: Sequence[int], levels: np.ndarray) -> list[str]:
    """One ``<SN>_au<k>.txt`` per AU with ``frame,intensity`` lines, frames numbered from 1."""
    levels = np.asarray(levels, dtype=np.int64)
    paths = []
    for j, au in enumerate(aus):
        path = disfa_label_path(root, subject, au)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.writelines(f"{i + 1},{int(v)}\n" for i, v in enumerate(levels[:, j]))
        paths.append(path)
    return paths


def copy_unlabeled(
    root: str, images: Iterable[tuple[str, str]], videos: Iterable[tuple[str, str]]
) -> tuple[list[str], list[str]]:
    """Copies (name, source path) pairs into ``unlabeled/images`` and ``unlabeled/videos``."""
    out: tuple[list[str], list[str]] = ([], [])
    for kind, items, bucket in (("images", images, out[0]), ("videos", videos, out[1])):
        folder = os.path.join(root, UNLABELED_DIR, kind)
        os.makedirs(folder, exist_ok=True)
        for name, src in items:
            dst = os.path.join(folder, name)
            shutil.copyfile(src, dst)
            bucket.append(dst)
    return out
