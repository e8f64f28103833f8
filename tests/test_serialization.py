"""Every class registered as Keras-serializable survives config, serialize and ``.keras`` round trips.

A class registered without an entry in ``CASES`` fails ``test_round_trips[<ClassName>]``: add a tiny
instance and an example input for it there.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, NamedTuple, Optional

import keras
import numpy as np
import pytest

from serialization import (
    assert_config_round_trip, assert_metric_round_trip, assert_saved_model_round_trip, assert_schedule_round_trip,
    assert_serialize_round_trip, registered_classes,
)

from keras_au.models.resnet import narrow_resnet_class, resnet18_config

narrow_resnet_class()  # registered on first use (keras-hub is imported lazily): register before discovery
REGISTERED = registered_classes()


class Case(NamedTuple):
    """``make()`` -> a small instance; ``args()`` -> positional call inputs (metric: ``update_state``'s;
    schedule: the steps to compare); ``xfail``: why it fails today, for classes others are refactoring."""

    make: Callable[[], Any]
    args: Callable[[], tuple]
    xfail: Optional[str] = None


def rand(*shape: int, scale: float = 1.0) -> np.ndarray:
    return (np.random.default_rng(sum(shape)).random(shape) * scale).astype("float32")


def images(size: int) -> tuple:
    return (rand(2, size, size, 3, scale=255.0),)


def rtatl_config():
    """The CI preset at a 64 px input; "jigsaw" is ResNet-18 alone (``relation="none"``): tracing the RoI
    path twice more (save, load) would triple the file's runtime, and its layers have their own cases."""
    from keras_au.models.rtatl.config import make_config

    return make_config("jigsaw", "ci", overrides={"input_size": 64})


def rtatl_inputs() -> tuple:
    from keras_au.models.rtatl.config import ModelConfig

    landmarks = ModelConfig(input_size=64).resolved_mean_landmarks()
    return ({"image": rand(2, 64, 64, 3, scale=255.0), "landmarks": np.stack([landmarks] * 2)},)


def rtatl_trainer():
    from keras_au.models.rtatl.trainer import RTATLTrainer

    trainer = RTATLTrainer(rtatl_config().to_dict())
    trainer.build_all()
    return trainer


def wild_network():
    from keras_au.models.wild import WildNetwork

    return WildNetwork(aus=(1, 2), input_size=32, crop_size=32, part_widths=(4, 4, 4, 4, 4), landmark_fc_units=8,
                       cbam_reduction=2, cbam_kernel=3, separation_width=4, generator_width=4, discriminator_width=4,
                       au_width=4, au_depth=2, separation_depth=2, num_landmarks=3)


def _cls(name: str) -> type:
    return REGISTERED[name]


def _case(name: str, *args, **kwargs) -> Callable[[], Any]:
    return lambda: _cls(name)(*args, **kwargs)


CASES: dict[str, Case] = {
    # wild
    "NarrowResNetBackbone": Case(lambda: narrow_resnet_class()(**resnet18_config(8)), lambda: (rand(2, 32, 32, 3),)),
    "NarrowResNetImageConverter": Case(lambda: _cls("NarrowResNetImageConverter")(
        image_size=(16, 16), scale=[0.1, 0.2, 0.3], offset=[-1.0, 0.0, 1.0]), lambda: (rand(2, 20, 20, 3),)),
    "ConvBlock": Case(_case("ConvBlock", 4), lambda: (rand(2, 8, 8, 3),)),
    "CBAM": Case(_case("CBAM", 2, 3), lambda: (rand(2, 8, 8, 4),)),
    "AUDetector": Case(_case("AUDetector", 2, 4, 2), lambda: (rand(2, 8, 8, 4),)),
    "LandmarkPart": Case(_case("LandmarkPart", 4), lambda: (rand(2, 8, 8, 3),)),
    "LandmarkBranch": Case(_case("LandmarkBranch", (4, 4, 4, 4, 4), 8, 3, 32, 2, 3), lambda: images(32)),
    "FeatureExtractor": Case(_case("FeatureExtractor", (4, 4), 16), lambda: images(16)),
    "AcceptLandmarks": Case(_case("AcceptLandmarks"), lambda: ([rand(2, 3), rand(2, 49, 2)],)),
    "LandmarkEncoder": Case(_case("LandmarkEncoder", 4, 3, 2), lambda: (rand(2, 8, 8, 4),)),
    "BackgroundGenerator": Case(_case("BackgroundGenerator", 4, 4, 2), lambda: (rand(2, 8, 8, 4),)),
    "FeatureGenerator": Case(_case("FeatureGenerator", 4, 4), lambda: ((rand(2, 8, 8, 3), rand(2, 8, 8, 4)),)),
    "LandmarkDiscriminator": Case(_case("LandmarkDiscriminator", 4, 3, 2), lambda: (rand(2, 8, 8, 4),)),
    "DomainDiscriminator": Case(_case("DomainDiscriminator", 4), lambda: (rand(2, 16, 16, 4),)),
    "Projector": Case(_case("Projector", 4, 2), lambda: (rand(2, 8, 8, 4),)),
    "WildNetwork": Case(wild_network, lambda: images(32)),
    "StepLinearDecay": Case(_case("StepLinearDecay", 1e-3, 2, 6, 2, 2), lambda: (0, 3, 5, 9, 100)),
    "LinearDecay": Case(_case("LinearDecay", 1e-3, 2, 6, 2), lambda: (0, 3, 5, 9, 100)),
    "LinearCooldown": Case(_case("LinearCooldown", 1e-3, 10, 0.3), lambda: (0, 6, 7, 8, 10, 20)),
    # rtatl
    "RTATLBackbone": Case(lambda: _cls("RTATLBackbone")(**dataclasses.asdict(rtatl_config().model)),
                           rtatl_inputs),
    "RTATLTrainer": Case(rtatl_trainer, rtatl_inputs),
    "FPNFusion": Case(_case("FPNFusion", 4),
                      lambda: ([rand(2, 16, 16, 4), rand(2, 8, 8, 4), rand(2, 4, 4, 4), rand(2, 2, 2, 4)],)),
    "RoIModules": Case(_case("RoIModules", 2, 4, 4, "split"), lambda: (rand(2, 4, 3, 3, 4),)),
    "AURelationTransformer": Case(_case("AURelationTransformer", 2, 4, 2, 8, 0.0), lambda: (rand(2, 4, 4),)),
    "AURelationGCN": Case(_case("AURelationGCN", 2, 4, 1, [[0.0, 1.0], [1.0, 0.0]]), lambda: (rand(2, 4, 4),)),
    "AUHeads": Case(_case("AUHeads", 2, 4, 3), lambda: (rand(2, 2, 4), rand(2, 2, 2, 4))),
    "PatchGenerator": Case(_case("PatchGenerator", 16, (8, 8, 8, 8)), lambda: (rand(2, 8),)),
    "PatchDiscriminator": Case(_case("PatchDiscriminator", 16, (4, 4, 4, 4), 1), lambda: (rand(2, 16, 16, 3),)),
    "PatchClassifier": Case(_case("PatchClassifier", 3, 16, (4, 4, 4, 4)), lambda: (rand(2, 16, 16, 3),)),
    "FlowHead": Case(_case("FlowHead", 4), lambda: (rand(2, 2, 2, 8),)),
    "RotationHead": Case(_case("RotationHead"), lambda: (rand(2, 2, 2, 4),)),
    "ExemplarProjector": Case(_case("ExemplarProjector", 4), lambda: (rand(2, 2, 2, 8),)),
    "JigsawHead": Case(_case("JigsawHead", 3, 4), lambda: (rand(18, 2, 2, 4),)),
    # metrics
    "AUF1Score": Case(_case("AUF1Score", 3, 0.4, (1, 2, 4)),
                      lambda: (np.array([[1, 0, -1], [0, 1, 1]]), np.array([[0.9, 0.5, 0.2], [0.1, 0.3, 0.8]]))),
}


def _params() -> list:
    params = []
    for name in sorted(REGISTERED.keys() | CASES.keys()):
        reason = CASES[name].xfail if name in CASES else None
        marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
        params.append(pytest.param(name, id=name, marks=marks))
    return params


@pytest.mark.parametrize("name", _params())
def test_round_trips(name: str, tmp_path) -> None:
    assert name in REGISTERED, f"CASES has {name}, which is no longer registered as serializable: remove it"
    assert name in CASES, f"{name} is registered as serializable but has no serialization case: add it to CASES"
    case = CASES[name]
    obj = case.make()
    assert type(obj) is REGISTERED[name]
    assert_config_round_trip(obj)
    if isinstance(obj, keras.metrics.Metric):
        assert_metric_round_trip(obj, case.args())
    elif isinstance(obj, keras.optimizers.schedules.LearningRateSchedule):
        assert_schedule_round_trip(obj, case.args())
    else:
        assert_serialize_round_trip(obj)
        assert_saved_model_round_trip(obj, case.args(), tmp_path)


def test_discovery_sees_the_known_registrations() -> None:
    # Guards the discovery itself: were it to find nothing, every parametrized case would vanish silently.
    assert {"ConvBlock", "WildNetwork", "RTATLBackbone", "AUF1Score", "LinearDecay"} <= REGISTERED.keys()
