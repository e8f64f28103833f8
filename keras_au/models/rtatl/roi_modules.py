"""Per-AU RoI modules: each AU has its own two conv layers, shared by its two symmetric RoIs."""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers, ops

from keras_au.models.resnet import batch_norm

IMPLS = ("auto", "grouped", "split")


@keras.saving.register_keras_serializable(package="keras_au")
class RoIModules(keras.layers.Layer):
    """(B, 2A, k, k, C) RoI crops -> (B, 2A, dim) RoI features.

    Conv -> BN -> ReLU twice, then average pooling; AU a's crops only meet AU a's kernels. The kernels
    are stored as one grouped convolution (``groups = A``, AU a = channel group a) and run either as that
    grouped conv (``impl="grouped"``: one cuDNN call on GPU) or as A plain convs on kernel slices
    (``impl="split"``: TF's CPU kernels compute grouped-conv gradients ~40x slower than the split form).
    ``"auto"`` picks grouped when a GPU is visible. Both give the same numbers with the same weights.
    """

    def __init__(self, num_aus: int, hidden: int = 144, dim: int = 128, impl: str = "auto", **kwargs):
        super().__init__(**kwargs)
        if impl not in IMPLS:
            raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")
        self.num_aus, self.hidden, self.dim, self.impl = int(num_aus), int(hidden), int(dim), impl
        a = self.num_aus
        self.conv1 = layers.Conv2D(a * self.hidden, 3, padding="same", groups=a, use_bias=False, name="conv1")
        self.bn1 = batch_norm("bn1")
        self.conv2 = layers.Conv2D(a * self.dim, 3, padding="same", groups=a, use_bias=False, name="conv2")
        self.bn2 = batch_norm("bn2")

    def build(self, crops_shape):
        k, c, a = crops_shape[2], crops_shape[-1], self.num_aus
        self.conv1.build((None, k, k, a * c))
        self.bn1.build((None, k, k, a * self.hidden))
        self.conv2.build((None, k, k, a * self.hidden))
        self.bn2.build((None, k, k, a * self.dim))

    def _grouped(self) -> bool:
        return self.impl == "grouped" or (self.impl == "auto" and bool(tf.config.list_logical_devices("GPU")))

    def _split_conv(self, xs, kernel, width):
        """Per-AU convs: xs[a] (N, k, k, Cin) with kernel slice a -> (N, k, k, A*width) in group order."""
        kernel = ops.cast(kernel, self.compute_dtype)
        outs = [tf.nn.conv2d(x, kernel[..., i * width:(i + 1) * width], 1, "SAME") for i, x in enumerate(xs)]
        return ops.concatenate(outs, axis=-1)

    def call(self, crops, training=None):
        a, hid = self.num_aus, self.hidden
        b = ops.shape(crops)[0]
        k, c = crops.shape[2], crops.shape[-1]
        if self._grouped():
            # 5-D at most (TFLite's transpose/slice limits, should an export be traced on a GPU machine)
            x = ops.reshape(crops, (b, a, 2, k * k, c))
            x = ops.transpose(x, (0, 2, 3, 1, 4))  # (B, 2, k*k, A, C): AU a -> channel group a
            x = ops.reshape(x, (b * 2, k, k, a * c))
            h = ops.relu(self.bn1(self.conv1(x), training=training))
            h = ops.relu(self.bn2(self.conv2(h), training=training))
        else:
            # Slice a 5-D view: TFLite's strided slice stops at 5 dimensions.
            x5 = ops.reshape(crops, (b, a, 2 * k, k, c))
            xs = [ops.reshape(x5[:, i], (b * 2, k, k, c)) for i in range(a)]
            h = ops.relu(self.bn1(self._split_conv(xs, self.conv1.kernel, hid), training=training))
            hs = [h[..., i * hid:(i + 1) * hid] for i in range(a)]
            h = ops.relu(self.bn2(self._split_conv(hs, self.conv2.kernel, self.dim), training=training))
        h = ops.mean(h, axis=(1, 2))  # (B*2, A*dim)
        h = ops.transpose(ops.reshape(h, (b, 2, a, self.dim)), (0, 2, 1, 3))
        return ops.reshape(h, (b, 2 * a, self.dim))

    def get_config(self) -> dict:
        return {**super().get_config(), "num_aus": self.num_aus, "hidden": self.hidden, "dim": self.dim,
                "impl": self.impl}
