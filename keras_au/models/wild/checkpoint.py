"""Per-epoch checkpoints and resume for the two training stages."""

from __future__ import annotations

import json
import os

import keras


class EpochCheckpoint(keras.callbacks.Callback):
    """After every epoch: the trainer's weights (modules and optimizer slots) to ``<dir>/<stage>.weights.h5``
    (written to a temporary file, then renamed) and ``<dir>/<stage>.json`` = {"epoch", "history"}."""

    def __init__(self, directory: str, stage: str):
        super().__init__()
        self.directory, self.stage = directory, stage
        self.state = load_state(directory, stage)

    def on_epoch_end(self, epoch, logs=None):
        os.makedirs(self.directory, exist_ok=True)
        path = weights_path(self.directory, self.stage)
        tmp = path[: -len(".weights.h5")] + ".tmp.weights.h5"
        self.model.save_weights(tmp)
        os.replace(tmp, path)
        history = self.state.get("history", {})
        for k, v in (logs or {}).items():
            history.setdefault(k, []).append(float(v))
        self.state = {"epoch": epoch + 1, "history": history}
        with open(state_path(self.directory, self.stage), "w") as f:
            json.dump(self.state, f)


def weights_path(directory: str, stage: str) -> str:
    return os.path.join(directory, f"{stage}.weights.h5")


def state_path(directory: str, stage: str) -> str:
    return os.path.join(directory, f"{stage}.json")


def load_state(directory: str, stage: str) -> dict:
    path = state_path(directory, stage)
    if not os.path.isfile(path):
        return {"epoch": 0, "history": {}}
    with open(path) as f:
        return json.load(f)


def restore(model: keras.Model, directory: str, stage: str) -> int:
    """Load the last checkpoint of ``stage`` into a built model (optimizers built); returns the epoch to resume at."""
    state = load_state(directory, stage)
    if state["epoch"] and os.path.isfile(weights_path(directory, stage)):
        model.load_weights(weights_path(directory, stage))
        return int(state["epoch"])
    return 0
