"""Resumable checkpoints: every variable of a training model and its optimizers in one ``.npz``.

Saved at each epoch end (written to a temporary file, then renamed, so a kill never leaves a torn
checkpoint): model variables including BatchNorm statistics and Keras ``SeedGenerator`` states,
optimizer slots and iteration counters (the trainer's per-step RNG is keyed on the iteration), and the
number of completed epochs. Variables are matched by position within each group and checked by shape:
the same config always builds the same variable order, while Keras' auto-generated names may differ.
Generic: any model exposing ``state_variables() -> {group: [variables]}`` works.
"""

from __future__ import annotations

import json
import os

import keras
import numpy as np

STATE_FILE = "state.npz"


def checkpoint_path(run_dir: str) -> str:
    return os.path.join(run_dir, "checkpoint", STATE_FILE)


def save_state(model, path: str, epoch: int, extra: dict | None = None) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    arrays = {"__epoch__": np.array(epoch, np.int64),
              "__meta__": np.array(json.dumps(extra or {}))}
    for group, variables in model.state_variables().items():
        for i, v in enumerate(variables):
            arrays[f"{group}/{i:05d}"] = keras.ops.convert_to_numpy(v)
    tmp = path + ".tmp.npz"
    np.savez(tmp, **arrays)
    os.replace(tmp, path)
    return path


def load_state(model, path: str, groups: tuple[str, ...] | None = None) -> int:
    """Assigns saved values to ``model``'s variables; returns the completed-epoch count."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no checkpoint at {path}")
    with np.load(path) as z:
        for group, variables in model.state_variables().items():
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
                v.assign(value)
        return int(z["__epoch__"])


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves the full training state after every epoch (``initial_epoch`` offsets are handled by Keras)."""

    def __init__(self, path: str, extra: dict | None = None):
        super().__init__()
        self.path, self.extra = path, extra

    def on_epoch_end(self, epoch, logs=None):
        save_state(self.model, self.path, epoch + 1, self.extra)
