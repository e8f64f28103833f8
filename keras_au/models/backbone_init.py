"""``--init``: where RTATL's ResNet-18 starts from. ``scratch`` (the default: the seeded initialisers),
``imagenet`` (keras-hub's ``resnet_18_imagenet``), any keras-hub preset name or handle (``kaggle://...``,
``hf://...``), or a local preset folder written by keras-hub's ``save_to_preset`` (``keras-au init-preset``).

The model is still built from its config (serialization stays config-based); a preset only supplies weights,
copied layer by layer into the built ResNet-18, and the input normalisation (its image converter's
``scale``/``offset``). Everything is checked before anything is written: a preset that is not a ResNet-18 of
the model's width, a folder without ``config.json``, a missing or truncated weights file, or weights of the
wrong shapes raise ``ValueError`` naming the preset and the file. Nothing is fetched unless the user named a
hub preset; that first fetch has a deadline (``KERAS_AU_HUB_TIMEOUT`` seconds, default 20), so a node
without network fails in seconds with the offline route (``keras-au init-preset NAME --out DIR``).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from keras_au.models.resnet import resnet18_config

SCRATCH = "scratch"
IMAGENET_PRESET = "resnet_18_imagenet"
ALIASES = {"imagenet": IMAGENET_PRESET}
CONFIG_FILE, WEIGHTS_FILE, SHARDED_WEIGHTS_FILE = "config.json", "model.weights.h5", "model.weights.json"
CONVERTER_FILE = "image_converter.json"
RESNET_CLASSES = ("keras_hub>ResNetBackbone", "keras_au>NarrowResNetBackbone")
CHECKED_KEYS = ("input_conv_filters", "input_conv_kernel_sizes", "stackwise_num_filters", "stackwise_num_blocks",
                "stackwise_num_strides", "block_type", "use_pre_activation")


@dataclass
class PresetInit:
    """A loaded preset: its backbone (float32) and the normalisation its image converter sets."""

    init: str  # what the user passed
    preset: str  # the keras-hub preset name/handle, or the folder's absolute path
    source: str  # "hub" or "dir"
    backbone: Any = field(repr=False)
    input_scale: tuple = ()
    input_offset: tuple = ()
    normalisation: str = ""

    def describe(self) -> dict:
        """What ``run.json`` / ``export.json`` record about the initialisation."""
        return {"init": self.init, "preset": self.preset, "source": self.source,
                "normalisation": self.normalisation}


def describe_scratch() -> dict:
    return {"init": SCRATCH, "preset": None, "source": None, "normalisation": "ModelConfig defaults (ImageNet)"}


def offline_hint(preset: str) -> str:
    return (f"on a machine that reaches Kaggle / Hugging Face run `keras-au init-preset {preset} --out DIR`, "
            "copy DIR to this node and pass --init DIR")


def resolve(init: str | None) -> tuple[str, str]:
    """``init`` -> (kind, preset): ("scratch", ""), ("dir", absolute path) or ("hub", preset name/handle)."""
    init = (init or SCRATCH).strip()
    if init == SCRATCH:
        return SCRATCH, ""
    if init in ALIASES:
        return "hub", ALIASES[init]
    if os.path.isdir(init):
        return "dir", os.path.abspath(init)
    if "://" not in init and (os.sep in init or init.startswith(".")):
        raise ValueError(f"--init {init}: no such preset folder (expected a folder written by keras-hub's "
                         "save_to_preset / `keras-au init-preset`)")
    return "hub", init


def _with_deadline(fn: Callable[[], Any], seconds: float, what: str) -> Any:
    """``fn()`` in a daemon thread; ``TimeoutError`` after ``seconds`` (requests' own timeouts are per
    connection attempt and retries multiply them; a firewalled node should not wait minutes)."""
    box: dict = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = e

    t = threading.Thread(target=target, daemon=True, name="keras-au-hub-fetch")
    t.start()
    t.join(seconds)
    if t.is_alive():
        raise TimeoutError(f"{what} took more than {seconds:.0f} s")
    if "error" in box:
        raise box["error"]
    return box.get("value")


def _read_config(kind: str, preset: str) -> dict:
    """The preset's ``config.json`` (fetching only that file for a hub preset)."""
    if kind == "dir":
        path = os.path.join(preset, CONFIG_FILE)
        if not os.path.isfile(path):
            raise ValueError(f"--init {preset}: {path} not found: not a keras-hub preset folder "
                             "(written by save_to_preset / `keras-au init-preset`)")
        try:
            with open(path, encoding="utf-8") as f:
                return json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            raise ValueError(f"--init {preset}: {path} is not readable JSON ({e})") from e
    from keras_hub.src.utils.preset_utils import load_json

    timeout = float(os.environ.get("KERAS_AU_HUB_TIMEOUT", "20"))
    try:
        return _with_deadline(lambda: load_json(preset, CONFIG_FILE), timeout, f"fetching {preset}/{CONFIG_FILE}")
    except Exception as e:  # any failure to reach the hub (DNS, refused, timeout, unknown name) ends the same way
        raise ValueError(f"--init {preset}: could not fetch keras-hub preset '{preset}' "
                         f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); "
                         f"{offline_hint(preset)}") from e


def check_resnet18(config: dict, width: int, preset: str) -> None:
    """Refuses (``ValueError``) a preset whose backbone is not a ResNet-18 of ``width`` channels."""
    name = config.get("registered_name") or config.get("class_name") or "an unknown class"
    if name not in RESNET_CLASSES:
        raise ValueError(f"--init {preset}: the preset's backbone is {name}, not a keras-hub ResNetBackbone "
                         "(RTATL needs a ResNet-18)")
    got, want = config.get("config", {}), resnet18_config(width)
    diff = [f"{k}={got.get(k)} (need {want[k]})" for k in CHECKED_KEYS if got.get(k) != want[k]]
    if got.get("data_format", "channels_last") != "channels_last":
        diff.append(f"data_format={got.get('data_format')} (need channels_last)")
    if diff:
        blocks, kind = got.get("stackwise_num_blocks"), got.get("block_type")
        arch = {("[2, 2, 2, 2]", "basic_block"): "ResNet-18", ("[3, 4, 6, 3]", "basic_block"): "ResNet-34",
                ("[3, 4, 6, 3]", "bottleneck_block"): "ResNet-50",
                ("[3, 4, 23, 3]", "bottleneck_block"): "ResNet-101"}.get((str(blocks), kind), "another ResNet")
        raise ValueError(f"--init {preset}: the preset is {arch}, not the model's ResNet-18 of width {width}: "
                         + "; ".join(diff) + (" (--set model.resnet_width=N picks the model's width)"
                                             if arch == "ResNet-18" else ""))


# Hub presets whose ResNet-18 width is known without fetching anything (keras-hub's resnet_18_imagenet is the
# standard ResNet-18), so a width mismatch is refused before a pipeline or demo starts its work.
KNOWN_WIDTHS = {IMAGENET_PRESET: 64}


def preflight(init: str | None, width: int) -> None:
    """Offline check before any work: refuses (``ValueError``) a preset folder whose ``config.json`` is not a
    ResNet-18 of ``width``, or a hub preset known to have another width. Other hub presets are checked when the
    Trainer loads them (``load``); nothing is fetched here."""
    kind, preset = resolve(init)
    if kind == "dir":
        check_resnet18(_read_config(kind, preset), width, preset)
    elif kind == "hub" and KNOWN_WIDTHS.get(preset, width) != width:
        raise ValueError(f"--init {init}: {preset} is a ResNet-18 of width {KNOWN_WIDTHS[preset]}, the model's is "
                         f"{width} (--set model.resnet_width={KNOWN_WIDTHS[preset]} picks the model's width)")


def _check_weights_file(kind: str, preset: str) -> None:
    if kind != "dir":
        return
    single, sharded = os.path.join(preset, WEIGHTS_FILE), os.path.join(preset, SHARDED_WEIGHTS_FILE)
    if not os.path.isfile(single) and not os.path.isfile(sharded):
        raise ValueError(f"--init {preset}: {single} not found (a half-written preset? rerun save_to_preset / "
                         "`keras-au init-preset`)")


def _normalisation(preset: str) -> tuple[tuple, tuple, str]:
    """(scale, offset, where they came from) of the preset's image converter; ImageNet when it has none."""
    import keras_hub

    from keras_au.models.normalisation import IMAGENET_OFFSET, IMAGENET_SCALE

    try:
        converter = keras_hub.layers.ImageConverter.from_preset(preset)
    except FileNotFoundError:
        return IMAGENET_SCALE, IMAGENET_OFFSET, f"ImageNet defaults ({preset} has no {CONVERTER_FILE})"

    def per_channel(v, neutral: float) -> tuple:
        v = neutral if v is None else v
        v = [float(x) for x in (v if isinstance(v, (list, tuple)) else [v])]
        return tuple(v * 3 if len(v) == 1 else v)

    return (per_channel(converter.scale, 1.0), per_channel(converter.offset, 0.0),
            f"{type(converter).__name__} of {preset}")


def load(init: str | None, width: int) -> PresetInit | None:
    """The preset ``init`` names, checked against a ResNet-18 of ``width``; None for ``scratch``."""
    kind, preset = resolve(init)
    if kind == SCRATCH:
        return None
    import keras_hub

    from keras_au.models.resnet import narrow_resnet_class

    narrow_resnet_class()  # registered, so presets of the narrow CPU widths deserialise
    config = _read_config(kind, preset)
    check_resnet18(config, width, preset)
    _check_weights_file(kind, preset)
    weights = os.path.join(preset, WEIGHTS_FILE) if kind == "dir" else f"{preset}/{WEIGHTS_FILE}"
    try:
        backbone = keras_hub.models.Backbone.from_preset(preset, dtype="float32")
    except Exception as e:  # h5py/Keras raise OSError, ValueError, KeyError ... for a truncated or mismatched file
        hint = "" if kind == "dir" else f"; {offline_hint(preset)}"
        raise ValueError(f"--init {preset}: loading {weights} failed ({type(e).__name__}: "
                         f"{str(e).splitlines()[0] if str(e) else ''}){hint}") from e
    scale, offset, source = _normalisation(preset)
    return PresetInit(init=str(init), preset=preset, source=kind, backbone=backbone, input_scale=scale,
                      input_offset=offset, normalisation=source)


def copy_weights(src, dst) -> int:
    """Every weight of the preset backbone ``src`` into ``dst`` (our ResNet-18 pyramid model), matched by
    keras-hub layer name and checked by shape before any is assigned; returns the number of arrays."""
    from keras import ops

    theirs = {layer.name: layer for layer in src.layers if layer.weights}
    mine = {layer.name: layer for layer in dst.layers if layer.weights}
    if set(theirs) != set(mine):
        raise ValueError(f"preset backbone layers differ: missing {sorted(set(mine) - set(theirs))[:5]}, "
                         f"extra {sorted(set(theirs) - set(mine))[:5]}")
    plan = []
    for name, layer in mine.items():
        src_w = {w.name: w for w in theirs[name].weights}
        for w in layer.weights:
            if w.name not in src_w or tuple(src_w[w.name].shape) != tuple(w.shape):
                raise ValueError(f"preset weight {name}/{w.name} missing or of another shape")
            plan.append((w, src_w[w.name]))
    for w, v in plan:
        w.assign(ops.convert_to_numpy(v.value))
    return len(plan)


def save_preset(name: str, out: str) -> dict:
    """``keras-au init-preset``: the hub preset ``name`` (backbone + image converter) saved to ``out`` with
    keras-hub's ``save_to_preset``, written to a scratch folder first so ``out`` is complete or absent."""
    kind, preset = resolve(name)
    if kind != "hub":
        raise ValueError(f"init-preset takes a keras-hub preset name or handle (e.g. imagenet, {IMAGENET_PRESET}),"
                         f" not {name!r}")
    if os.path.exists(out) and os.listdir(out):
        raise ValueError(f"{out} exists and is not empty")
    import keras_hub

    config = _read_config(kind, preset)
    check_resnet18(config, config.get("config", {}).get("input_conv_filters", [64])[0], preset)
    backbone = keras_hub.models.Backbone.from_preset(preset, dtype="float32")
    parent = os.path.dirname(os.path.abspath(out))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".init-preset-", dir=parent)
    try:
        backbone.save_to_preset(tmp)
        try:
            keras_hub.layers.ImageConverter.from_preset(preset).save_to_preset(tmp)
        except FileNotFoundError:
            pass  # a preset without converter: --init then uses the ImageNet defaults (and says so)
        if os.path.isdir(out):
            os.rmdir(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {"preset": preset, "out": os.path.abspath(out), "files": sorted(os.listdir(out)),
            "params": int(backbone.count_params())}
