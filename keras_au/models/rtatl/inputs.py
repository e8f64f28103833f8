"""The RTATL family's inputs (Model Garden's ``build_inputs``): record folds, subject selection (paper Fig. 4),
flow-source checks and the mixed labeled / unlabeled training stream."""

from __future__ import annotations

import os
from typing import Optional

import numpy as np

from keras_au.data.record_scan import RecordScan
from keras_au.models.rtatl.config import RTATLConfig

MODEL_KEYS = ("image", "landmarks", "has_landmarks", "au_labels", "labeled", "flow", "has_flow")


def record_aus(files: list) -> tuple[int, ...]:
    """AU numbers stored in the first record (``au_ids``)."""
    from keras_au.data.schema import first_example

    return tuple(int(a) for a in first_example(files).features.feature["au_ids"].int64_list.value)


def flow_sources(cfg: RTATLConfig, train: RecordScan, unlabeled: Optional[RecordScan]) -> Optional[dict]:
    """OFE's flow targets per TV-L1 source; refuses a mix unless ``allow_mixed_flow`` (None without OFE)."""
    if not cfg.ofe:
        return None
    from keras_au.data.input_pipeline import check_one_flow_source

    counts = dict(train.flow_sources)
    for key, n in (unlabeled.flow_sources if unlabeled else {}).items():
        counts[key] = counts.get(key, 0) + n
    check_one_flow_source(counts, cfg.train.allow_mixed_flow)
    return counts


def fold_files(data: str, folds: list[int]) -> list[str]:
    from keras_au.data.input_pipeline import fold_files

    if not data:
        raise ValueError("--data is required (a preprocessing output with fold-<k>/ shards)")
    if not os.path.isdir(data):
        raise FileNotFoundError(f"--data {data} is not a directory")
    return fold_files(data, folds)


def keep_model_keys(example: dict) -> dict:
    return {k: v for k, v in example.items() if k in MODEL_KEYS}


def select_subjects(subjects: list, n: Optional[int], seed: int) -> Optional[list]:
    """A seeded choice of ``n`` distinct training subjects (paper Fig. 4: "randomly chosen"); None keeps all."""
    if n is None:
        return None
    pool = sorted(set(subjects))
    if not 1 <= int(n) <= len(pool):
        raise ValueError(f"--labeled-subjects {n}: the training folds hold {len(pool)} subjects")
    rng = np.random.default_rng(int(seed))
    return sorted(str(x) for x in rng.choice(pool, int(n), replace=False))


def training_dataset(cfg: RTATLConfig, files: list, unlabeled_files: Optional[list], skip_batches: int = 0,
                     keep_subjects: Optional[list] = None, demote_unlabeled: bool = False,
                     stream_sizes: tuple[int, int] = (1, 1)):
    """Deterministic (given ``cfg.train.seed``) repeating batches, labeled and unlabeled mixed.

    ``keep_subjects`` restricts the labeled stream to those subjects; with ``demote_unlabeled`` the other
    subjects' frames join the unlabeled stream without labels (mixed with ``unlabeled_files`` in proportion
    to ``stream_sizes`` = (demoted frames, external unlabeled records)).
    """
    import tensorflow as tf

    from keras_au.data.input_pipeline import InputConfig, build_dataset, mix_datasets, peek_num_aus

    m, t = cfg.model, cfg.train
    flow_size = m.flow_size if cfg.ofe else None

    def stream(pattern, num_aus, subject_filter=None):
        ic = InputConfig(pattern, batch_size=t.batch_size, crop_size=m.input_size, training=True,
                         flow_size=flow_size, num_aus=num_aus, shuffle_buffer=t.shuffle_buffer, seed=t.seed)
        ds = build_dataset(ic, batched=False)
        if subject_filter is not None:
            ds = ds.filter(subject_filter)
        return ds.map(keep_model_keys)

    def unlabel(e):  # another AU list (e.g. EmotioNet-6) or demoted frames: every label unknown here
        return {**e, "au_labels": -tf.ones((m.num_aus,), tf.int32), "labeled": tf.constant(0.0)}

    keep = None if keep_subjects is None else tf.constant(list(keep_subjects))
    labeled = stream(files, m.num_aus, None if keep is None else lambda e: tf.reduce_any(tf.equal(e["subject"], keep)))
    unl = []
    if keep is not None and demote_unlabeled:
        unl.append(stream(files, m.num_aus, lambda e: tf.logical_not(tf.reduce_any(tf.equal(e["subject"], keep))))
                   .map(unlabel))
    if unlabeled_files:
        unl.append(stream(unlabeled_files, peek_num_aus(unlabeled_files)).map(unlabel))
    if unl:
        if len(unl) == 2:
            w = np.asarray(stream_sizes, np.float64)
            unl = [tf.data.Dataset.sample_from_datasets(unl, weights=(w / w.sum()).tolist(), seed=t.seed)]
        ds = mix_datasets(labeled, unl[0], t.unlabeled_fraction, t.batch_size, seed=t.seed)
    else:
        ds = labeled.batch(t.batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
    return ds.skip(skip_batches) if skip_batches else ds
