"""Resumable checkpoints, one format for every task: all variables of a training model and its optimizers in
one ``.npz``, plus the completed-epoch count and the stage's history.

Saved at each epoch end to a temporary file, then renamed, so a kill never leaves a torn checkpoint. Holds
model variables including BatchNorm statistics and Keras ``SeedGenerator`` states, optimizer slots and
iteration counters (per-step randomness is keyed on the iteration), the epoch and the logs so far.
Variables are matched by position within each group and checked by shape: the same config always builds
the same variable order, while Keras' auto-generated names may differ between processes.
"""

from __future__ import annotations

import json
import os
from typing import Optional

import keras
import numpy as np

CHECKPOINT_DIR = "checkpoint"
STATE_FILE = "state.npz"
OPTIMIZER_ATTRS = ("optimizer", "critic_optimizer", "generator_optimizer", "discriminator_optimizer")


def checkpoint_path(run_dir: str, stage: Optional[str] = None) -> str:
    """``<run>/checkpoint/state.npz`` (one-stage tasks) or ``<run>/checkpoint/<stage>.npz``."""
    return os.path.join(run_dir, CHECKPOINT_DIR, f"{stage}.npz" if stage else STATE_FILE)


def state_variables(model) -> dict:
    """Variables by group: the model's own (``model.state_variables()`` if it defines them), then one group per
    optimizer the model holds, in a fixed order, then the weight average's state when the run keeps one."""
    if hasattr(model, "state_variables"):
        groups = model.state_variables()
    else:
        groups, seen = {"model": list(model.variables)}, set()
        for attr in OPTIMIZER_ATTRS:
            opt = getattr(model, attr, None)
            if opt is not None and id(opt) not in seen:
                seen.add(id(opt))
                groups[attr] = list(opt.variables)
    average = getattr(model, "weight_average", None)  # keras_au.tasks.weight_average, when the run averages
    if average is not None:
        groups["weight_average"] = list(average.state)
    return groups


def save_state(model, path: str, epoch: int, meta: Optional[dict] = None) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    meta = dict(meta or {})
    if getattr(model, "checkpoint_layout", None):
        meta["layout"] = model.checkpoint_layout
    arrays = {"__epoch__": np.array(epoch, np.int64), "__meta__": np.array(json.dumps(meta))}
    for group, variables in state_variables(model).items():
        for i, v in enumerate(variables):
            arrays[f"{group}/{i:05d}"] = keras.ops.convert_to_numpy(v)
    tmp = path + ".tmp.npz"
    np.savez(tmp, **arrays)
    os.replace(tmp, path)
    return path


def read_meta(path: str) -> dict:
    """{"epoch": completed epochs, "history": logs per epoch, ...} of a checkpoint; epoch 0 when there is none."""
    if not os.path.isfile(path):
        return {"epoch": 0, "history": {}}
    with np.load(path) as z:
        meta = json.loads(str(z["__meta__"])) if "__meta__" in z.files else {}
        return {"history": {}, **meta, "epoch": int(z["__epoch__"])}


def load_state(model, path: str, groups: Optional[tuple[str, ...]] = None) -> int:
    """Assigns saved values to ``model``'s variables; returns the completed-epoch count.

    Variables are matched by position, so a model that declares ``checkpoint_layout`` (the order its variables
    are created in) refuses a checkpoint written under another layout, with the model's
    ``checkpoint_layout_help``. Every shape is checked before the first value is assigned."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no checkpoint at {path}")
    with np.load(path) as z:
        layout = getattr(model, "checkpoint_layout", None)
        if layout:
            saved = json.loads(str(z["__meta__"])).get("layout") if "__meta__" in z.files else None
            if saved != layout:
                raise ValueError(f"{path}: written with variable layout {saved or 'unrecorded (older)'}, this model's "
                                 f"is {layout}. {getattr(model, 'checkpoint_layout_help', '')}".rstrip())
        pairs = []
        for group, variables in state_variables(model).items():
            if groups is not None and group not in groups:
                continue
            keys = sorted(k for k in z.files if k.startswith(group + "/"))
            if len(keys) != len(variables):
                raise ValueError(f"{path}: {group} has {len(keys)} saved variables, model has {len(variables)} "
                                 "(was the checkpoint written with another config?)")
            for key, v in zip(keys, variables):
                value = z[key]
                if tuple(value.shape) != tuple(v.shape):
                    raise ValueError(f"{path}: {key} shape {value.shape} != {tuple(v.shape)} ({v.path})")
                pairs.append((v, value))
        for v, value in pairs:
            v.assign(value)
        return int(z["__epoch__"])


def restore(model, path: str) -> int:
    """Loads the checkpoint at ``path`` into a built model (optimizers built) when there is one; returns the
    epoch to resume at (0 without a checkpoint)."""
    return load_state(model, path) if os.path.isfile(path) else 0


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves the full training state after every epoch, with the epoch's logs appended to the history
    (``initial_epoch`` offsets are handled by Keras)."""

    def __init__(self, path: str, meta: Optional[dict] = None):
        super().__init__()
        self.path, self.meta = path, dict(meta or {})
        self.history = read_meta(path)["history"]

    def on_epoch_end(self, epoch, logs=None):
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(float(v))
        save_state(self.model, self.path, epoch + 1, {**self.meta, "history": self.history})
