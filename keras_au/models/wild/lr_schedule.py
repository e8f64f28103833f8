"""Stage-2 learning-rate schedules: constant for ``hold_epochs``, then a linear decay.

* ``LinearDecay`` (``lr_decay="linear"``, the paper preset): ADLD's code lowers the rate linearly once per epoch
  after the hold; the paper's "linearly decayed" reads the same way.
* ``StepLinearDecay`` (``lr_decay="step"``): the rate drops in equal steps every ``decay_every`` epochs.
"""

from __future__ import annotations

import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_au")
class StepLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """lr(epoch) = lr0 * (1 - k / n), k = 0 during the hold, then 1, 2, ... one more every ``decay_every``
    epochs; n = number of blocks, so the last block runs at lr0 / n and the rate never reaches 0.

    Paper (12 epochs, hold 4, every 4): 1e-4 for epochs 0-3, 6.7e-5 for 4-7, 3.3e-5 for 8-11.
    """

    def __init__(self, initial_learning_rate: float, steps_per_epoch: int, total_epochs: int,
                 hold_epochs: int = 4, decay_every: int = 4):
        self.initial_learning_rate = float(initial_learning_rate)
        self.steps_per_epoch, self.total_epochs = int(steps_per_epoch), int(total_epochs)
        self.hold_epochs, self.decay_every = int(hold_epochs), max(int(decay_every), 1)
        self.blocks = 1 + max(math.ceil((self.total_epochs - self.hold_epochs) / self.decay_every), 0)

    def __call__(self, step):
        epoch = ops.floor(ops.cast(step, "float32") / float(max(self.steps_per_epoch, 1)))
        k = ops.where(epoch < self.hold_epochs, 0.0,
                      1.0 + ops.floor((epoch - self.hold_epochs) / float(self.decay_every)))
        k = ops.minimum(k, float(self.blocks - 1))
        return self.initial_learning_rate * (1.0 - k / float(self.blocks))

    def get_config(self) -> dict:
        return {"initial_learning_rate": self.initial_learning_rate, "steps_per_epoch": self.steps_per_epoch,
                "total_epochs": self.total_epochs, "hold_epochs": self.hold_epochs, "decay_every": self.decay_every}


@keras.saving.register_keras_serializable(package="keras_au")
class LinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """lr(epoch) = lr0 for epochs < hold, then lr0 * (1 - (epoch - hold + 1) / (total - hold + 1)): one step down
    per epoch, never 0 (the last epoch runs at lr0 / (total - hold + 1)).

    Paper length (12 epochs, hold 4): 1e-4 for epochs 0-3, then 8.9e-5, 7.8e-5, ..., 1.1e-5 for epochs 4-11.
    """

    def __init__(self, initial_learning_rate: float, steps_per_epoch: int, total_epochs: int, hold_epochs: int = 4):
        self.initial_learning_rate = float(initial_learning_rate)
        self.steps_per_epoch, self.total_epochs, self.hold_epochs = (
            int(steps_per_epoch), int(total_epochs), int(hold_epochs))

    def __call__(self, step):
        epoch = ops.floor(ops.cast(step, "float32") / float(max(self.steps_per_epoch, 1)))
        span = float(max(self.total_epochs - self.hold_epochs + 1, 1))
        k = ops.clip(epoch - self.hold_epochs + 1.0, 0.0, span - 1.0)
        return self.initial_learning_rate * (1.0 - k / span)

    def get_config(self) -> dict:
        return {"initial_learning_rate": self.initial_learning_rate, "steps_per_epoch": self.steps_per_epoch,
                "total_epochs": self.total_epochs, "hold_epochs": self.hold_epochs}


def make_schedule(kind: str, initial_learning_rate: float, steps_per_epoch: int, total_epochs: int,
                  hold_epochs: int, decay_every: int) -> keras.optimizers.schedules.LearningRateSchedule:
    """``kind`` "linear" (per epoch) or "step" (every ``decay_every`` epochs)."""
    if kind == "linear":
        return LinearDecay(initial_learning_rate, steps_per_epoch, total_epochs, hold_epochs)
    if kind == "step":
        return StepLinearDecay(initial_learning_rate, steps_per_epoch, total_epochs, hold_epochs, decay_every)
    raise ValueError(f"lr_decay must be 'linear' or 'step', got {kind!r}")
