"""The paper's stage-2 schedule: constant lr for ``hold_epochs``, then a linear step decay every ``decay_every``."""

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
