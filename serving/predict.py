"""``keras-au predict``: AU predictions for images, folders and videos, one CSV row per face per frame.

Per frame: ``FaceDetector`` (videos: every ``detect_every`` frames, landmarks tracked in between,
see ``serving.tracking``) -> ``align_face`` (200x200) -> the model's ``predict_landmarks`` inputs,
batched across frames and files. Columns, in order:

``frame, timestamp, face_id, success, confidence, bbox_x0, bbox_y0, bbox_x1, bbox_y1,
AU01_p ... (probabilities), AU01_c ... (0/1 at 0.5), source, reason``

A frame without a face, an unreadable file or a face that cannot be aligned gives one row with
``success = 0``, the ``reason`` (``no_face``, ``undecodable``, ``video_read_error``, ``video_ended_early``, ...), and empty
box/AU cells; nothing is dropped and nothing crashes the run.
"""

from __future__ import annotations

import csv
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

from keras_au.geometry import FaceDetector, align_face
from serving.media import Frame, expand_inputs, frame_count, frames, is_video
from serving.signatures import THRESHOLD
from serving.tracking import FaceTracker, TrackedFace

BASE_COLUMNS = ("frame", "timestamp", "face_id", "success", "confidence", "bbox_x0", "bbox_y0", "bbox_x1", "bbox_y1")
EXTRA_COLUMNS = ("source", "reason")


def columns(au_names: Sequence[str]) -> list[str]:
    return [*BASE_COLUMNS, *(f"{a}_p" for a in au_names), *(f"{a}_c" for a in au_names), *EXTRA_COLUMNS]


@dataclass
class PredictSummary:
    rows: int = 0
    faces: int = 0
    frames: int = 0
    sources: int = 0
    failures: Counter = field(default_factory=Counter)  # reason -> rows
    skipped_files: list = field(default_factory=list)  # in folders, unknown extension
    detections: int = 0
    seconds: float = 0.0

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict:
        return {"rows": self.rows, "faces": self.faces, "frames": self.frames, "sources": self.sources,
                "failures": dict(self.failures), "skipped_files": self.skipped_files,
                "detector_runs": self.detections, "seconds": round(self.seconds, 3), "fps": round(self.fps, 2)}


class _Batcher:
    """Keeps rows in input order while faces wait for a full model batch."""

    def __init__(self, model, writer: csv.DictWriter, batch_size: int, summary: PredictSummary):
        self.model, self.writer, self.batch_size, self.summary = model, writer, batch_size, summary
        self.names = model.info.au_names
        self.rows: list[dict] = []
        self.images: list[np.ndarray] = []
        self.landmarks: list[np.ndarray] = []

    def add(self, row: dict, image: Optional[np.ndarray] = None, landmarks: Optional[np.ndarray] = None) -> None:
        if image is not None:
            row["_face"] = len(self.images)
            self.images.append(image)
            self.landmarks.append(landmarks)
        self.rows.append(row)
        if len(self.images) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        if self.images:
            probs = self.model(np.stack(self.images).astype(np.float32), np.stack(self.landmarks).astype(np.float32))
            for row in self.rows:
                if "_face" in row:
                    p = probs[row.pop("_face")]
                    row.update({f"{a}_p": f"{v:.4f}" for a, v in zip(self.names, p)})
                    row.update({f"{a}_c": int(v >= THRESHOLD) for a, v in zip(self.names, p)})
        for row in self.rows:
            self.writer.writerow(row)
            self.summary.rows += 1
        self.rows, self.images, self.landmarks = [], [], []


def _failure(frame: Frame, reason: str) -> dict:
    return {"frame": frame.index, "timestamp": f"{frame.timestamp:.3f}", "face_id": -1, "success": 0,
            "confidence": 0.0, "source": frame.source, "reason": reason}


class Predictor:
    """Runs detection/tracking, alignment and a model backend (``serving.backends.open_model``) over media."""

    def __init__(self, model, detector: Optional[FaceDetector] = None, batch_size: int = 32,
                 all_faces: bool = False, detect_every: int = 10):
        if batch_size < 1:
            raise ValueError("batch size must be >= 1")
        if detect_every < 1:
            raise ValueError("detect_every must be >= 1")
        self.model = model
        self.detector = detector or FaceDetector()
        # Load dlib's models now (~2 s) so they are not counted in the run's frames/s.
        self.detector.detect(np.zeros((8, 8, 3), np.uint8))
        self.batch_size = batch_size
        self.all_faces = all_faces
        self.detect_every = detect_every

    def _faces(self, frame: Frame, tracker: Optional[FaceTracker]) -> list[TrackedFace]:
        if tracker is not None:
            return tracker.update(frame.image)
        det = self.detector.detect(frame.image, all_faces=self.all_faces)
        return [TrackedFace(i, f.box, f.confidence, f.landmarks, True) for i, f in enumerate(det.faces)]

    def _frame(self, frame: Frame, tracker: Optional[FaceTracker], batcher: _Batcher, summary: PredictSummary):
        summary.frames += 1
        if frame.image is None:
            summary.failures[frame.error] += 1
            batcher.add(_failure(frame, frame.error or "unreadable"))
            return
        faces = self._faces(frame, tracker)
        if not faces:
            summary.failures["no_face"] += 1
            batcher.add(_failure(frame, "no_face"))
            return
        for face in faces:
            try:
                aligned = align_face(frame.image, face.landmarks)
            except ValueError:
                summary.failures["alignment_failed"] += 1
                batcher.add({**_failure(frame, "alignment_failed"), "face_id": face.face_id})
                continue
            summary.faces += 1
            x0, y0, x1, y1 = face.box
            row = {"frame": frame.index, "timestamp": f"{frame.timestamp:.3f}", "face_id": face.face_id,
                   "success": 1, "confidence": f"{face.confidence:.3f}", "bbox_x0": f"{x0:.1f}",
                   "bbox_y0": f"{y0:.1f}", "bbox_x1": f"{x1:.1f}", "bbox_y1": f"{y1:.1f}",
                   "source": frame.source, "reason": ""}
            batcher.add(row, aligned.image, aligned.landmarks)

    def run(self, inputs: Sequence[str], out_csv: str, progress: bool = True) -> PredictSummary:
        """Writes the CSV and returns counts; raises only for an empty input list or an unwritable output."""
        from tqdm import tqdm

        media, skipped = expand_inputs(inputs)
        if not media:
            raise FileNotFoundError(f"no images or videos in {', '.join(inputs)}")
        summary = PredictSummary(sources=len(media), skipped_files=skipped)
        total = sum(frame_count(p) for p in media)
        os.makedirs(os.path.dirname(os.path.abspath(out_csv)), exist_ok=True)
        t0 = time.perf_counter()
        with open(out_csv, "w", newline="") as f, tqdm(total=total, unit="frame", desc="predict",
                                                      disable=not progress) as bar:
            writer = csv.DictWriter(f, fieldnames=columns(self.model.info.au_names), restval="")
            writer.writeheader()
            batcher = _Batcher(self.model, writer, self.batch_size, summary)
            for path in media:
                tracker = FaceTracker(self.detector, self.detect_every, self.all_faces) if is_video(path) else None
                for frame in frames(path):
                    self._frame(frame, tracker, batcher, summary)
                    bar.update(1)
                summary.detections += tracker.detections if tracker else 1
            batcher.flush()
        summary.seconds = time.perf_counter() - t0
        return summary
