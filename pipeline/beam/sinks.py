"""Writing the run's files with plain ParDos and one GroupByKey: the same graph on every Beam runner.

Beam 2.74's DaskRunner translates only Create, ParDo, GroupByKey and Flatten; it computes only the
last transform's bag (other branches never run), drops what ``finish_bundle`` emits, and hands a
consumer of one tagged output every output of the ParDo. So the preprocessing is one chain that
ends in one sink, tells record kinds apart by a field instead of output tags, and writes its files
itself instead of using ``WriteToTFRecord``/``WriteToText`` (their side inputs and finalisation
steps are not translated). What the chain carries, and where it ends up below the staging folder:

    ("example", fold, bytes, key)  -> parts/fold-<k>/<uuid>.tfrecord.gz   one file per fold and bundle
                                      (or shard-SSSSS.tfrecord.gz with a fixed shard count: the same
                                      files, in key order, in every run)
    ("skip", dict)                 -> dead_letter.jsonl                   sorted lines
    ("issue", dict)                -> label_issues.jsonl                  sorted lines
    ("stats", dict)                -> stats.json                          merged accounting
    ("shard", dict)                -> shards.json                         the files to publish

Only files listed in ``shards.json`` are published: a bundle that failed and was redone (a lost
Dask worker, a retried FnApi bundle) leaves an unlisted file that goes away with the staging
folder, so a retry never duplicates examples. Side files and fixed-count shards have
deterministic names and are written to a temporary name and renamed, so a redone write replaces.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from typing import Iterator

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from pipeline.beam.outputs import DEAD_LETTER_FILE, LABEL_ISSUES_FILE, SHARD_SUFFIX, SHARDS_FILE, STATS_FILE
from pipeline.beam.stats import merge_all

PARTS_DIR = "parts"
SIDE_FILES = {"skip": DEAD_LETTER_FILE, "issue": LABEL_ISSUES_FILE, "stats": STATS_FILE, "shard": SHARDS_FILE}


def _tfrecord_writer(path: str):
    import tensorflow as tf  # already loaded by the workers for the Example protos

    tf.io.gfile.makedirs(os.path.dirname(path))
    return tf.io.TFRecordWriter(path, options="GZIP")


def shard_of(key: str, num_shards: int) -> int:
    """Stable shard of an example key (Python's ``hash`` differs between worker processes)."""
    return int.from_bytes(hashlib.sha1(key.encode()).digest()[:8], "big") % num_shards


class WriteBundleFn(beam.DoFn):
    """Examples -> one GZIP TFRecord file per fold per bundle (no shuffle); other records pass through."""

    def __init__(self, work_dir: str):
        self.work_dir = work_dir

    def start_bundle(self):
        self._writers: dict = {}

    def process(self, rec: tuple) -> Iterator[tuple]:
        if rec[0] != "example":
            yield rec
            return
        fold, data = rec[1], rec[2]
        writer = self._writers.get(fold)
        if writer is None:
            path = os.path.join(self.work_dir, PARTS_DIR, f"fold-{fold}", f"{uuid.uuid4().hex}{SHARD_SUFFIX}")
            writer = self._writers[fold] = _tfrecord_writer(path)
            # Announced from process(): the DaskRunner drops finish_bundle's outputs. A bundle that
            # fails before finish_bundle closes the file loses this record with it.
            yield "shard", {"fold": int(fold), "path": path}
        writer.write(data)

    def finish_bundle(self):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}


def key_by_shard(rec: tuple, num_shards: int) -> tuple:
    """``("example", fold, bytes, key)`` -> ``((fold, shard), (key, bytes))``."""
    _, fold, data, key = rec
    return (int(fold), shard_of(key, num_shards)), (key, data)


class WriteShardFn(beam.DoFn):
    """One fixed-count shard: its examples in a stable order under a deterministic name."""

    def __init__(self, work_dir: str):
        self.work_dir = work_dir

    def process(self, group: tuple) -> Iterator[tuple]:
        (fold, shard), examples = group
        path = os.path.join(self.work_dir, PARTS_DIR, f"fold-{fold}", f"shard-{shard:05d}{SHARD_SUFFIX}")
        tmp = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
        with _tfrecord_writer(tmp) as writer:
            # In key (subject|sequence|frame) order: the same file whichever worker order the shuffle gave, so the
            # training input, which reads shards in order through a shuffle buffer, is the same in every run.
            for _, data in sorted(examples):
                writer.write(data)
        _replace(tmp, path)
        yield "shard", {"fold": int(fold), "path": path}


class WriteSideFilesFn(beam.DoFn):
    """One record kind -> its file below ``work_dir`` (the pipeline's last step)."""

    def __init__(self, work_dir: str):
        self.work_dir = work_dir

    def process(self, group: tuple) -> Iterator[str]:
        kind, values = group
        if kind not in SIDE_FILES:
            raise ValueError(f"unexpected record kind {kind!r} reached the sink")
        values = list(values)
        if kind == "stats":
            text = json.dumps(merge_all(values), sort_keys=True)
        elif kind == "shard":
            text = json.dumps(sorted(values, key=lambda v: (v["fold"], v["path"])), indent=1)
        else:
            text = "".join(sorted(json.dumps(v, sort_keys=True) + "\n" for v in values))
        path = os.path.join(self.work_dir, SIDE_FILES[kind])
        tmp = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
        with FileSystems.create(tmp, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            f.write(text.encode("utf-8"))
        _replace(tmp, path)
        yield path


def _replace(tmp: str, path: str) -> None:
    """Renames ``tmp`` over ``path``: a redone write replaces the first one."""
    if FileSystems.exists(path):
        FileSystems.delete([path])
    FileSystems.rename([tmp], [path])


def write_outputs(records, work_dir: str, num_shards: int = 0) -> beam.PCollection:
    """Appends the sink to the chain of records; returns the last PCollection (the written side files)."""
    if num_shards > 0:
        shards = (
            records
            | "Examples" >> beam.Filter(lambda r: r[0] == "example")
            | "KeyByShard" >> beam.Map(key_by_shard, num_shards)
            | "GroupShards" >> beam.GroupByKey()
            | "WriteShards" >> beam.ParDo(WriteShardFn(work_dir))
        )
        others = records | "NotExamples" >> beam.Filter(lambda r: r[0] != "example")
        small = (shards, others) | "Small" >> beam.Flatten()
    else:
        small = records | "WriteBundles" >> beam.ParDo(WriteBundleFn(work_dir))
    return (
        small
        | "KeyByKind" >> beam.Map(lambda r: (r[0], r[1]))
        | "GroupKinds" >> beam.GroupByKey()
        | "WriteSideFiles" >> beam.ParDo(WriteSideFilesFn(work_dir))
    )
