"""Serialization harness (after keras-hub's ``TestCase.run_serialization_test``/``run_model_saving_test``).

``registered_classes()`` finds every class the project registers with Keras; the round-trip helpers check
one object of each kind: config, ``serialize_keras_object`` and, for layers and models, a ``.keras`` file.
"""

from __future__ import annotations

import importlib
import json
import pathlib
from typing import Any, Callable, Sequence

import keras
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("keras_au", "serving", "pipeline")


def registered_classes() -> dict[str, type]:
    """Name -> class of every project class registered as serializable.

    Only the modules whose source registers are imported (found by text, so a new module is picked up
    without being listed): importing the whole tree would pull in the pipelines' optional dependencies.
    """
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "register_keras_serializable" in path.read_text(encoding="utf-8"):
                importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))
    return {cls.__name__: cls for cls in keras.saving.get_custom_objects().values()
            if isinstance(cls, type) and cls.__module__.split(".")[0] in PACKAGES}


def _json(config: dict) -> str:
    # JSON is what a .keras file stores: tuples and lists compare equal there, as they load back.
    return json.dumps(config, sort_keys=True)


def _public_attrs(obj: Any) -> set[str]:
    return set(dir(obj)) - {"__annotations__"}


def assert_config_round_trip(obj: Any) -> None:
    """``from_config(get_config())`` rebuilds the same config and the same attributes."""
    config = obj.get_config()
    revived = type(obj).from_config(config)
    assert revived.get_config() == config
    assert _public_attrs(revived) == _public_attrs(obj)


def assert_serialize_round_trip(obj: Any) -> Any:
    """``serialize_keras_object`` -> JSON -> ``deserialize_keras_object`` gives the class and config back."""
    text = json.dumps(keras.saving.serialize_keras_object(obj))
    revived = keras.saving.deserialize_keras_object(json.loads(text))
    assert type(revived) is type(obj)
    assert _json(revived.get_config()) == _json(obj.get_config())
    return revived


def _to_numpy(tree: Any) -> list[np.ndarray]:
    return [keras.ops.convert_to_numpy(t) for t in keras.tree.flatten(tree)]


def _symbolic(tree: Any) -> Any:
    return keras.tree.map_structure(lambda a: keras.Input(a.shape[1:], dtype=str(a.dtype)), tree)


def assert_saved_model_round_trip(obj: keras.layers.Layer, args: Sequence[Any], tmp_path: pathlib.Path) -> None:
    """A ``.keras`` save and load gives the same inference outputs on ``args`` (the call's positional inputs).

    A model is saved itself; a layer inside a functional model, so its own config and weights are what load.
    """
    if isinstance(obj, keras.Model):
        model = obj
        expected = model(*args, training=False)
    else:
        inputs = [_symbolic(a) for a in args]
        model = keras.Model(inputs, obj(*inputs))
        expected = model(list(args), training=False)
    if not isinstance(obj, keras.Model):
        assert_build_config_round_trip(obj)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    got = loaded(*args, training=False) if isinstance(obj, keras.Model) else loaded(list(args), training=False)
    for e, g in zip(_to_numpy(expected), _to_numpy(got), strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-5)


def assert_build_config_round_trip(layer: keras.layers.Layer) -> None:
    """A called ``layer`` rebuilt from its config and build config has all its weights before any call.

    Loading a layer nested in a subclassed model relies on this: its weights are assigned right after
    ``build_from_config``, and a ``build`` that leaves sub-layers to be built in ``call`` has none yet.
    """
    revived = type(layer).from_config(layer.get_config())
    revived.build_from_config(layer.get_build_config())
    assert sorted(_shapes(revived)) == sorted(_shapes(layer)), "build() leaves weights to call()"


def _shapes(layer: keras.layers.Layer) -> list[tuple]:
    return [tuple(w.shape) for w in layer.weights]


def assert_metric_round_trip(metric: keras.metrics.Metric, args: Sequence[Any]) -> None:
    """A metric rebuilt from its config gives the same result on the same ``update_state`` inputs."""
    revived = assert_serialize_round_trip(metric)
    for m in (metric, revived):
        m.update_state(*args)
    np.testing.assert_allclose(_to_numpy(revived.result()), _to_numpy(metric.result()))


def assert_schedule_round_trip(schedule: Callable, steps: Sequence[int]) -> None:
    """A learning-rate schedule rebuilt from its serialized form gives the same rate at ``steps``."""
    revived = assert_serialize_round_trip(schedule)
    for step in steps:
        np.testing.assert_allclose(float(revived(step)), float(schedule(step)), err_msg=f"step {step}")
