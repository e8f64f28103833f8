"""ResNet-18 feature pyramid (C2..C5) in Keras 3, optionally initialised from a local weights file.

keras.applications has no ResNet-18 and nothing is downloaded here, so the network is built from
layers named after torchvision's ``resnet18`` (``layer2_0_conv1`` for ``layer2.0.conv1``). That lets
``load_resnet_weights`` take either

* an ``.npz`` with Keras-style keys ``<layer>/<kernel|bias|gamma|beta|moving_mean|moving_variance>``, or
  torchvision ``state_dict`` keys (``layer2.0.conv1.weight``, ``bn1.running_mean`` ...; conv kernels
  OIHW are transposed to HWIO), e.g. ``np.savez(path, **{k: v.numpy() for k, v in sd.items()})``;
* an ``.h5``/``.weights.h5``/``.keras`` file written by Keras: variables are matched by layer name.

Padding mirrors torchvision (explicit 3/1-pixel zero padding before strided convs and the max pool)
so imported weights give the same activations.
"""

from __future__ import annotations

import os
import zipfile
from typing import Optional

import keras
import numpy as np
from keras import layers

BN_EPSILON = 1e-5
BN_MOMENTUM = 0.9  # torch momentum 0.1


def batch_norm(name: str) -> layers.BatchNormalization:
    """BatchNorm with PyTorch's defaults (eps 1e-5, momentum 0.1), as in the papers' code: Keras' own 0.99
    leaves the moving statistics far behind the weights in short runs (docs/rtatl.md)."""
    return layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=name)
STAGE_BLOCKS = (2, 2, 2, 2)


def _conv_bn(x, filters: int, kernel: int, stride: int, name: str, bn_name: str, relu: bool = True):
    if stride > 1 and kernel > 1:
        x = layers.ZeroPadding2D(kernel // 2, name=f"{name}_pad")(x)
        padding = "valid"
    else:
        padding = "same"
    x = layers.Conv2D(filters, kernel, strides=stride, padding=padding, use_bias=False, name=name)(x)
    x = batch_norm(bn_name)(x)
    return layers.ReLU(name=f"{bn_name}_relu")(x) if relu else x


def _basic_block(x, filters: int, stride: int, name: str):
    shortcut = x
    y = _conv_bn(x, filters, 3, stride, f"{name}_conv1", f"{name}_bn1")
    y = _conv_bn(y, filters, 3, 1, f"{name}_conv2", f"{name}_bn2", relu=False)
    if stride != 1 or x.shape[-1] != filters:
        shortcut = _conv_bn(x, filters, 1, stride, f"{name}_downsample_0", f"{name}_downsample_1", relu=False)
    return layers.ReLU(name=f"{name}_out")(layers.Add(name=f"{name}_add")([y, shortcut]))


def resnet18(width: int = 64, name: str = "resnet18") -> keras.Model:
    """ResNet-18 without the classifier: normalised image -> [C2, C3, C4, C5] (strides 4, 8, 16, 32).

    ``width`` is the first stage's channel count (64 in the paper; smaller for CPU presets).
    """
    image = keras.Input((None, None, 3), name="image")
    x = _conv_bn(image, width, 7, 2, "conv1", "bn1")
    x = layers.ZeroPadding2D(1, name="maxpool_pad")(x)  # zeros == torch's -inf padding after ReLU
    x = layers.MaxPooling2D(3, strides=2, name="maxpool")(x)
    outputs = []
    for stage, blocks in enumerate(STAGE_BLOCKS):
        filters = width * 2**stage
        for b in range(blocks):
            stride = 2 if (stage > 0 and b == 0) else 1
            x = _basic_block(x, filters, stride, f"layer{stage + 1}_{b}")
        outputs.append(x)
    return keras.Model(image, outputs, name=name)


_TORCH_BN = {"weight": "gamma", "bias": "beta", "running_mean": "moving_mean", "running_var": "moving_variance"}


def _torch_to_keras(arrays: dict) -> dict:
    """torchvision state_dict keys -> {layer_name: {keras_var: array}}."""
    groups: dict = {}
    for key, value in arrays.items():
        if key.startswith("fc.") or key.endswith("num_batches_tracked"):
            continue
        layer, var = key.rsplit(".", 1)
        groups.setdefault(layer.replace(".", "_"), {})[var] = np.asarray(value)
    out: dict = {}
    for layer, vars_ in groups.items():
        if "running_mean" in vars_:  # BatchNorm
            out[layer] = {_TORCH_BN[k]: v for k, v in vars_.items() if k in _TORCH_BN}
        else:  # conv: OIHW -> HWIO
            out[layer] = {("kernel" if k == "weight" else k): (v.transpose(2, 3, 1, 0) if v.ndim == 4 else v)
                          for k, v in vars_.items()}
    return out


def _keras_npz(arrays: dict) -> dict:
    out: dict = {}
    for key, value in arrays.items():
        layer, var = key.rsplit("/", 1)
        out.setdefault(layer, {})[var] = np.asarray(value)
    return out


def _h5_by_layer(path: str) -> dict:
    """{layer_name: [arrays in creation order]} from a Keras weights .h5 (``layers/<name>/vars/<i>``)."""
    import h5py

    found: dict = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Group) and name.endswith("/vars") and len(obj):
            layer = name.split("/")[-2]
            found[layer] = [np.asarray(obj[k]) for k in sorted(obj.keys(), key=int)]

    with h5py.File(path, "r") as f:
        f.visititems(visit)
    return found


def load_resnet_weights(model: keras.Model, path: str) -> int:
    """Copies weights from a local file into ``model`` by layer name; returns the number of layers set.

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` when nothing matches or a
    shape differs (a wrong file should fail loudly, not train from a half-initialised network).
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"weights file {path} not found (ImageNet weights are never downloaded)")
    by_name = {layer.name: layer for layer in model.layers if layer.weights}
    if path.endswith(".npz"):
        with np.load(path) as z:
            arrays = {k: z[k] for k in z.files}
        table = _keras_npz(arrays) if any("/" in k for k in arrays) else _torch_to_keras(arrays)
        ordered = {}
        for name, vars_ in table.items():
            if name in by_name:
                layer = by_name[name]
                missing = [w.name for w in layer.weights if w.name not in vars_]
                if missing:
                    raise ValueError(f"{path}: layer {name} lacks {missing}")
                ordered[name] = [vars_[w.name] for w in layer.weights]
    elif path.endswith((".h5", ".keras")):
        if path.endswith(".keras"):
            import tempfile

            with zipfile.ZipFile(path) as zf, tempfile.TemporaryDirectory() as tmp:
                zf.extract("model.weights.h5", tmp)
                ordered = _h5_by_layer(os.path.join(tmp, "model.weights.h5"))
        else:
            ordered = _h5_by_layer(path)
    else:
        raise ValueError(f"{path}: expected a .npz, .h5 or .keras weights file")
    count = 0
    for name, values in ordered.items():
        layer: Optional[keras.layers.Layer] = by_name.get(name)
        if layer is None:
            continue
        if len(values) != len(layer.weights):
            raise ValueError(f"{path}: layer {name} has {len(values)} arrays, model expects {len(layer.weights)}")
        for w, v in zip(layer.weights, values):
            if tuple(w.shape) != tuple(v.shape):
                raise ValueError(f"{path}: {name}/{w.name} shape {v.shape} != {tuple(w.shape)}")
            w.assign(v)
        count += 1
    if count == 0:
        raise ValueError(f"{path}: no layer names match the ResNet-18 (expected e.g. 'conv1', 'layer1_0_conv1')")
    return count
