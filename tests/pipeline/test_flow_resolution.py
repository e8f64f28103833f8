"""TV-L1 at a lower resolution: units kept, cheaper, close at the model's 48x48 grid; settings recorded."""

import os
import time

import cv2
import numpy as np
import pytest

from keras_au.data.schema import FLOW_SIZE, FaceRecord, read_examples, write_tfrecord
from keras_au.flow import DEFAULT_PRESET, TVL1Flow, TVL1Params
from keras_au.flow.resolution import MODEL_GRID, epe, model_view


@pytest.fixture(scope="module")
def mouth_pair(astronaut, detector):
    """An aligned real face and the same face with the mouth region moved down (known motion)."""
    from keras_au.geometry import align_face

    a = align_face(astronaut, detector.detect(astronaut).largest.landmarks)
    cx, cy = a.landmarks[48:68].mean(0)
    yy, xx = np.mgrid[0:200, 0:200].astype(np.float32)
    bump = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * 18.0**2)).astype(np.float32)
    nxt = cv2.remap(a.image, xx, yy - 4.0 * bump, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return a.image, nxt, bump > 0.8


def test_presets_record_their_names_and_resolution():
    model = TVL1Params.preset(DEFAULT_PRESET)
    assert DEFAULT_PRESET == "model" and model.size == 64 and model.resolution(200) == 64
    assert model.label == "model" and TVL1Params.preset("fast").resolution(200) == 200
    custom = TVL1Params.parse("opencv,size=100")
    assert custom.label == "opencv,size=100" and custom.resolution(200) == 100 and custom.epsilon == 0.01
    assert TVL1Params(nscales=3).label == "custom"
    with pytest.raises(ValueError, match="size"):
        TVL1Params.parse("fast,size=8")


def test_downscaled_flow_keeps_units_and_is_cheaper(mouth_pair):
    prev, nxt, mouth = mouth_pair
    full, small = TVL1Flow(TVL1Params.preset("fast")), TVL1Flow(TVL1Params.preset("model"))
    f_full, f_small = full.compute(prev, nxt), small.compute(prev, nxt)
    assert f_small.shape == (200, 200, 2)  # back at the frames' size, in their pixels
    # the mouth moved ~4 px down at its centre: both see it, in 200-px units
    assert f_full[..., 1][mouth].mean() > 2.5 and f_small[..., 1][mouth].mean() > 2.5
    assert np.abs(f_small[..., 0][mouth]).mean() < 0.5
    t_small = t_full = np.inf
    for _ in range(3):  # fastest of 3: the test machine is shared
        t0 = time.perf_counter()
        small.target(prev, nxt)
        t1 = time.perf_counter()
        full.target(prev, nxt)
        t_small, t_full = min(t_small, t1 - t0), min(t_full, time.perf_counter() - t1)
    assert t_full > 2.5 * t_small
    # what the flow head sees: close to the full-size flow on a 48x48 grid
    a, b = model_view(full.target(prev, nxt)), model_view(small.target(prev, nxt))
    assert a.shape == (MODEL_GRID, MODEL_GRID, 2) and epe(a, b) < 0.25


def test_model_view_follows_the_input_pipeline_units():
    field = np.dstack([np.full((FLOW_SIZE, FLOW_SIZE), 2.0), np.full((FLOW_SIZE, FLOW_SIZE), -1.0)])
    view = model_view(field)
    np.testing.assert_allclose(view[..., 0], 2.0, atol=1e-5)
    np.testing.assert_allclose(view[..., 1], -1.0, atol=1e-5)
    with pytest.raises(ValueError):
        epe(view, field)


def test_records_carry_flow_preset_and_resolution(tmp_path, astronaut):
    face = cv2.resize(astronaut, (200, 200))
    zero = np.zeros((FLOW_SIZE, FLOW_SIZE, 2))
    with_flow = FaceRecord(image=face, au_ids=(1,), au_labels=(1,), subject="s", flow=zero, flow_preset="model",
                           flow_resolution=64)  # fmt: skip
    without = FaceRecord(image=face, au_ids=(1,), au_labels=(0,), subject="s", frame=1, flow_preset="model",
                         flow_resolution=64)  # fmt: skip
    path = str(tmp_path / "r.tfrecord.gz")
    write_tfrecord(path, [with_flow, without])
    a, b = read_examples(path)
    assert a["flow_preset"] == b"model" and a["flow_resolution"] == [64] and a["has_flow"] == [1]
    assert b["flow_preset"] == b"" and b["flow_resolution"] == [0]  # no flow: nothing to describe
    assert os.path.getsize(path) > 0
