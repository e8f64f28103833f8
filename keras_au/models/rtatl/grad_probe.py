"""Loss competition, measured: per loss term, its gradient norm on the shared backbone and its cosine
with the supervised gradient, every N steps on one fixed training batch (TensorBoard + ``history.json``)."""

from __future__ import annotations

import keras
import tensorflow as tf


class GradientProbe(keras.callbacks.Callback):
    """Calls ``model.gradient_probe(batch)`` every ``every`` steps; ``records`` = [{"step": s, key: value}]."""

    def __init__(self, batch: dict, every: int, logdir: str):
        super().__init__()
        self.batch, self.every, self.logdir = batch, int(every), logdir
        self.records: list[dict] = []
        self._writer = None

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.optimizer.iterations.numpy())
        if step % self.every:
            return
        values = self.model.gradient_probe(self.batch)
        self.records.append({"step": step, **{k: round(v, 6) for k, v in values.items()}})
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.logdir)
        with self._writer.as_default(step=step):
            for k, v in values.items():
                tf.summary.scalar(k, v)

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.flush()
