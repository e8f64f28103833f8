"""keras_au.tasks.weight_average on a small Keras model: the average is TF's ExponentialMovingAverage with
num_updates over every float variable (BatchNorm statistics included), written over the weights at the end of
the last epoch only, started from the weights training starts with."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_au.tasks.weight_average import WeightAverage


class _Record(keras.callbacks.Callback):
    def __init__(self, variables):
        super().__init__()
        self.variables, self.rows = variables, []

    def on_train_begin(self, logs=None):
        self.rows.append([v.numpy().copy() for v in self.variables])

    def on_train_batch_end(self, batch, logs=None):
        self.rows.append([v.numpy().copy() for v in self.variables])


def _model():
    keras.utils.set_random_seed(1)
    m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4), keras.layers.BatchNormalization(momentum=0.5),
                          keras.layers.Dense(1)])
    m.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    return m


def test_average_follows_tf_ema_with_num_updates_and_lands_on_the_weights_at_the_end():
    m = _model()
    x, y = np.random.RandomState(0).normal(size=(24, 3)), np.random.RandomState(1).normal(size=(24, 1))
    float_vars = list(m.variables)
    average = WeightAverage(float_vars, momentum=0.3)
    rec = _Record(float_vars)  # after the average in the list: records the live weights of every step
    seen_mid_run = []
    probe = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda e, logs: seen_mid_run.append([v.numpy().copy() for v in float_vars]))
    m.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, callbacks=[average, rec, probe])
    ema = [r.copy() for r in rec.rows[0]]
    for n, row in enumerate(rec.rows[1:]):
        d = min(0.3, (1 + n) / (10 + n))
        ema = [d * e + (1 - d) * r for e, r in zip(ema, row)]
    assert int(average.count.numpy()) == 6 and len(rec.rows) == 7
    for v, e in zip(float_vars, ema):
        np.testing.assert_allclose(v.numpy(), e, rtol=1e-5, atol=1e-6)
    bn = m.layers[1]
    assert any(v is bn.moving_mean for v in average.targets) and any(v is bn.moving_variance for v in average.targets)
    # after epoch 1 the live weights were still training (the average is written at the last epoch's end only)
    for live, row in zip(seen_mid_run[0], rec.rows[3]):
        np.testing.assert_array_equal(live, row)
    assert not np.allclose(seen_mid_run[1][0], rec.rows[-1][0])  # the final weights are not the last step's


def test_integer_state_is_left_alone_and_bad_momenta_are_refused():
    counter = keras.Variable(7, dtype="int64", trainable=False)
    w = keras.Variable(np.ones(2, np.float32))
    average = WeightAverage([counter, w], momentum=0.9)
    assert average.targets == [w]
    for bad in (0.0, 1.0, -0.5):
        with pytest.raises(ValueError, match="momentum"):
            WeightAverage([w], bad)
