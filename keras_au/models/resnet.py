"""ResNet-18 from keras-hub (``keras_hub.models.ResNetBackbone``) as a C2..C5 feature pyramid, plus the few
things keras-hub does not do: PyTorch-style BatchNorm for our own layers and importing a torchvision
``state_dict`` (``.npz``) or a Keras weights file behind ``keras-au train --weights FILE``.

keras-hub's ResNet already mirrors torchvision: explicit zero padding before every strided conv and the
max pool, BatchNorm epsilon 1e-5 / momentum 0.9 (= torch's 0.1), 1x1 "valid" stride-2 shortcuts. Its layer
names are ``conv1_conv``, ``conv1_bn``, ``stack{s}_block{b}_{1,2}_{conv,bn}`` and ``stack{s}_block{b}_0_{conv,bn}``
(the shortcut); ``TORCH_NAMES`` maps torchvision's ``layer{s+1}.{b}.conv1`` etc. onto them.
"""

from __future__ import annotations

import os
import re
import zipfile

import keras
import numpy as np
from keras import layers

BN_EPSILON = 1e-5
BN_MOMENTUM = 0.9  # torch momentum 0.1
STAGE_BLOCKS = (2, 2, 2, 2)
PYRAMID_LEVELS = ("P2", "P3", "P4", "P5")  # keras-hub's names for C2..C5 (strides 4, 8, 16, 32)


def batch_norm(name: str) -> layers.BatchNormalization:
    """BatchNorm with PyTorch's defaults (eps 1e-5, momentum 0.1), as in the papers' code: Keras' own 0.99
    leaves the moving statistics far behind the weights in short runs (docs/rtatl.md)."""
    return layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=name)


def resnet18_config(width: int = 64) -> dict:
    """keras-hub ``ResNetBackbone`` arguments of a ResNet-18 whose first stage has ``width`` channels."""
    return {"input_conv_filters": [width], "input_conv_kernel_sizes": [7],
            "stackwise_num_filters": [width * 2**s for s in range(4)], "stackwise_num_blocks": list(STAGE_BLOCKS),
            "stackwise_num_strides": [1, 2, 2, 2], "block_type": "basic_block", "use_pre_activation": False,
            "image_shape": (None, None, 3)}


class _StemWidth(int):
    """An int that passes keras-hub's ``stackwise_num_filters[0] != 64`` guard. The guard only protects its
    presets (the network itself is width-generic: stage 1 has an identity shortcut whatever the width), and
    the CPU presets need narrower ResNet-18s; every other use of the value is ordinary int arithmetic."""

    name = "int64"  # what keras.backend.standardize_dtype reads when a shape holds this int

    def __ne__(self, other) -> bool:
        return False if other == 64 else int(self) != other

    __hash__ = int.__hash__


_NARROW: dict = {}


def narrow_resnet_class():
    """``keras_au>NarrowResNetBackbone``: keras-hub's ``ResNetBackbone`` minus its "first stage has 64 filters"
    guard, registered so that ``save_to_preset``/``from_preset`` round-trip narrow (demo/ci) ResNets through
    keras-hub's own loader. Defined on first use: importing keras-hub costs ~1.5 s."""
    if "cls" not in _NARROW:
        import keras_hub

        @keras.saving.register_keras_serializable(package="keras_au")
        class NarrowResNetBackbone(keras_hub.models.ResNetBackbone):
            """ResNetBackbone whose first stage may be narrower than 64 channels (same graph and names)."""

            def __init__(self, stackwise_num_filters, **kwargs):
                filters = list(stackwise_num_filters)
                filters[0] = _StemWidth(filters[0])
                super().__init__(stackwise_num_filters=filters, **kwargs)
                self.stackwise_num_filters = [int(f) for f in filters]  # plain ints in get_config

        @keras.saving.register_keras_serializable(package="keras_au")  # keras-hub lists registered ones only
        class NarrowResNetImageConverter(keras_hub.layers.ResNetImageConverter):
            """Lets ``ImageConverter.from_preset`` find a converter for a narrow preset (it matches on
            ``backbone_cls``); the converter it loads is the preset's own ``ResNetImageConverter``."""

            backbone_cls = NarrowResNetBackbone

        _NARROW["cls"] = NarrowResNetBackbone
    return _NARROW["cls"]


def resnet18_backbone(width: int = 64, name: str = "resnet18_backbone", dtype=None):
    """keras-hub's ``ResNetBackbone`` in the ResNet-18 configuration: the class itself at the paper's width
    64, its guard-free subclass ``narrow_resnet_class()`` for the narrower CPU presets."""
    import keras_hub

    cls = keras_hub.models.ResNetBackbone if width == 64 else narrow_resnet_class()
    return cls(**resnet18_config(width), name=name, dtype=dtype)


def resnet18(width: int = 64, name: str = "resnet18", dtype=None) -> keras.Model:
    """ResNet-18 without the classifier: normalised image -> [C2, C3, C4, C5] (strides 4, 8, 16, 32).

    The layers and graph are keras-hub's ``ResNetBackbone``; this functional model only exposes its
    ``pyramid_outputs`` as a list (keras-hub's own detectors wrap backbones the same way).
    """
    backbone = resnet18_backbone(width, dtype=dtype)
    return keras.Model(backbone.inputs, [backbone.pyramid_outputs[k] for k in PYRAMID_LEVELS], name=name)


def torch_layer_name(key: str) -> str | None:
    """torchvision ``resnet18`` module path (``layer2.0.downsample.1``) -> keras-hub layer name, None if unmapped."""
    if key in ("conv1", "bn1"):
        return "conv1_conv" if key == "conv1" else "conv1_bn"
    m = re.fullmatch(r"layer(\d)\.(\d+)\.(conv1|bn1|conv2|bn2|downsample\.0|downsample\.1)", key)
    if not m:
        return None
    part = {"conv1": "1_conv", "bn1": "1_bn", "conv2": "2_conv", "bn2": "2_bn",
            "downsample.0": "0_conv", "downsample.1": "0_bn"}[m.group(3)]
    return f"stack{int(m.group(1)) - 1}_block{m.group(2)}_{part}"


_TORCH_BN = {"weight": "gamma", "bias": "beta", "running_mean": "moving_mean", "running_var": "moving_variance"}


def _torch_to_keras(arrays: dict) -> dict:
    """torchvision state_dict keys -> {keras-hub layer name: {keras var: array}}."""
    groups: dict = {}
    for key, value in arrays.items():
        if key.startswith("fc.") or key.endswith("num_batches_tracked"):
            continue
        module, var = key.rsplit(".", 1)
        groups.setdefault(torch_layer_name(module) or module, {})[var] = np.asarray(value)
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


def _read_weights_file(path: str, by_name: dict) -> dict:
    """{layer name: [arrays in the layer's weight order]} from a ``.npz``, ``.h5`` or ``.keras`` file."""
    if path.endswith(".npz"):
        with np.load(path) as z:
            arrays = {k: z[k] for k in z.files}
        table = _keras_npz(arrays) if any("/" in k for k in arrays) else _torch_to_keras(arrays)
        ordered = {}
        for name, vars_ in table.items():
            if name in by_name:
                missing = [w.name for w in by_name[name].weights if w.name not in vars_]
                if missing:
                    raise ValueError(f"{path}: layer {name} lacks {missing}")
                ordered[name] = [vars_[w.name] for w in by_name[name].weights]
        return ordered
    if path.endswith(".keras"):
        import tempfile

        with zipfile.ZipFile(path) as zf, tempfile.TemporaryDirectory() as tmp:
            zf.extract("model.weights.h5", tmp)
            return _h5_by_layer(os.path.join(tmp, "model.weights.h5"))
    if path.endswith(".h5"):
        return _h5_by_layer(path)
    raise ValueError(f"{path}: expected a .npz, .h5 or .keras weights file")


def load_resnet_weights(model: keras.Model, path: str) -> int:
    """Copies weights from a local file into ``model`` by (keras-hub) layer name; returns the layers set.

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` when nothing matches or a shape
    differs (a wrong file should fail loudly, not train from a half-initialised network). Every array is
    checked before any is assigned, so a failure leaves the model as it was.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"weights file {path} not found (for ImageNet weights use --init imagenet or a "
                                "local keras-hub preset: --init DIR)")
    by_name = {layer.name: layer for layer in model.layers if layer.weights}
    plan, names = [], set()
    for name, values in _read_weights_file(path, by_name).items():
        layer = by_name.get(name)
        if layer is None:
            continue
        if len(values) != len(layer.weights):
            raise ValueError(f"{path}: layer {name} has {len(values)} arrays, model expects {len(layer.weights)}")
        for w, v in zip(layer.weights, values):
            if tuple(w.shape) != tuple(v.shape):
                raise ValueError(f"{path}: {name}/{w.name} shape {v.shape} != {tuple(w.shape)}")
            plan.append((w, v))
        names.add(name)
    if not plan:
        raise ValueError(f"{path}: no layer names match the ResNet-18 (expected torchvision's 'conv1', "
                         "'layer1.0.conv1' or keras-hub's 'conv1_conv', 'stack0_block0_1_conv')")
    for w, v in plan:
        w.assign(v)
    return len(names)
