"""The TFRecord contract between preprocessing and training (one ``tf.train.Example`` per face).

| key           | type           | meaning |
|---------------|----------------|---------|
| image         | bytes          | JPEG (quality 95) of the aligned 200x200 RGB face |
| landmarks     | float x 136    | 68 (x, y) pairs in aligned-image pixels, x0 y0 x1 y1 ... |
| has_landmarks | int64          | 1 when ``landmarks`` is valid |
| au_ids        | int64 x A      | AU numbers of ``au_labels`` (e.g. 1 2 4 ... for BP4D) |
| au_labels     | int64 x A      | 1 present, 0 absent, -1 unknown |
| has_flow      | int64          | 1 when ``flow`` holds a TV-L1 target |
| flow          | bytes          | float16 little-endian (flow_size, flow_size, 2): (dx, dy) from frame t to t+3, in pixels of the 200x200 aligned frame, sampled on a flow_size grid; empty when has_flow = 0 |
| flow_size     | int64          | side of the flow grid (default 100) |
| flow_preset   | bytes          | TV-L1 settings the target came from (e.g. ``fast``, ``opencv,size=100``); empty without flow |
| flow_resolution | int64        | side (px) of the frames TV-L1 ran on (200 = full size); 0 without flow |
| subject, sequence, dataset | bytes | identity, video/sequence id, dataset name |
| frame         | int64          | frame index within the sequence (0 for stills) |
| labeled       | int64          | 1 when at least one AU label is known |
| fold          | int64          | 0-based fold of the subject (-1 if none) |
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Optional, Sequence, Union

import numpy as np

if TYPE_CHECKING:  # annotations only: importing this module must not load TensorFlow
    import tensorflow as tf

RecordPath = Union[str, os.PathLike, "tf.Tensor"]

IMAGE_SIZE = 200
NUM_LANDMARKS = 68
FLOW_SIZE = 100
UNKNOWN = -1
JPEG_QUALITY = 95

SCALAR_INT_KEYS = ("has_landmarks", "has_flow", "flow_size", "frame", "labeled", "fold", "flow_resolution")
SCALAR_BYTES_KEYS = ("subject", "sequence", "dataset", "flow_preset")


@dataclass
class FaceRecord:
    """One aligned face ready to serialise (NumPy side, no TensorFlow needed)."""

    image: np.ndarray  # (200, 200, 3) uint8 RGB
    au_ids: Sequence[int]
    au_labels: Sequence[int]
    subject: str
    sequence: str = ""
    frame: int = 0
    dataset: str = ""
    landmarks: Optional[np.ndarray] = None  # (68, 2) aligned
    flow: Optional[np.ndarray] = None  # (S, S, 2) float
    fold: int = -1
    flow_preset: str = ""  # TV-L1 settings of ``flow`` (records carry them so flow kinds are never mixed unknowingly)
    flow_resolution: int = 0  # side of the frames TV-L1 ran on
    extra: dict = field(default_factory=dict)


def encode_jpeg(image: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(image[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()


def to_example_bytes(rec: FaceRecord) -> bytes:
    """Serialises a ``FaceRecord`` to ``tf.train.Example`` bytes."""
    from tensorflow.core.example import example_pb2, feature_pb2

    labels = [int(v) if int(v) in (0, 1) else UNKNOWN for v in rec.au_labels]
    if len(labels) != len(rec.au_ids):
        raise ValueError(f"{len(rec.au_ids)} AU ids but {len(labels)} labels")
    lm = rec.landmarks
    has_lm = lm is not None and np.asarray(lm).shape == (NUM_LANDMARKS, 2) and bool(np.all(np.isfinite(lm)))
    flow = rec.flow
    has_flow = flow is not None
    if has_flow:
        flow = np.asarray(flow, dtype="<f2")
        if flow.ndim != 3 or flow.shape[0] != flow.shape[1] or flow.shape[2] != 2:
            raise ValueError(f"flow must be (S, S, 2), got {flow.shape}")

    def ints(v):
        return feature_pb2.Feature(int64_list=feature_pb2.Int64List(value=list(v)))

    def floats(v):
        return feature_pb2.Feature(float_list=feature_pb2.FloatList(value=list(v)))

    def bytes_(v):
        return feature_pb2.Feature(bytes_list=feature_pb2.BytesList(value=[v]))

    feats = {
        "image": bytes_(encode_jpeg(rec.image)),
        "landmarks": floats(np.asarray(lm, np.float32).reshape(-1) if has_lm else np.zeros(2 * NUM_LANDMARKS)),
        "has_landmarks": ints([int(has_lm)]),
        "au_ids": ints(int(a) for a in rec.au_ids),
        "au_labels": ints(labels),
        "has_flow": ints([int(has_flow)]),
        "flow": bytes_(flow.tobytes() if has_flow else b""),
        "flow_size": ints([flow.shape[0] if has_flow else FLOW_SIZE]),
        "subject": bytes_(rec.subject.encode()),
        "sequence": bytes_(rec.sequence.encode()),
        "dataset": bytes_(rec.dataset.encode()),
        "frame": ints([int(rec.frame)]),
        "labeled": ints([int(any(v != UNKNOWN for v in labels))]),
        "fold": ints([int(rec.fold)]),
        "flow_preset": bytes_(rec.flow_preset.encode() if has_flow else b""),
        "flow_resolution": ints([int(rec.flow_resolution) if has_flow else 0]),
    }
    # deterministic: map entries in key order, so the same example is the same bytes in every worker process
    return example_pb2.Example(features=feature_pb2.Features(feature=feats)).SerializeToString(deterministic=True)


def feature_spec(num_aus: int) -> dict:
    """``tf.io.parse_example`` spec for records with ``num_aus`` AU labels."""
    import tensorflow as tf

    spec = {
        "image": tf.io.FixedLenFeature([], tf.string),
        "landmarks": tf.io.FixedLenFeature([2 * NUM_LANDMARKS], tf.float32),
        "au_ids": tf.io.FixedLenFeature([num_aus], tf.int64),
        "au_labels": tf.io.FixedLenFeature([num_aus], tf.int64),
        "flow": tf.io.FixedLenFeature([], tf.string, default_value=""),
    }
    spec.update({k: tf.io.FixedLenFeature([], tf.int64, default_value=0) for k in SCALAR_INT_KEYS})
    spec.update({k: tf.io.FixedLenFeature([], tf.string, default_value="") for k in SCALAR_BYTES_KEYS})
    return spec


def write_tfrecord(path: str, records: Iterable[FaceRecord | bytes], gzip: bool = True) -> int:
    """Writes records to one TFRecord file (GZIP by default); returns the count."""
    import tensorflow as tf

    n = 0
    with tf.io.TFRecordWriter(path, options="GZIP" if gzip else None) as w:
        for r in records:
            w.write(r if isinstance(r, bytes) else to_example_bytes(r))
            n += 1
    return n


def compression_type(path: RecordPath) -> Union[str, "tf.Tensor"]:
    """``"GZIP"`` for a ``.gz`` file, else ``""``; a path tensor (inside ``tf.data`` maps) gives a tensor."""
    if isinstance(path, (str, os.PathLike)):
        return "GZIP" if os.fspath(path).endswith(".gz") else ""
    import tensorflow as tf

    return tf.where(tf.strings.regex_full_match(path, ".*\\.gz"), "GZIP", "")


def read_records(path: RecordPath) -> "tf.data.TFRecordDataset":
    """A ``TFRecordDataset`` of one file, GZIP or plain by its name (a str or a path tensor)."""
    import tensorflow as tf

    return tf.data.TFRecordDataset(path, compression_type=compression_type(path))


def first_example(files: Sequence[str]) -> "tf.train.Example":
    """The first record of ``files[0]`` as a ``tf.train.Example``."""
    import tensorflow as tf

    if not files:
        raise ValueError("no record files given")
    for raw in read_records(files[0]).take(1):
        return tf.train.Example.FromString(raw.numpy())
    raise ValueError(f"{files[0]} holds no records")


def peek_num_aus(files: Sequence[str]) -> int:
    """Number of AU labels per record, from the first record."""
    return len(first_example(files).features.feature["au_labels"].int64_list.value)


def read_examples(pattern: str) -> list[dict]:
    """Parses every record matching ``pattern`` into plain Python/NumPy values (tests, tools)."""
    import glob

    from tensorflow.core.example import example_pb2

    out = []
    for path in sorted(glob.glob(pattern)):
        for raw in read_records(path).as_numpy_iterator():
            ex = example_pb2.Example.FromString(raw)
            out.append({k: _value(f) for k, f in ex.features.feature.items()})
    return out


def _value(f):
    kind = f.WhichOneof("kind")
    vals = list(getattr(f, kind).value)
    if kind == "bytes_list":
        return vals[0] if len(vals) == 1 else vals
    return vals


def decode_flow(raw: bytes, size: int) -> np.ndarray:
    return np.frombuffer(raw, dtype="<f2").reshape(size, size, 2).astype(np.float32)
