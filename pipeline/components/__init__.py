"""Custom TFX components of the keras-au pipeline (see docs/pipeline.md)."""

from pipeline.components.au_evaluator import AUEvaluator
from pipeline.components.fold_report import FoldReport
from pipeline.components.preprocess import Preprocess
from pipeline.components.pusher import KerasAuPusher

__all__ = ["AUEvaluator", "FoldReport", "KerasAuPusher", "Preprocess"]
