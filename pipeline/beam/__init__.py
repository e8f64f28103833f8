"""Beam preprocessing: raw media -> aligned faces + TV-L1 flow -> sharded TFRecords per fold."""

from pipeline.beam.preprocess import build_pipeline, pipeline_args, run_preprocess
from pipeline.beam.sequence import PreprocessOptions, SequenceProcessor

__all__ = ["PreprocessOptions", "SequenceProcessor", "build_pipeline", "pipeline_args", "run_preprocess"]
