"""Exponential moving average of a model's weights (Polyak averaging), kept during training and written over
the weights at the end of the last epoch, so every reader of the run (evaluate, export, warm start) gets the
averaged model.

The decay follows ``tf.train.ExponentialMovingAverage`` with ``num_updates``: after n updates it is
``min(momentum, (1 + n) / (ramp + n))`` (TF: ramp 10). Until the cap is reached, the average weighs step k of
n about as k ** (ramp - 2): a short run averages its last steps (ramp 10: 61 % of the weight on the last
tenth; ramp 3: a linear ramp, 56 % on the last third), never its initial weights. Float variables only:
weights *and* BatchNorm statistics (as timm's ``ModelEmaV2``), so the statistics match the averaged weights;
integer state (RNG seeds) is left as it is.

Keras' own ``Optimizer(use_ema=True)`` is not used: it overwrites *every* trainable variable of the model at
the end of ``fit`` (a length mismatch on trainers with several optimizers, e.g. RTATL's critic), leaves the
BatchNorm statistics out, and has no warm-up.
"""

from __future__ import annotations

from typing import Sequence

import keras
import tensorflow as tf

TF_RAMP = 10.0  # tf.train.ExponentialMovingAverage's (1 + n) / (10 + n)


class WeightAverage(keras.callbacks.Callback):
    """Averages ``variables`` after every training batch; at the end of the final epoch (``fit``'s ``epochs``)
    assigns the averages to them, before the checkpoint callbacks that follow it in the list save the state.

    Create it under the distribution strategy's scope, before a checkpoint is restored: ``state`` (the update
    count and the averages) belongs in the checkpoint, so a resumed run continues the same average."""

    def __init__(self, variables: Sequence, momentum: float, ramp: float = TF_RAMP):
        super().__init__()
        if not 0.0 < momentum < 1.0:
            raise ValueError(f"weight_average momentum must be in (0, 1), got {momentum}")
        if not ramp > 1.0:
            raise ValueError(f"weight_average ramp must be > 1, got {ramp}")
        self.momentum, self.ramp = float(momentum), float(ramp)
        self.targets = [v for v in variables if "float" in str(v.dtype)]
        self.count = keras.Variable(0, dtype="int64", trainable=False, name="weight_average_count")
        # From a copy: keras.Variable(v.value) would wrap v's own tf.Variable and alias it.
        self.averages = [keras.Variable(keras.ops.convert_to_numpy(v), dtype=v.dtype, trainable=False,
                                        name="weight_average") for v in self.targets]
        self.update = tf.function(self._update_eager, autograph=False)  # one averaging step

    @property
    def state(self) -> list:
        return [self.count, *self.averages]

    def decay(self, n) -> tf.Tensor:
        n = tf.cast(n, tf.float32)
        return tf.minimum(self.momentum, (1.0 + n) / (self.ramp + n))

    def _update_eager(self):
        d = self.decay(self.count.value)  # n = updates so far, as TF's num_updates
        for a, v in zip(self.averages, self.targets):
            a.assign(a.value * tf.cast(d, a.dtype) + v.value * tf.cast(1.0 - d, a.dtype))
        self.count.assign_add(1)

    def on_train_begin(self, logs=None):
        # A fresh run starts its average at the weights it starts from (init or warm start, loaded after this
        # was created); a resumed one keeps the restored average.
        if int(keras.ops.convert_to_numpy(self.count)) == 0:
            self.apply(reverse=True)

    def on_train_batch_end(self, batch, logs=None):
        self.update()

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 >= self.params.get("epochs", float("inf")):
            self.apply()

    def apply(self, reverse: bool = False) -> None:
        """Writes the averages over the variables (the run's final weights); ``reverse``: the other way."""
        for a, v in zip(self.averages, self.targets):
            if reverse:
                a.assign(v.value)
            else:
                v.assign(a.value)
