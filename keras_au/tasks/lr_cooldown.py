"""A constant learning rate with a linear cool-down to zero over the last share of a run's steps (the "stable,
then decay" schedule): the final weights are those of a settled run instead of a point on a constant-rate
trajectory. Keras has no built-in schedule with a constant phase followed by a linear decay."""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable("keras_au")
class LinearCooldown(keras.optimizers.schedules.LearningRateSchedule):
    """``rate`` until step ``total_steps * (1 - share)``, then linearly to 0 at ``total_steps``."""

    def __init__(self, rate: float, total_steps: int, share: float):
        if not 0.0 < share <= 1.0:
            raise ValueError(f"the cool-down share must be in (0, 1], got {share}")
        if total_steps < 1:
            raise ValueError(f"total_steps must be >= 1, got {total_steps}")
        self.rate, self.total_steps, self.share = float(rate), int(total_steps), float(share)

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        length = max(self.share * self.total_steps, 1.0)
        left = keras.ops.clip((self.total_steps - step) / length, 0.0, 1.0)
        return self.rate * left

    def get_config(self) -> dict:
        return {"rate": self.rate, "total_steps": self.total_steps, "share": self.share}


def rate_schedule(rate: float, train) -> float | LinearCooldown:
    """``rate`` as it is (a constant, the papers'), or with ``train.lr_cooldown`` > 0 its cool-down over the
    run's ``train.epochs * train.steps_per_epoch`` steps."""
    if not train.lr_cooldown:
        return rate
    return LinearCooldown(rate, train.epochs * train.steps_per_epoch, train.lr_cooldown)
