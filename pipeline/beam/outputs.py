"""Publishing a finished run: staged shards replace this dataset's old ones; report side files.

Everything goes through Beam's ``FileSystems`` so the output may be local or remote (``gs://``).
"""

from __future__ import annotations

import json
import logging
import os
import re

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from keras_au.datasets import Listing
from pipeline.beam.stats import accounting_ok, new_stats

log = logging.getLogger("keras_au.preprocess")

SHARD_SUFFIX = ".tfrecord.gz"
STATS_FILE = "stats.json"
DEAD_LETTER_FILE = "dead_letter.jsonl"
LABEL_ISSUES_FILE = "label_issues.jsonl"
REPORT_FILE = "report.json"
SHARDS_FILE = "shards.json"  # the staged shard files a finished pipeline wrote (pipeline.beam.sinks)


def publish(staging: str, output_dir: str, name: str, num_folds: int, listing: Listing) -> dict:
    """Replaces ``name``'s shards in ``output_dir/fold-*`` with the staged ones; returns the report body.

    The staged files are those ``shards.json`` lists (see ``pipeline.beam.sinks``), renamed to
    ``<name>-SSSSS-of-NNNNN.tfrecord.gz`` per fold; a fold without examples gets no shard.
    """
    stats = json.loads(_read(os.path.join(staging, STATS_FILE)) or "null") or new_stats()
    staged = listed_shards(staging)
    missing = [p for paths in staged.values() for p in paths if not FileSystems.exists(p)]
    if missing:  # never publish a partial set: the old output stays as it was
        raise RuntimeError(f"{len(missing)} shard file(s) listed by the pipeline are missing, e.g. {missing[0]}")
    shard_re = re.compile(rf"^{re.escape(name)}-\d{{5}}-of-\d{{5}}{re.escape(SHARD_SUFFIX)}$")
    old = [m.path for m in _match(os.path.join(output_dir, "fold-*", f"{name}-*{SHARD_SUFFIX}"))]
    old = [p for p in old if shard_re.match(os.path.basename(p))]
    if old:
        FileSystems.delete(old)
    folds = {}
    for k in range(num_folds):
        src = staged.get(k, [])
        dest_dir = os.path.join(output_dir, f"fold-{k}")
        if not FileSystems.exists(dest_dir):
            FileSystems.mkdirs(dest_dir)
        dest = [os.path.join(dest_dir, f"{name}-{i:05d}-of-{len(src):05d}{SHARD_SUFFIX}") for i in range(len(src))]
        if src:
            FileSystems.rename(src, dest)
        entry = stats["folds"].get(str(k), {"examples": 0, "labeled": 0, "with_flow": 0, "subjects": []})
        subjects = entry.pop("subjects", [])
        folds[str(k)] = {**entry, "subjects": len(subjects), "shards": sorted(os.path.basename(d) for d in dest)}
        if len(subjects) <= 100:
            folds[str(k)]["subject_ids"] = subjects
    issues = _read(os.path.join(staging, LABEL_ISSUES_FILE))
    issues += "".join(json.dumps(o, sort_keys=True) + "\n" for o in listing.orphans)
    _write_text(os.path.join(output_dir, LABEL_ISSUES_FILE), issues)
    _write_text(os.path.join(output_dir, DEAD_LETTER_FILE), _read(os.path.join(staging, DEAD_LETTER_FILE)))
    notes = dict(stats["notes"])
    for key, n in listing.notes.items():
        notes[f"listing_{key}"] = n
    label_without_frame = notes.get("label_without_frame", 0) + listing.label_without_frame
    if label_without_frame:  # rows of label files without any media are counted by the readers
        notes["label_without_frame"] = label_without_frame
    return {
        "items": stats["items"],
        "frames_read": stats["frames_read"],
        "examples_written": stats["examples_written"],
        "skipped": dict(sorted(stats["skipped"].items())),
        "accounting_ok": accounting_ok(stats),
        "labels": {"label_missing": notes.get("label_missing", 0), "label_without_frame": label_without_frame},
        "notes": dict(sorted(notes.items())),
        "flow_pairs": stats["flow_pairs"],
        "folds": folds,
        "stage_seconds": {k: round(v, 3) for k, v in sorted(stats["seconds"].items())},
    }


def listed_shards(staging: str) -> dict[int, list[str]]:
    """Fold -> the staged shard files the finished pipeline listed in ``shards.json`` (sorted)."""
    entries = json.loads(_read(os.path.join(staging, SHARDS_FILE)) or "[]")
    out: dict[int, list[str]] = {}
    for e in entries:
        out.setdefault(int(e["fold"]), []).append(e["path"])
    return {k: sorted(set(v)) for k, v in out.items()}


def _match(pattern: str) -> list:
    try:
        return FileSystems.match([pattern])[0].metadata_list
    except Exception:  # no match / missing folder
        return []


def _read(path: str) -> str:
    if not FileSystems.exists(path):
        return ""
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        return f.read().decode("utf-8")


def _write_text(path: str, text: str) -> None:
    with FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        f.write(text.encode("utf-8"))


def write_json(path: str, obj: dict) -> None:
    _write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def delete_tree(path: str) -> None:
    try:
        if FileSystems.exists(path):
            FileSystems.delete([path])
    except Exception as e:  # leftovers only cost disk space; say so instead of failing a finished run
        log.warning("could not remove staging folder %s: %s", path, e)
