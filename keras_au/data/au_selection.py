"""Matching a record set's AUs to a model's AUs.

Records carry ``au_ids`` (schema.py); a model detects its own AU list. Both models read records of another
dataset through these: the in-the-wild model maps BP4D's 12 AUs and DISFA's 8 onto EmotioNet's shared 6, and
``evaluate --data`` scores an RTATL model trained on one dataset on the AUs it shares with another.
"""

from __future__ import annotations

from typing import Sequence

import tensorflow as tf

from keras_au.data.schema import first_example


def record_au_ids(files: Sequence[str]) -> tuple[int, ...]:
    """AU numbers of the labels in the first record."""
    ids = first_example(files).features.feature["au_ids"].int64_list.value
    return tuple(int(a) for a in ids)


def au_positions(record_aus: Sequence[int], aus: Sequence[int]) -> list[int]:
    """Index of each model AU in the records' label vector, -1 where the records lack it."""
    lookup = {int(a): i for i, a in enumerate(record_aus)}
    return [lookup.get(int(a), -1) for a in aus]


def select_aus(labels, positions: Sequence[int]):
    """(B, R) record labels -> (B, A) in model order; missing AUs are -1."""
    pos = tf.constant([max(p, 0) for p in positions], tf.int32)
    present = tf.constant([p >= 0 for p in positions])
    picked = tf.gather(labels, pos, axis=-1)
    return tf.where(present, picked, -tf.ones_like(picked))
