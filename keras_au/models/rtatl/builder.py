"""Building an RTATL trainer (Model Garden's ``build_model``) and loading a trained run's weights."""

from __future__ import annotations

import contextlib
from typing import Optional

from keras_au.models.rtatl.config import RTATLConfig
from keras_au.tasks.base_task import LoadedRun


def build_trainer(cfg: RTATLConfig, weights: Optional[str] = None, mixed=False, xla: bool = False,
                  compile: bool = True, dist=None, init=None):
    """Trainer with every variable created (and optimizers built when ``compile``).

    ``init`` (a ``keras_au.models.backbone_init.PresetInit``): its backbone's weights are copied into the
    ResNet-18 once everything is built, so the other modules get the same seeded draws as a scratch build.

    ``mixed``: False, True (float16 on GPU, bfloat16 elsewhere) or "mixed_float16"/"mixed_bfloat16".
    ``dist`` (a ``keras_au.distribute.Distribution``): variables are created in its strategy's scope and
    BatchNorm is synchronised across replicas when ``dist.sync_bn``.
    """
    from keras_au.distribute import fit_ready, precision_policy, set_sync_batchnorm
    from keras_au.models.rtatl.trainer import RTATLTrainer

    scope = dist.scope() if dist is not None else contextlib.nullcontext()
    with scope, precision_policy(mixed):
        trainer = RTATLTrainer(cfg.to_dict(), weights_path=weights)
        if dist is not None and dist.sync_bn:
            set_sync_batchnorm(trainer, True)
        if compile:
            trainer.compile(jit_compile=bool(xla))
        else:
            trainer.build_all()
        if init is not None:
            from keras_au.models.backbone_init import copy_weights

            copy_weights(init.backbone, trainer.backbone.resnet)
    if dist is not None:
        fit_ready(trainer)  # build_all created every variable
    return trainer


def load_run(run_dir: str) -> LoadedRun:
    """(run info, config, trainer with the latest checkpoint's model weights; float32, not compiled)."""
    from keras_au.models.registry import run_info
    from keras_au.tasks.checkpoint import checkpoint_path, load_state

    info = run_info(run_dir)
    cfg = RTATLConfig.from_dict(info["config"])
    trainer = build_trainer(cfg, compile=False)
    load_state(trainer, checkpoint_path(run_dir), groups=("model",))
    return LoadedRun(info, cfg, trainer)
