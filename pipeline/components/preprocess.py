"""Preprocess: raw BP4D/DISFA media -> an ``Examples`` artifact with one split per fold.

Runs the Beam preprocessing (``pipeline.beam.preprocess.run_preprocess``: decode -> detect ->
align -> TV-L1 flow -> ``tf.train.Example``) with the pipeline's ``beam_pipeline_args`` and lays
its ``fold-<k>/`` shards out the way TFX expects an Examples artifact:
``<uri>/Split-fold-<k>/*.tfrecord.gz`` (GZIP TFRecords of ``tf.train.Example``), with
``split_names`` set, so StatisticsGen, SchemaGen, ExampleValidator and the Trainer read it like
ExampleGen output. Unlabeled media (optional) become a ``Split-unlabeled``. ``options`` may hold
``runner="dask"`` (and ``dask_address``, ``workers``): then only this component runs on Dask
(``keras-au pipeline run --runner dask``), the pipeline's other Beam components stay local.

The accounting (frames read, examples written, skips by reason) is kept at ``<uri>/report.json`` and as
custom properties of the artifact, and the per-frame dead letters and label issues of each part at
``<uri>/preprocess/<labeled|unlabeled>/``, so a skip is never silent.
"""

from __future__ import annotations

import json
import os
from typing import Any, Optional

from tfx.components.util import examples_utils
from tfx.dsl.components.base import base_beam_component, base_beam_executor, executor_spec
from tfx.dsl.io import fileio
from tfx import types
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from keras_au.au import dataset_aus
from pipeline.components.progress import note
from pipeline.configs import UNLABELED_SPLIT, split_name

EXAMPLES_KEY = "examples"
STAGING = "_staging"
REPORT_FILE = "report.json"
DETAILS_DIR = "preprocess"  # per-part report.json, dead_letter.jsonl, label_issues.jsonl


class PreprocessSpec(ComponentSpec):
    PARAMETERS = {
        "dataset": ExecutionParameter(type=str),
        "input_dir": ExecutionParameter(type=str),
        "folds": ExecutionParameter(type=str),  # JSON list of the folds that must come out non-empty
        "unlabeled_dir": ExecutionParameter(type=str, optional=True),
        "flow": ExecutionParameter(type=int, optional=True),
        "options": ExecutionParameter(type=str, optional=True),  # JSON: extra run_preprocess kwargs
        "unlabeled_options": ExecutionParameter(type=str, optional=True),  # JSON, for the unlabeled media
        # Changes when the raw files change, so the cache never serves stale examples.
        "input_fingerprint": ExecutionParameter(type=str, optional=True),
        # Changes with the keras-au code (readers, alignment, flow), for the same reason.
        "code_fingerprint": ExecutionParameter(type=str, optional=True),
    }
    INPUTS = {}
    OUTPUTS = {EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples)}


def _shards(directory: str) -> list[str]:
    """TFRecord shards anywhere below ``directory`` (relative paths, sorted)."""
    if not fileio.exists(directory):
        return []
    out = []
    for root, _, files in fileio.walk(directory):
        root = root.decode() if isinstance(root, bytes) else root
        for name in files:
            name = name.decode() if isinstance(name, bytes) else name
            if ".tfrecord" in name:
                out.append(os.path.relpath(os.path.join(root, name), directory))
    return sorted(out)


def _move_split(src_dir: str, examples, split: str) -> int:
    """Moves every shard below ``src_dir`` into the split's folder (``<uri>/Split-<split>/``)."""
    shards = _shards(src_dir)
    if not shards:
        return 0
    splits = artifact_utils.decode_split_names(examples.split_names) + [split]
    examples.split_names = artifact_utils.encode_split_names(splits)
    dest = artifact_utils.get_split_uri([examples], split)  # TFX's own layout rule
    fileio.makedirs(dest)
    for rel in shards:
        # Flatten sub-folders into the file name: TFX readers glob one level (Split-x/*).
        fileio.rename(os.path.join(src_dir, rel), os.path.join(dest, rel.replace(os.sep, "_")), overwrite=True)
    return len(shards)


def _keep_details(part_out: str, dest: str) -> None:
    """Moves the files next to the shards (report, dead letters, label issues) out of the staging folder."""
    fileio.makedirs(dest)
    for name in fileio.listdir(part_out):
        name = name.decode() if isinstance(name, bytes) else name
        src = os.path.join(part_out, name.rstrip("/"))
        if not fileio.isdir(src):
            fileio.rename(src, os.path.join(dest, os.path.basename(src)), overwrite=True)


def _count(report: dict, key: str) -> int:
    value = report.get(key, 0)
    if isinstance(value, dict):  # e.g. skips by reason
        return int(sum(int(v) for v in value.values()))
    return int(value or 0)


class Executor(base_beam_executor.BaseBeamExecutor):
    """Calls the Beam preprocessing and publishes its folds as Examples splits."""

    def Do(self, input_dict: dict, output_dict: dict, exec_properties: dict[str, Any]) -> None:
        from pipeline.beam.preprocess import run_preprocess

        examples = artifact_utils.get_single_instance(output_dict[EXAMPLES_KEY])
        options = json.loads(exec_properties.get("options") or "{}")
        flow = bool(exec_properties.get("flow", 1))
        folds = json.loads(exec_properties["folds"])
        staging = os.path.join(examples.uri, STAGING)
        beam_args = list(self._beam_pipeline_args or [])

        report: dict[str, Any] = {}
        labeled_out = os.path.join(staging, "labeled")
        report["labeled"] = run_preprocess(
            exec_properties["dataset"], exec_properties["input_dir"], labeled_out, flow=flow,
            beam_args=beam_args, **options,
        )
        examples.split_names = artifact_utils.encode_split_names([])
        fold_counts = report["labeled"].get("folds", {})
        for fold in folds:
            # Beam writes an empty shard for an empty fold: trust the report's count when it has one.
            empty = int(fold_counts.get(str(fold), {}).get("examples", 1)) == 0
            if empty or not _move_split(os.path.join(labeled_out, f"fold-{fold}"), examples, split_name(fold)):
                raise ValueError(
                    f"preprocessing of {exec_properties['input_dir']} wrote no examples for fold {fold}: "
                    f"the data must cover every fold of {folds} (see {os.path.join(labeled_out, REPORT_FILE)})"
                )

        unlabeled_dir: Optional[str] = exec_properties.get("unlabeled_dir")
        if unlabeled_dir:
            unlabeled_out = os.path.join(staging, UNLABELED_SPLIT)
            # Same AU columns as the labeled data (all unknown), so the two streams can be mixed.
            unlabeled_options = {"aus": list(dataset_aus(exec_properties["dataset"])), "name": UNLABELED_SPLIT,
                                 **options, **json.loads(exec_properties.get("unlabeled_options") or "{}")}
            report[UNLABELED_SPLIT] = run_preprocess(
                "folder", unlabeled_dir, unlabeled_out, flow=flow, beam_args=beam_args, **unlabeled_options
            )
            _move_split(unlabeled_out, examples, UNLABELED_SPLIT)

        splits = artifact_utils.decode_split_names(examples.split_names)
        examples_utils.set_payload_format(examples, example_gen_pb2.PayloadFormat.FORMAT_TF_EXAMPLE)
        examples_utils.set_file_format(examples, "tfrecords_gzip")
        for key in ("frames_read", "examples_written", "skipped"):
            examples.set_int_custom_property(key, sum(_count(r, key) for r in report.values()))
        with fileio.open(os.path.join(examples.uri, REPORT_FILE), "w") as f:
            f.write(json.dumps(report, indent=2, default=str))
        for part in report:
            _keep_details(os.path.join(staging, part), os.path.join(examples.uri, DETAILS_DIR, part))
        fileio.rmtree(staging)
        written = examples.get_int_custom_property("examples_written")
        skipped = examples.get_int_custom_property("skipped")
        note(f"Preprocess: {written} examples in splits {', '.join(splits)}; {skipped} skipped "
             f"(reasons in {os.path.join(examples.uri, REPORT_FILE)})")


class Preprocess(base_beam_component.BaseBeamComponent):
    """Beam preprocessing of a raw dataset into per-fold Examples splits."""

    SPEC_CLASS = PreprocessSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)

    def __init__(
        self,
        dataset: str,
        input_dir: str,
        folds: tuple[int, ...],
        unlabeled_dir: Optional[str] = None,
        flow: bool = True,
        options: Optional[dict] = None,
        unlabeled_options: Optional[dict] = None,
        input_fingerprint: str = "",
        code_fingerprint: str = "",
    ):
        spec = PreprocessSpec(
            dataset=dataset,
            input_dir=input_dir,
            folds=json.dumps([int(k) for k in folds]),
            unlabeled_dir=unlabeled_dir or None,
            flow=int(bool(flow)),
            options=json.dumps(options or {}, sort_keys=True),
            unlabeled_options=json.dumps(unlabeled_options or {}, sort_keys=True),
            input_fingerprint=input_fingerprint,
            code_fingerprint=code_fingerprint,
            examples=types.Channel(type=standard_artifacts.Examples),
        )
        super().__init__(spec=spec)
