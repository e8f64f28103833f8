"""Source/target streams for the in-the-wild model on top of ``keras_au.data.input_pipeline``.

* AU selection (``keras_au.data.au_selection``): records carry ``au_ids``; labels are re-ordered to the model's
  AUs by index (BP4D's 12 -> the 6 shared with EmotioNet). An AU a record set lacks becomes unknown (-1).
* Splits: a directory with ``fold-<k>/`` (or TFX ``Split-fold-<k>/``) shards holds fold k out for
  evaluation and trains on the rest;
  anything else is used whole for both (flagged as ``eval_on_train``).
* ``scan_records``: one pass over the labels/landmarks (no JPEG decoding) for the AU weights, the counts
  and the mean aligned landmark shape stored in export.json.
"""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import tensorflow as tf

from keras_au.data.au_selection import au_positions, record_au_ids, select_aus  # noqa: F401 (re-exported)
from keras_au.data.input_pipeline import InputConfig, build_dataset, list_files

KEYS = ("image", "landmarks", "has_landmarks", "au_labels")


def fold_dirs(data_dir: str) -> dict[int, str]:
    """fold number -> directory, for ``fold-<k>/`` (preprocess) or ``Split-fold-<k>/`` (TFX) layouts."""
    out = {}
    for d in glob.glob(os.path.join(data_dir, "*fold-*")):
        m = re.fullmatch(r"(?:Split-)?fold-(\d+)", os.path.basename(d))
        if m and glob.glob(os.path.join(d, "*.tfrecord*")):
            out[int(m.group(1))] = d
    return out


def split_files(data_dir: str, eval_fold: Optional[int]) -> tuple[list[str], list[str], bool]:
    """(train files, eval files, eval_on_train)."""
    folds = fold_dirs(data_dir)
    if len(folds) >= 2:
        k = min(folds) if eval_fold is None else int(eval_fold)
        if k not in folds:
            raise ValueError(f"fold {k} not found under {data_dir} (folds: {sorted(folds)})")

        def pick(ks):
            return sorted(f for j in ks for f in glob.glob(os.path.join(folds[j], "*.tfrecord*")))

        return pick([j for j in folds if j != k]), pick([k]), False
    files = list_files(data_dir)
    return files, files, True


@dataclass
class RecordStats:
    count: int
    labels: np.ndarray  # (N, A) in model AU order, -1 unknown
    with_landmarks: int
    mean_landmarks: Optional[np.ndarray]  # (68, 2) in the centre-crop frame


def scan_records(files: Sequence[str], positions: Sequence[int], crop_size: int, progress: bool = True) -> RecordStats:
    """Labels in model AU order, landmark counts and the mean landmark shape of a record set (no image decoding)."""
    from keras_au.data.record_scan import scan_records as scan

    s = scan(files, len(record_au_ids(files)), progress=progress)
    y = select_aus(s.labels, positions).numpy() if s.count else np.zeros((0, len(positions)), np.int64)
    mean = s.mean_landmarks(crop_size)
    return RecordStats(s.count, y, s.landmark_count, None if mean is None else mean.astype(np.float32))


def domain_stream(
    files: Sequence[str], positions: Sequence[int], batch_size: int, crop_size: int, training: bool,
    seed: Optional[int] = None, subjects: Optional[Sequence[str]] = None, select: str = "all",
) -> tf.data.Dataset:
    """Batches of {image, landmarks (68, crop px), has_landmarks, au_labels (model AU order)}; only records of
    ``subjects`` (None: all) and of ``select`` ("all", "labeled", "unlabeled") when given (split protocols)."""
    cfg = InputConfig(list(files), batch_size=batch_size, crop_size=crop_size, training=training, seed=seed,
                      shuffle_buffer=1024, select=select)

    def keep(e):
        out = {k: e[k] for k in KEYS}
        out["au_labels"] = select_aus(e["au_labels"], positions)
        return out

    if subjects is None:
        return build_dataset(cfg).map(keep, num_parallel_calls=tf.data.AUTOTUNE)
    # Filter before batching; a hash table keeps the look-up O(1) for EmotioNet's ~10k one-image subjects.
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(tf.constant(list(subjects) or [""], tf.string),
                                            tf.ones([max(len(subjects), 1)], tf.int32) * (1 if subjects else 0)), 0)
    ds = build_dataset(cfg, batched=False).filter(lambda e: table.lookup(e["subject"]) > 0)
    ds = ds.batch(batch_size, drop_remainder=training).map(keep, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def paired_dataset(
    source_files: Sequence[str], target_files: Sequence[str], source_positions: Sequence[int],
    target_positions: Sequence[int], batch_size: int, crop_size: int, seed: Optional[int] = None,
    target_select: str = "all",
) -> tf.data.Dataset:
    """Endless training batches {"source": ..., "target": ...} (random crop + flip in both domains);
    ``target_select="unlabeled"`` keeps labeled target records (validation/test) out of training."""
    src = domain_stream(source_files, source_positions, batch_size, crop_size, True, seed)
    tgt = domain_stream(target_files, target_positions, batch_size, crop_size, True,
                        None if seed is None else seed + 1, select=target_select)
    return tf.data.Dataset.zip({"source": src, "target": tgt}).prefetch(tf.data.AUTOTUNE)
