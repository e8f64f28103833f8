"""One pass over a record set's small keys (no image or flow decoding): what training needs before it starts.

Both models read the same facts from their training records: the AU labels (class balance, GCN prior,
pseudo-label thresholds), the subjects (label-scarce splits), the mean landmark shape (RoI centres) and,
for models with a flow head, which TV-L1 settings the flow targets came from. A BP4D-size set scans in
seconds because only these keys are parsed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Optional, Sequence

import numpy as np

from keras_au.data import schema

SCAN_KEYS = ("au_labels", "landmarks", "has_landmarks", "subject", "has_flow", "flow_preset", "flow_resolution")


@dataclass
class RecordScan:
    labels: np.ndarray  # (N, A) as stored: 1, 0, -1 unknown
    subjects: list = field(default_factory=list)  # N subject ids
    landmark_sum: np.ndarray = field(default_factory=lambda: np.zeros((schema.NUM_LANDMARKS, 2)))
    landmark_count: int = 0  # records with finite landmarks
    flow_sources: dict = field(default_factory=dict)  # "<preset>@<side>px" (or "unrecorded") -> records

    @property
    def count(self) -> int:
        return len(self.labels)

    def mean_landmarks(self, crop_size: int) -> Optional[np.ndarray]:
        """Mean (68, 2) shape in the centre-``crop_size`` frame, or None when no record has landmarks."""
        if not self.landmark_count:
            return None
        offset = (schema.IMAGE_SIZE - crop_size) / 2.0
        return self.landmark_sum / self.landmark_count - offset


def parse_keys(files: Sequence[str], keys: Sequence[str], num_aus: Optional[int] = None,
               batch_size: int = 1024) -> Iterator[dict]:
    """Batches of the named small keys of every record in ``files`` (GZIP or plain) as NumPy arrays, without
    decoding images or flow: the one record scanner that every "before training" check uses."""
    import tensorflow as tf

    files = list(files)
    if not files:
        return
    if num_aus is None:
        num_aus = schema.peek_num_aus(files) if "au_labels" in keys else 0
    spec = {k: v for k, v in schema.feature_spec(int(num_aus)).items() if k in keys}
    ds = tf.data.Dataset.from_tensor_slices(files).flat_map(schema.read_records).batch(batch_size)
    ds = ds.map(lambda s: tf.io.parse_example(s, spec), num_parallel_calls=tf.data.AUTOTUNE)
    yield from ds.as_numpy_iterator()


def scan_records(files: Sequence[str], num_aus: Optional[int] = None, progress: bool = True) -> RecordScan:
    """Scans ``files`` (GZIP or plain TFRecords); ``num_aus`` defaults to the first record's label count."""
    from tqdm import tqdm

    files = list(files)
    if not files:
        return RecordScan(np.zeros((0, num_aus or 0), np.int64))
    num_aus = schema.peek_num_aus(files) if num_aus is None else int(num_aus)
    out = RecordScan(np.zeros((0, num_aus), np.int64))
    labels = []
    batches = parse_keys(files, SCAN_KEYS, num_aus)
    for b in tqdm(batches, desc="scanning records", unit="k records", disable=None if progress else True):
        labels.append(b["au_labels"])
        out.subjects.extend(s.decode() for s in b["subject"])
        lm = b["landmarks"].reshape(-1, schema.NUM_LANDMARKS, 2)
        ok = (b["has_landmarks"] > 0) & np.all(np.isfinite(lm), axis=(1, 2))
        out.landmark_sum += lm[ok].sum(axis=0)
        out.landmark_count += int(ok.sum())
        for has, preset, side in zip(b["has_flow"], b["flow_preset"], b["flow_resolution"]):
            if has:
                key = f"{preset.decode()}@{int(side)}px" if preset else "unrecorded"
                out.flow_sources[key] = out.flow_sources.get(key, 0) + 1
    if labels:
        out.labels = np.concatenate(labels)
    return out


def flow_sources(files: Sequence[str]) -> dict[str, int]:
    """Records with a flow target per TV-L1 source, ``"<preset>@<side>px"`` -> count (no image decoding).
    Records written before provenance was recorded count as ``"unrecorded"``."""
    return scan_records(files, progress=False).flow_sources
