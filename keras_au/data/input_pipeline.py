"""tf.data input: parse records, crop + flip consistently for image/landmarks/flow, mix domains.

Every batch is a dict (no (x, y) split: the models' ``train_step`` reads what it needs):

| key           | dtype/shape            | meaning |
|---------------|------------------------|---------|
| image         | float32 (B, C, C, 3)   | RGB in [0, 255]; models normalise internally |
| landmarks     | float32 (B, 68, 2)     | (x, y) in crop pixels; on flip the index order is mirrored too, so left/right RoIs swap |
| has_landmarks | float32 (B,)           | 0 where landmarks are missing or non-finite (then zeros) |
| au_labels     | int32 (B, A)           | 1/0, -1 unknown |
| labeled       | float32 (B,)           | 1 when any label is known |
| flow          | float32 (B, F, F, 2)   | only with ``flow_size``: TV-L1 (dx, dy) in crop pixels on an F x F grid; x negated on flip |
| has_flow      | float32 (B,)           | 0 where no flow target exists |
| subject       | string (B,)            | identity, for per-subject analysis |

Training crops a random ``crop_size`` square from the 200x200 aligned face and flips half the time;
evaluation takes the centre crop.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from typing import Optional, Sequence, Union

import tensorflow as tf

from keras_au.data import schema
from keras_au.data.flip import FLIP_PERMUTATION
from keras_au.data.schema import peek_num_aus  # noqa: F401  (callers import it from here too)

Pattern = Union[str, Sequence[str]]


@dataclass
class InputConfig:
    """How to read and augment one stream of records."""

    file_pattern: Pattern
    batch_size: int = 32
    crop_size: int = 192
    training: bool = True
    flow_size: Optional[int] = None
    num_aus: Optional[int] = None  # read from the first record when None
    shuffle_buffer: int = 2048
    seed: Optional[int] = None
    repeat: Optional[bool] = None  # default: repeat when training
    drop_remainder: Optional[bool] = None  # default: drop when training
    select: str = "all"  # "all", "labeled" or "unlabeled"


def list_files(pattern: Pattern) -> list[str]:
    """Files matching one pattern, a directory (all *.tfrecord* below it) or a list of those."""
    patterns = [pattern] if isinstance(pattern, str) else list(pattern)
    files: list[str] = []
    for p in patterns:
        if os.path.isdir(p):
            files += glob.glob(os.path.join(p, "**", "*.tfrecord*"), recursive=True)
        else:
            files += glob.glob(p)
    if not files:
        raise FileNotFoundError(f"no TFRecord files match {pattern!r}")
    return sorted(set(files))


def fold_files(data_dir: str, folds: Sequence[int]) -> list[str]:
    """Shards of the given folds under a preprocessing output (``<dir>/fold-<k>/``)."""
    return list_files([os.path.join(data_dir, f"fold-{k}", "*.tfrecord*") for k in folds])


def check_one_flow_source(counts: dict[str, int], allow_mixed: bool = False) -> None:
    """Refuses flow targets from more than one TV-L1 source: a model must never train on a mix unknowingly."""
    if len(counts) > 1 and not allow_mixed:
        mix = ", ".join(f"{k}: {v} records" for k, v in sorted(counts.items()))
        raise ValueError(f"the flow targets come from {len(counts)} TV-L1 settings ({mix}); re-run preprocessing "
                         "with one --flow-preset, or pass --set allow_mixed_flow=true to train on the mix")


def parse_and_augment(serialized: tf.Tensor, cfg: InputConfig, num_aus: int, seed=None) -> dict:
    """One serialized Example -> one augmented example dict (unbatched)."""
    f = tf.io.parse_single_example(serialized, schema.feature_spec(num_aus))
    image = tf.cast(tf.io.decode_jpeg(f["image"], channels=3), tf.float32)
    image = tf.image.resize(image, (schema.IMAGE_SIZE, schema.IMAGE_SIZE))  # no-op for 200x200 records
    size, crop = schema.IMAGE_SIZE, cfg.crop_size
    landmarks = tf.reshape(f["landmarks"], (schema.NUM_LANDMARKS, 2))
    finite = tf.reduce_all(tf.math.is_finite(landmarks))
    has_lm = tf.logical_and(tf.cast(f["has_landmarks"], tf.bool), finite)

    if cfg.training:
        s = tf.random.stateless_uniform((2,), seed, 0, size - crop + 1, dtype=tf.int32) if seed is not None else \
            tf.random.uniform((2,), 0, size - crop + 1, dtype=tf.int32)
        oy, ox = s[0], s[1]
        flip = (tf.random.stateless_uniform((), seed[::-1]) if seed is not None else tf.random.uniform(())) < 0.5
    else:
        oy = ox = tf.constant((size - crop) // 2, tf.int32)
        flip = tf.constant(False)
    image = image[oy : oy + crop, ox : ox + crop]
    landmarks = tf.where(has_lm, landmarks - tf.cast(tf.stack([ox, oy]), tf.float32), tf.zeros_like(landmarks))

    out = {"au_labels": tf.cast(f["au_labels"], tf.int32), "subject": f["subject"]}
    out["labeled"] = tf.cast(tf.reduce_any(out["au_labels"] >= 0), tf.float32)
    out["has_landmarks"] = tf.cast(has_lm, tf.float32)
    if cfg.flow_size:
        out["flow"], out["has_flow"] = _crop_flow(f, oy, ox, crop, cfg.flow_size)

    def flipped():
        lm = tf.gather(landmarks, FLIP_PERMUTATION)
        lm = tf.stack([float(crop - 1) - lm[:, 0], lm[:, 1]], axis=1)
        res = {"image": tf.reverse(image, axis=[1]), "landmarks": tf.where(has_lm, lm, tf.zeros_like(lm))}
        if cfg.flow_size:
            fl = tf.reverse(out["flow"], axis=[1])
            res["flow"] = tf.stack([-fl[..., 0], fl[..., 1]], axis=-1)
        return res

    def same():
        res = {"image": image, "landmarks": landmarks}
        if cfg.flow_size:
            res["flow"] = out["flow"]
        return res

    out.update(tf.cond(flip, flipped, same))
    out["image"] = tf.ensure_shape(out["image"], (crop, crop, 3))
    return out


def _crop_flow(f: dict, oy, ox, crop: int, flow_size: int):
    """Flow target cropped like the image and resampled to ``flow_size``; values stay in crop pixels."""
    n = tf.cast(tf.maximum(f["flow_size"], 1), tf.int32)
    # float16 (n, n, 2) -> 4 bytes per grid cell; anything else is a malformed target.
    present = tf.logical_and(f["has_flow"] > 0, tf.equal(tf.strings.length(f["flow"]), n * n * 4))

    def decode():
        raw = tf.io.decode_raw(f["flow"], tf.float16, little_endian=True)
        grid = tf.reshape(tf.cast(raw, tf.float32), tf.stack([n, n, 2]))
        full = tf.image.resize(grid, (schema.IMAGE_SIZE, schema.IMAGE_SIZE), method="bilinear")
        return full[oy : oy + crop, ox : ox + crop]

    flow = tf.cond(present, decode, lambda: tf.zeros((crop, crop, 2), tf.float32))
    finite = tf.reduce_all(tf.math.is_finite(flow))
    flow = tf.where(finite, flow, tf.zeros_like(flow))
    flow = tf.ensure_shape(tf.image.resize(flow, (flow_size, flow_size)), (flow_size, flow_size, 2))
    return flow, tf.cast(tf.logical_and(present, finite), tf.float32)


def build_dataset(cfg: InputConfig, batched: bool = True) -> tf.data.Dataset:
    """Parsed, augmented (and by default batched) dataset for one stream of records."""
    files = list_files(cfg.file_pattern)
    num_aus = cfg.num_aus or peek_num_aus(files)
    repeat = cfg.training if cfg.repeat is None else cfg.repeat
    ds = tf.data.Dataset.from_tensor_slices(files)
    if cfg.training:
        ds = ds.shuffle(len(files), seed=cfg.seed, reshuffle_each_iteration=True)
    ds = ds.interleave(
        schema.read_records,
        cycle_length=min(4, len(files)),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=cfg.seed is not None,
    )
    if cfg.training:
        ds = ds.shuffle(cfg.shuffle_buffer, seed=cfg.seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    if cfg.seed is not None:
        # Stateless per-example seeds keep augmentation reproducible across resumes and workers.
        ds = ds.enumerate().map(
            lambda i, s: parse_and_augment(s, cfg, num_aus, tf.stack([tf.cast(i, tf.int32), cfg.seed])),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    else:
        ds = ds.map(lambda s: parse_and_augment(s, cfg, num_aus), num_parallel_calls=tf.data.AUTOTUNE)
    if cfg.select == "labeled":
        ds = ds.filter(lambda e: e["labeled"] > 0)
    elif cfg.select == "unlabeled":
        ds = ds.filter(lambda e: e["labeled"] <= 0)
    elif cfg.select != "all":
        raise ValueError(f"select must be all/labeled/unlabeled, got {cfg.select!r}")
    if batched:
        drop = cfg.training if cfg.drop_remainder is None else cfg.drop_remainder
        ds = ds.batch(cfg.batch_size, drop_remainder=drop)
    return ds.prefetch(tf.data.AUTOTUNE)


def mix_datasets(
    labeled: tf.data.Dataset, unlabeled: tf.data.Dataset, unlabeled_fraction: float, batch_size: int, seed=None
) -> tf.data.Dataset:
    """Batches drawing each example from ``unlabeled`` with probability ``unlabeled_fraction``.

    Both inputs are unbatched, repeating datasets of example dicts with the same keys.
    """
    if not 0.0 <= unlabeled_fraction < 1.0:
        raise ValueError("unlabeled_fraction must be in [0, 1)")
    if unlabeled_fraction == 0.0:
        mixed = labeled
    else:
        mixed = tf.data.Dataset.sample_from_datasets(
            [labeled, unlabeled], weights=[1.0 - unlabeled_fraction, unlabeled_fraction], seed=seed
        )
    return mixed.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
