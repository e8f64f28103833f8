"""Settings of the keras-au TFX pipeline (penguin-template ``configs.py``, as one dataclass).

The runners build a :class:`PipelineConfig` from their flags; ``create_pipeline`` reads nothing else.
Defaults describe a real run (paper-size model, 3-fold protocol); the demo and CI change the preset,
epochs and the absolute F1 bar explicitly.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from typing import Optional

PIPELINE_NAME = "keras-au"
# Kubeflow (and MLMD context names we derive from it) need DNS-like names.
PIPELINE_NAME_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,127}")
FOLDS = (0, 1, 2)
UNLABELED_SPLIT = "unlabeled"

# Scalar/short features StatisticsGen looks at; JPEG bytes, flow bytes and the 136 landmark
# floats are left out: they dominate stats time and say nothing a schema can check.
STATS_FEATURES = (
    "au_ids", "au_labels", "labeled", "has_landmarks", "has_flow", "flow_size",
    "fold", "frame", "subject", "sequence", "dataset",
)


def split_name(fold: int) -> str:
    """Examples split holding the faces of subjects in ``fold`` (``fold-0`` ...)."""
    return f"fold-{fold}"


@dataclass
class PipelineConfig:
    """Everything ``create_pipeline`` needs; paths may be local or remote (gs://) for Kubeflow."""

    data_dir: str  # raw dataset (BP4D/DISFA layout) read by the Preprocess component
    pipeline_root: str = os.path.join("runs", "pipeline")
    pipeline_name: str = PIPELINE_NAME
    dataset: str = "bp4d"
    unlabeled_dir: Optional[str] = None  # raw unlabeled media (folder layout) for the auxiliary tasks
    model: str = "rtatl"
    preset: str = "paper"
    folds: tuple[int, ...] = FOLDS
    # Folds that get a Trainer + evaluator, each trained on all the other folds (None: every fold, the papers'
    # protocol). The demo holds out one fold: three do not fit its 15 minutes on 2 cores (docs/pipeline.md).
    held_out: Optional[tuple[int, ...]] = None
    epochs: Optional[int] = None  # None: the preset's
    steps_per_epoch: Optional[int] = None
    batch_size: Optional[int] = None
    seed: int = 0
    overrides: dict = field(default_factory=dict)
    init: str | None = None  # the backbone's initial weights (keras-au train --init); None: the task's default
    # Continuous training: every Trainer starts from the latest blessed model (a Resolver with TFX's
    # LatestBlessedModelStrategy feeds its base_model); nothing blessed yet -> from ``init``.
    warm_start: bool = False
    flow: bool = True  # TV-L1 targets for the OFE task
    preprocess_options: dict = field(default_factory=dict)  # extra keyword args of run_preprocess
    # ... for the unlabeled media; long real videos want e.g. {"frame_step": 5, "max_frames_per_sequence": 48}
    unlabeled_options: dict = field(default_factory=dict)
    eval_batch_size: int = 32
    min_mean_f1: float = 0.5  # absolute blessing bar on the fold-mean macro F1 (0..1)
    min_f1_gain: float = 0.02  # fold-mean macro F1 must beat the all-positive F1 by this much
    min_auc: float = 0.60  # every fold's macro ROC AUC must reach this
    max_f1_drop: float = 0.01  # allowed macro F1 drop against the served model
    serving_dir: Optional[str] = None  # default: <pipeline_root>/serving_model
    beam_pipeline_args: list[str] = field(default_factory=list)
    stats_features: tuple[str, ...] = STATS_FEATURES
    enable_cache: bool = True
    metadata_path: Optional[str] = None  # default: <pipeline_root>/metadata.sqlite (local runs)
    # Trainer hardware (docs/distributed.md): GPUs per Trainer replica and replicas (> 1: multiworker, run as a
    # Vertex AI custom job whose worker pools set TF_CONFIG; needs vertex_project / vertex_region).
    trainer_gpus: int = 0
    trainer_replicas: int = 1
    trainer_gpu_type: str = "NVIDIA_H100_80GB"
    trainer_machine_type: str = "a3-highgpu-1g"
    vertex_project: Optional[str] = None
    vertex_region: str = "us-central1"
    image: Optional[str] = None  # the Trainer replicas' container (set by `pipeline compile --image`)

    def __post_init__(self) -> None:
        self.folds = tuple(int(k) for k in self.folds)
        if self.held_out is not None:
            self.held_out = tuple(int(k) for k in self.held_out)
        self.validate()

    @property
    def held_out_folds(self) -> tuple[int, ...]:
        """The folds trained and scored (each held out from its own Trainer)."""
        return self.folds if self.held_out is None else self.held_out

    def validate(self) -> None:
        if not PIPELINE_NAME_RE.fullmatch(self.pipeline_name):
            raise ValueError(
                f"pipeline name {self.pipeline_name!r} must match {PIPELINE_NAME_RE.pattern} "
                "(lower-case letters, digits and '-', at most 128 characters)"
            )
        if len(self.folds) < 2 or len(set(self.folds)) != len(self.folds) or min(self.folds) < 0:
            raise ValueError(f"folds must be at least two distinct non-negative fold numbers, got {self.folds}")
        if self.held_out is not None and (not self.held_out or len(set(self.held_out)) != len(self.held_out)
                                          or not set(self.held_out) <= set(self.folds)):
            raise ValueError(f"held-out folds must be distinct folds of {list(self.folds)}, got {list(self.held_out)}")
        if not 0.0 <= self.min_mean_f1 <= 1.0:
            raise ValueError(f"min_mean_f1 is a fraction in [0, 1], got {self.min_mean_f1}")
        self.gate  # checks the other bars
        if self.preset not in ("paper", "demo", "ci"):
            raise ValueError(f"preset must be paper, demo or ci, got {self.preset!r}")
        self._check_train_options()
        if self.trainer_gpus < 0 or self.trainer_replicas < 1:
            raise ValueError(f"--trainer-gpus must be >= 0 and --trainer-replicas >= 1, got {self.trainer_gpus} "
                             f"and {self.trainer_replicas}")
        if self.trainer_replicas > 1 and not self.vertex_project:
            raise ValueError("--trainer-replicas > 1 runs the Trainer as a Vertex AI custom job (its worker pools "
                             "set TF_CONFIG): give --vertex-project (and --vertex-region)")

    def _check_train_options(self) -> None:
        """--init / --warm-start need a model family whose training takes them: refused before anything runs."""
        asked = [name for name, on in (("init", self.init is not None), ("warm_start", self.warm_start)) if on]
        if not asked:
            return
        from keras_au.models import registry

        task = registry.get_task(self.model)
        missing = [n for n in asked if n not in task.train_option_names()]
        if missing:
            raise ValueError(f"--model {self.model} does not take {', '.join('--' + n.replace('_', '-') for n in missing)}")
        if self.init is not None:  # a preset that cannot fit the model is refused here, not in the Trainer
            task.check_init(self.init, self.preset, self.overrides)

    @property
    def trainer_distribute(self) -> Optional[str]:
        """The Trainer's ``--distribute``: multiworker over replicas, mirrored over several local GPUs."""
        if self.trainer_replicas > 1:
            return "multiworker"
        return "mirrored" if self.trainer_gpus > 1 else None

    @property
    def gate(self):
        """The blessing bars as a ``pipeline.gate.GateConfig``."""
        from pipeline.gate import GateConfig

        return GateConfig(min_f1=self.min_mean_f1, min_f1_gain=self.min_f1_gain, min_auc=self.min_auc,
                          max_f1_drop=self.max_f1_drop)

    @property
    def serving_root(self) -> str:
        """Where the Pusher writes ``keras_au/<version>/``."""
        return self.serving_dir or os.path.join(self.pipeline_root, "serving_model")

    @property
    def metadata_file(self) -> str:
        return self.metadata_path or os.path.join(self.pipeline_root, "metadata.sqlite")

    def replace(self, **changes) -> "PipelineConfig":
        return dataclasses.replace(self, **changes)
