"""The typed options of ``train``: one dataclass per family, so an unknown option is an error, not ignored.

What every family takes lives in ``TrainOptions``; a family subclasses it with its own fields (RTATL:
``data``/``unlabeled``/``labeled_subjects``...; wild: ``source``/``target``/``protocol``...). The CLI passes
only the flags a user gave, so ``keras-au train --model rtatl --protocol sample`` is refused by name.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional


@dataclass
class TrainOptions:
    """Options of ``train`` shared by every family (None = the preset's value)."""

    model: str = ""
    out: str = ""
    data: Optional[str] = None  # labeled records (<data>/fold-<k>/...)
    unlabeled: Optional[str] = None  # unlabeled records (RTATL's auxiliary tasks; wild: the target's fallback)
    fold: Optional[int] = None
    epochs: Optional[int] = None
    steps_per_epoch: Optional[int] = None
    batch_size: Optional[int] = None
    seed: Optional[int] = None
    xla: Optional[bool] = None
    mixed_precision: Optional[Any] = None
    resume: bool = True
    preset: str = "paper"
    overrides: dict = field(default_factory=dict)
    verbose: Any = "auto"
    distribute: Optional[str] = None
    cpu_replicas: Optional[int] = None
    sync_bn: Optional[bool] = None
    callbacks: list = field(default_factory=list)  # extra Keras callbacks, run after the checkpoint

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def parse(cls, family: str, kwargs: dict) -> "TrainOptions":
        """The options from keyword arguments; unknown names raise ``ValueError`` naming them. None and False
        mean "not given" (what the CLI and the study runner pass for flags a user left out)."""
        known = set(cls.names())
        kwargs = {k: v for k, v in kwargs.items() if k in known or (v is not None and v is not False)}
        unknown = sorted(k for k in kwargs if k not in known)
        if unknown:
            flags = ", ".join("--" + k.replace("_", "-") for k in unknown)
            raise ValueError(f"{family} training does not take {flags}; it takes: "
                             f"{', '.join(sorted(known - {'callbacks', 'verbose', 'overrides'}))}")
        opts = cls(**{k: v for k, v in kwargs.items() if v is not None})
        opts.overrides = dict(opts.overrides or {})
        opts.callbacks = list(opts.callbacks or [])
        if not opts.out:
            raise ValueError("--out is required")
        return opts
