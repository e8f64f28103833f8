"""Artifact types the keras-au components add to the standard TFX ones."""

from __future__ import annotations

from tfx.types.artifact import Artifact


class FoldReport(Artifact):
    """Per-fold and fold-mean per-AU F1 (``report.json`` + ``report.md``).

    The type name follows the ``<namespace>.<Title>`` form Kubeflow V2 requires of custom types.
    """

    TYPE_NAME = "keras_au.FoldReport"
