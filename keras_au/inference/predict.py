"""``keras-au predict``: AU predictions for images, folders and videos, one CSV row per face per frame.

Per frame: ``FaceDetector`` (videos: every ``detect_every`` frames, landmarks tracked in between,
see ``keras_au.inference.tracking``) -> ``align_face`` (200x200) -> the model's ``predict_landmarks`` inputs,
batched across frames and files. Columns, in order:

``frame, timestamp, face_id, success, confidence, bbox_x0, bbox_y0, bbox_x1, bbox_y1,
AU01_p ... (probabilities), AU01_c ... (0/1 at 0.5), source, reason``

A frame without a face, an unreadable file or a face that cannot be aligned gives one row with
``success = 0``, the ``reason`` (``no_face``, ``undecodable``, ``video_read_error``, ``video_ended_early``, ...), and empty
box/AU cells; nothing is dropped and nothing crashes the run.
"""

from __future__ import annotations

import csv
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterator, Optional, Sequence

import numpy as np

from keras_au.geometry import FaceDetector, align_face
from keras_au.inference.atomic import atomic_path
from keras_au.inference.columns import BASE_COLUMNS, EXTRA_COLUMNS, columns  # noqa: F401  (re-exported)
from keras_au.inference.media import Frame, expand_inputs, frame_count, frames, is_video
from keras_au.inference.signatures import THRESHOLD
from keras_au.inference.tracking import FaceTracker, TrackedFace


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


@dataclass
class Source:
    """One input: a file, or in-memory frames (``keras_au.Detector``); ``video`` sources are tracked."""

    name: str
    video: bool
    count: int  # frames to expect (progress bar)
    open: Callable[[], Iterator[Frame]]


def path_sources(inputs: Sequence[str]) -> tuple[list[Source], list[str]]:
    """Sources for image/video files and folders, plus the folder files skipped for their extension."""
    media, skipped = expand_inputs(inputs)
    return [Source(p, is_video(p), frame_count(p), lambda p=p: frames(p)) for p in media], skipped


class _Batcher:
    """Keeps rows in input order while faces wait for a full model batch."""

    def __init__(self, model, batch_size: int):
        self.model, self.batch_size = model, batch_size
        self.names = model.info.au_names
        self.rows: list[dict] = []
        self.ready: list[dict] = []
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
                    row.update(au_cells(self.names, probs[row.pop("_face")]))
        self.ready += self.rows
        self.rows, self.images, self.landmarks = [], [], []

    def drain(self) -> list[dict]:
        out, self.ready = self.ready, []
        return out


def au_cells(names: Sequence[str], probs: np.ndarray) -> dict:
    """``AUxx_p`` (probability) and ``AUxx_c`` (0/1 at the threshold) cells of one face."""
    return {**{f"{a}_p": float(v) for a, v in zip(names, probs)},
            **{f"{a}_c": int(v >= THRESHOLD) for a, v in zip(names, probs)}}


# How the CSV writes each typed value (the DataFrame keeps the numbers).
_CSV_FORMAT = {"timestamp": "{:.3f}", "confidence": "{:.3f}",
               **{f"bbox_{c}": "{:.1f}" for c in ("x0", "y0", "x1", "y1")}}


def csv_row(row: dict) -> dict:
    out = {}
    for key, value in row.items():
        if key.startswith("_"):  # in-memory extras (``_landmarks``), not CSV columns
            continue
        fmt = _CSV_FORMAT.get(key) or ("{:.4f}" if key.endswith("_p") else None)
        out[key] = fmt.format(value) if fmt and value is not None else value
    return out


def _failure(frame: Frame, reason: str) -> dict:
    return {"frame": frame.index, "timestamp": frame.timestamp, "face_id": -1, "success": 0,
            "confidence": 0.0, "source": frame.source, "reason": reason}


class Predictor:
    """Runs detection/tracking, alignment and a model backend (``backends.open_model``) over media."""

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

    def _frame(self, frame: Frame, tracker: Optional[FaceTracker], batcher: _Batcher, summary: PredictSummary) -> None:
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
            x0, y0, x1, y1 = (float(v) for v in face.box)
            row = {"frame": frame.index, "timestamp": frame.timestamp, "face_id": face.face_id, "success": 1,
                   "confidence": float(face.confidence), "bbox_x0": x0, "bbox_y0": y0, "bbox_x1": x1, "bbox_y1": y1,
                   "source": frame.source, "reason": "", "_landmarks": face.landmarks}  # for --overlay
            batcher.add(row, aligned.image, aligned.landmarks)

    def rows(self, sources: Sequence[Source], summary: PredictSummary, progress: bool = False) -> Iterator[dict]:
        """Typed rows (numbers; AU cells absent where ``success = 0``) in input order, one per face per frame."""
        from tqdm import tqdm

        batcher = _Batcher(self.model, self.batch_size)
        t0 = time.perf_counter()
        with tqdm(total=sum(s.count for s in sources), unit="frame", desc="predict", disable=not progress) as bar:
            for source in sources:
                tracker = FaceTracker(self.detector, self.detect_every, self.all_faces) if source.video else None
                for frame in source.open():
                    self._frame(frame, tracker, batcher, summary)
                    bar.update(1)
                    yield from self._count(batcher.drain(), summary)
                summary.detections += tracker.detections if tracker else 1
            batcher.flush()
            yield from self._count(batcher.drain(), summary)
        summary.seconds = time.perf_counter() - t0

    @staticmethod
    def _count(rows: list[dict], summary: PredictSummary) -> list[dict]:
        summary.rows += len(rows)
        return rows

    def run(self, inputs: Sequence[str], out_csv: str, progress: bool = True) -> PredictSummary:
        """Writes the CSV and returns counts; raises only for an empty input list or an unwritable output."""
        sources, skipped = path_sources(inputs)
        if not sources:
            raise FileNotFoundError(f"no images or videos in {', '.join(inputs)}")
        return self.write_csv(sources, out_csv, PredictSummary(sources=len(sources), skipped_files=skipped), progress)

    def write_csv(self, sources: Sequence[Source], out_csv: str, summary: PredictSummary,
                  progress: bool = True, on_row: Optional[Callable[[dict], None]] = None) -> PredictSummary:
        """Streams the rows to ``out_csv`` (a temporary name until complete: never a half-written CSV);
        ``on_row`` sees each typed row first (``--overlay`` keeps the landmarks)."""
        with atomic_path(out_csv) as tmp, open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns(self.model.info.au_names), restval="")
            writer.writeheader()
            for row in self.rows(sources, summary, progress):
                if on_row is not None:
                    on_row(row)
                writer.writerow(csv_row(row))
        return summary
