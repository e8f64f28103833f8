"""TV-L1 flow targets: presets, value units after resampling, pickling for Beam workers."""

import pickle

import cv2
import numpy as np
import pytest

from keras_au.data.schema import FLOW_SIZE
from keras_au.flow import TVL1Flow, TVL1Params, resize_flow


@pytest.fixture(scope="module")
def shifted_pair(astronaut):
    face = np.ascontiguousarray(astronaut[60:260, 140:340])  # 200x200 around the face
    shifted = cv2.warpAffine(face, np.float32([[1, 0, 2.0], [0, 1, -1.0]]), (200, 200), borderMode=cv2.BORDER_REFLECT)
    return face, shifted


def test_presets_and_overrides():
    assert TVL1Params.preset("opencv") == TVL1Params()  # OpenCV's own defaults
    fast = TVL1Params.parse("fast")
    assert fast.epsilon > TVL1Params().epsilon and fast.nscales == 5
    custom = TVL1Params.parse("opencv,warps=3,lambda=0.2")
    assert (custom.warps, custom.lambda_, custom.epsilon) == (3, 0.2, 0.01)
    assert TVL1Params.parse("") == TVL1Params.preset("model") == TVL1Params.parse("fast,size=64")
    for bad in ("nope", "fast,warps", "fast,speed=3", "fast,warps=x"):
        with pytest.raises(ValueError):
            TVL1Params.parse(bad)


def test_global_shift_is_recovered_in_200px_units(shifted_pair):
    prev, nxt = shifted_pair
    target = TVL1Flow(TVL1Params.preset("fast")).target(prev, nxt)
    assert target.shape == (FLOW_SIZE, FLOW_SIZE, 2) and target.dtype == np.float16
    centre = target[25:75, 25:75].astype(np.float32)
    np.testing.assert_allclose(centre.reshape(-1, 2).mean(0), [2.0, -1.0], atol=0.25)
    still = TVL1Flow(TVL1Params.preset("test")).target(prev, prev)
    assert np.abs(still.astype(np.float32)).max() < 0.05


def test_resize_keeps_values_and_flow_object_pickles(shifted_pair):
    field = np.dstack([np.full((200, 200), 3.0, np.float32), np.full((200, 200), -1.5, np.float32)])
    small = resize_flow(field, 50)
    assert small.shape == (50, 50, 2)
    np.testing.assert_allclose(small[..., 0], 3.0)
    np.testing.assert_allclose(small[..., 1], -1.5)
    flow = TVL1Flow(TVL1Params.preset("test"))
    flow.compute(*shifted_pair)  # builds the OpenCV object
    clone = pickle.loads(pickle.dumps(flow))
    assert clone.params == flow.params and clone.compute(*shifted_pair).shape == (200, 200, 2)


def test_bad_frames_raise_clear_errors():
    flow = TVL1Flow(TVL1Params.preset("test"))
    with pytest.raises(ValueError, match="differ in size"):
        flow.compute(np.zeros((200, 200, 3), np.uint8), np.zeros((100, 100, 3), np.uint8))
    with pytest.raises(ValueError, match="RGB or grey"):
        flow.compute(np.zeros((200, 200, 5), np.uint8), np.zeros((200, 200, 5), np.uint8))
