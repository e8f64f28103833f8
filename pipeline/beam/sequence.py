"""One work item -> serialized examples, skip records and accounting (plain Python, no Beam).

Per selected frame: decode -> detect (largest face kept) -> 68 landmarks -> similarity
alignment to 200x200 -> [TV-L1 flow to frame t+3, warped with frame t's matrix] -> Example.
Frames are scanned in order and decoded only when selected (``frame_step``,
``max_frames_per_sequence``) or needed as a flow partner; a frame waits (at most
``flow_offset`` frames) for its partner. Every failure becomes a counted skip with a reason.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Iterator, Optional

import numpy as np

from keras_au.data.schema import FaceRecord, to_example_bytes
from keras_au.datasets.records import WorkItem
from keras_au.flow import DEFAULT_PRESET, TVL1Flow, TVL1Params
from keras_au.geometry import FaceDetector, ImageError, align_face, load_image
from keras_au.geometry.alignment import warp_image
from keras_au.media import MediaError, VideoReader
from pipeline.beam.stats import bump, fold_entry, new_stats

FLOW_OFFSET = 3  # RTATL: flow between frame t and t+3


@dataclass(frozen=True)
class PreprocessOptions:
    """What to compute per frame (picklable: it travels to Beam workers)."""

    flow: bool = True
    tvl1: TVL1Params = field(default_factory=lambda: TVL1Params.preset(DEFAULT_PRESET))
    flow_offset: int = FLOW_OFFSET
    frame_step: int = 1
    max_frames_per_sequence: Optional[int] = None
    min_face_size: int = 40  # px (box side in the source frame): smaller faces are skipped as tiny_face
    detect_max_side: int = 1024  # detection runs on a copy at most this large; landmarks at full size
    dataset_name: str = ""  # overrides the records' dataset field (and the shard prefix)
    opencv_threads: int = 1  # per worker: parallelism comes from Beam workers

    def __post_init__(self):
        if self.frame_step < 1:
            raise ValueError(f"frame_step must be >= 1, got {self.frame_step}")
        if self.max_frames_per_sequence is not None and self.max_frames_per_sequence < 1:
            raise ValueError(f"max_frames_per_sequence must be >= 1, got {self.max_frames_per_sequence}")
        if self.flow_offset < 1:
            raise ValueError(f"flow_offset must be >= 1, got {self.flow_offset}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class _Aligned:
    index: int
    path: str
    image: np.ndarray
    landmarks: np.ndarray
    matrix: np.ndarray


class _Skip(Exception):
    """A frame that cannot become an example; ``reason`` is the report's key."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


class SequenceProcessor:
    """Processes work items; build one per worker (the detector and TV-L1 load lazily)."""

    def __init__(self, options: PreprocessOptions):
        self.options = options
        self.detector = FaceDetector(max_detect_side=options.detect_max_side, min_face_size=1, upsample_on_miss=True)
        self.flow = TVL1Flow(options.tvl1)

    def warm_up(self) -> None:
        """Loads dlib's models and TensorFlow's Example protos now, so per-frame timings exclude them."""
        from tensorflow.core.example import example_pb2  # noqa: F401  (imports TensorFlow once)

        self.detector.detect(np.full((64, 64, 3), 128, np.uint8))

    def process(self, item: WorkItem) -> Iterator[tuple]:
        """Yields ``("example", fold, bytes, key)``, ``("skip", dict)``, ``("issue", dict)``, then ``("stats", dict)``.

        ``key`` (``subject/sequence/frame``) names the example: sharding hashes it, tests compare by it.
        """
        run = _ItemRun(self, item)
        yield from run.run()
        if run.issue:
            yield "issue", run.issue
        yield "stats", run.stats


class _ItemRun:
    """State of one item: pending frames waiting for their flow partner, counters, timings."""

    def __init__(self, proc: SequenceProcessor, item: WorkItem):
        self.proc, self.item, self.opt = proc, item, proc.options
        self.name = self.opt.dataset_name or item.dataset
        self.stats = new_stats()
        self.stats["items"] = 1
        self.pending: dict[int, _Aligned] = {}  # partner frame index -> frame waiting for it
        self.reader: Optional[VideoReader] = None
        self.issue: dict = {}
        self.label_missing: list[int] = []

    # --- scanning -----------------------------------------------------------------------------
    def run(self) -> Iterator[tuple]:
        try:
            yield from self._scan()
        except (MediaError, ImageError) as e:
            yield self._skip(self.item.source, -1, e.reason, str(e), read=True)
        except Exception as e:  # a broken file must never take the pipeline down
            reason = "video_read_error" if self.item.video else "error"
            yield self._skip(self.item.source, -1, reason, repr(e), read=True)
        for frame in sorted(self.pending.values(), key=lambda f: f.index):
            bump(self.stats["notes"], "no_flow_partner")
            yield self._example(frame, None)
        self.pending.clear()
        self._label_issues()

    def _selected(self, position: int) -> bool:
        cap = self.opt.max_frames_per_sequence
        return position % self.opt.frame_step == 0 and (cap is None or position // self.opt.frame_step < cap)

    def _done(self, position: int) -> bool:
        cap = self.opt.max_frames_per_sequence
        return cap is not None and position // self.opt.frame_step >= cap and not self.pending

    def _scan(self) -> Iterator[tuple]:
        frames = self._video() if self.item.kind == "video" else self._files()
        try:
            for position, (index, path, image) in enumerate(frames):
                if self._done(position):
                    break
                yield from self._expire(index)
                if index in self.pending:
                    yield from self._partner(self.pending.pop(index), path, image)
                if self._selected(position):
                    yield from self._frame(index, path, image)
        finally:
            frames.close()  # releases the video capture when stopping early

    def _video(self) -> Iterator[tuple]:
        """Video frames in order (index = position); only needed frames are converted to RGB."""
        self.reader = VideoReader(self.item.video)
        frames = self.reader.frames(lambda i: self._selected(i) or i in self.pending)
        try:
            while True:
                t0 = time.perf_counter()
                try:
                    index, image = next(frames)
                except StopIteration:
                    return
                finally:
                    bump(self.stats["seconds"], "decode", time.perf_counter() - t0)
                yield index, self.item.video, image
        finally:
            frames.close()

    def _files(self) -> Iterator[tuple]:
        """Frame files in order; decoded once, only when selected or needed as a flow partner."""
        for position, ref in enumerate(self.item.frames):
            needed = self._selected(position) or ref.index in self.pending
            yield ref.index, ref.path, self._load(ref.path) if needed else None

    def _load(self, path: str):
        t0 = time.perf_counter()
        try:
            return load_image(path)
        except ImageError as e:
            return e
        finally:
            bump(self.stats["seconds"], "decode", time.perf_counter() - t0)

    def _expire(self, index: int) -> Iterator[tuple]:
        """Frames whose partner index was skipped over (a gap in the numbering) get no flow."""
        for key in [k for k in self.pending if k < index]:
            bump(self.stats["notes"], "no_flow_partner")
            yield self._example(self.pending.pop(key), None)

    # --- one frame ----------------------------------------------------------------------------
    def _frame(self, index: int, path: str, image) -> Iterator[tuple]:
        self.stats["frames_read"] += 1
        if isinstance(image, ImageError):
            yield self._skip(path, index, image.reason, str(image))
            return
        try:
            aligned = self._align(index, path, image)
        except (ImageError, _Skip) as e:
            yield self._skip(path, index, e.reason, str(e))
            return
        except Exception as e:  # counted, never fatal
            yield self._skip(path, index, "error", repr(e))
            return
        if self.opt.flow and self.item.kind != "image":
            self.pending[index + self.opt.flow_offset] = aligned
        else:
            yield self._example(aligned, None)

    def _align(self, index: int, path: str, image: np.ndarray) -> _Aligned:
        t0 = time.perf_counter()
        det = self.proc.detector.detect(image, all_faces=True)
        t1 = time.perf_counter()
        bump(self.stats["seconds"], "detect_landmarks", t1 - t0)
        if not det.found:
            raise _Skip("no_face", "no face found")
        if len(det.faces) > 1:
            bump(self.stats["notes"], "several_faces")
        face = det.largest
        side = min(face.box[2] - face.box[0], face.box[3] - face.box[1])
        if side < self.opt.min_face_size:
            raise _Skip("tiny_face", f"largest face is {side:.0f} px < {self.opt.min_face_size}")
        try:
            aligned = align_face(image, face.landmarks)
        except ValueError as e:
            raise _Skip("align_failed", str(e)) from e
        bump(self.stats["seconds"], "align", time.perf_counter() - t1)
        return _Aligned(index, path, aligned.image, aligned.landmarks, aligned.matrix)

    def _partner(self, frame: _Aligned, path: str, image) -> Iterator[tuple]:
        if isinstance(image, ImageError) or image is None:
            bump(self.stats["notes"], "flow_partner_unreadable")
            yield self._example(frame, None)
            return
        t0 = time.perf_counter()
        try:
            warped = warp_image(image, frame.matrix, frame.image.shape[0])
            flow = self.proc.flow.target(frame.image, warped)
        except Exception:  # e.g. a partner frame of another size is still usable without flow
            bump(self.stats["notes"], "flow_failed")
            flow = None
        bump(self.stats["seconds"], "flow", time.perf_counter() - t0)
        self.stats["flow_pairs"] += flow is not None
        yield self._example(frame, flow)

    # --- outputs ------------------------------------------------------------------------------
    def _example(self, frame: _Aligned, flow: Optional[np.ndarray]) -> tuple:
        item = self.item
        labels = item.labels_for(frame.index)
        if labels is None:
            labels = item.unknown_labels()
            if item.labeled:
                bump(self.stats["notes"], "label_missing")
                self.label_missing.append(frame.index)
        t0 = time.perf_counter()
        rec = FaceRecord(
            image=frame.image,
            au_ids=item.au_ids,
            au_labels=labels,
            subject=item.subject,
            sequence=item.sequence,
            frame=frame.index,
            dataset=self.name,
            landmarks=frame.landmarks,
            flow=flow,
            fold=item.fold,
            flow_preset=self.opt.tvl1.label,
            flow_resolution=self.opt.tvl1.resolution(frame.image.shape[0]),
        )
        try:
            data = to_example_bytes(rec)
        except Exception as e:  # the frame was counted as read: it must end up written or skipped
            return self._skip(frame.path, frame.index, "encode_failed", repr(e))
        bump(self.stats["seconds"], "encode", time.perf_counter() - t0)
        self.stats["examples_written"] += 1
        entry = fold_entry(self.stats, item.fold)
        entry["examples"] += 1
        entry["labeled"] += int(any(v >= 0 for v in labels))
        entry["with_flow"] += int(flow is not None)
        if item.subject not in entry["subjects"]:
            entry["subjects"].append(item.subject)
        return "example", item.fold, data, f"{item.subject}|{item.sequence}|{frame.index}"

    def _skip(self, path: str, index: int, reason: str, message: str, read: bool = False) -> tuple:
        if read:  # the file itself failed before any frame: it counts as one frame read and skipped
            self.stats["frames_read"] += 1
        bump(self.stats["skipped"], reason)
        return "skip", {
            "path": path,
            "frame": index,
            "reason": reason,
            "message": message,
            "dataset": self.name,
            "subject": self.item.subject,
            "sequence": self.item.sequence,
        }

    def _label_issues(self) -> None:
        item = self.item
        reader = self.reader
        if reader is not None and reader.ended_early:
            bump(self.stats["notes"], "video_ended_early")
        if not item.labels:
            without = []
        elif item.kind == "video":
            # Only a video read to its end tells which label rows have no frame.
            end = reader.frames_seen if reader is not None and reader.reached_end else None
            without = [k for k in item.labels if k < 0 or (end is not None and k >= end)]
        else:
            existing = {f.index for f in item.frames}
            without = [k for k in item.labels if k not in existing]
        if without:
            bump(self.stats["notes"], "label_without_frame", len(without))
        if without or self.label_missing:
            self.issue = {
                "dataset": self.name,
                "subject": item.subject,
                "sequence": item.sequence,
                "label_file": item.label_file,
                "label_missing": _ranges(self.label_missing),
                "label_without_frame": _ranges(without),
            }


def _ranges(values: list[int]) -> list:
    """Compact frame lists for reports: [1, 2, 3, 7] -> [[1, 3], 7]."""
    out: list = []
    for v in sorted(values):
        if out and isinstance(out[-1], list) and out[-1][1] == v - 1:
            out[-1][1] = v
        elif out and not isinstance(out[-1], list) and out[-1] == v - 1:
            out[-1] = [out[-1], v]
        else:
            out.append(v)
    return out

