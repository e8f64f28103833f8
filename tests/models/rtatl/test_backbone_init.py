"""``--init``: keras-hub presets written by keras-hub's own ``save_to_preset`` and loaded through its real
loading code (``Backbone.from_preset``, ``ImageConverter.from_preset``), offline."""

import json
import os
import shutil
import socket
import time

import keras
import numpy as np
import pytest

from keras_au.models import backbone_init
from keras_au.models.resnet import resnet18_backbone
from keras_au.models.rtatl import task
from keras_au.models.normalisation import IMAGENET_OFFSET, IMAGENET_SCALE
from keras_au.models.rtatl.config import make_config

WIDTH = make_config("rtatl", "ci").model.resnet_width
SCALE, OFFSET = (0.011, 0.012, 0.013), (-1.5, -1.75, -2.0)


def _write_preset(path: str, width: int = WIDTH, seed: int = 7) -> str:
    import keras_hub

    backbone = resnet18_backbone(width)
    rng = np.random.default_rng(seed)
    for w in backbone.weights:  # known values, BatchNorm statistics included (variances kept positive)
        v = rng.normal(size=w.shape).astype("float32")
        w.assign(np.abs(v) + 0.5 if "variance" in w.path else v)
    backbone.save_to_preset(path)
    keras_hub.layers.ResNetImageConverter(image_size=(64, 64), scale=list(SCALE), offset=list(OFFSET)) \
        .save_to_preset(path)
    return path


@pytest.fixture(scope="module")
def preset_dir(tmp_path_factory) -> str:
    return _write_preset(str(tmp_path_factory.mktemp("preset") / "r18"))


def _weights_by_name(model) -> dict:
    return {f"{layer.name}/{w.name}": keras.ops.convert_to_numpy(w) for layer in model.layers for w in layer.weights}


def test_init_dir_copies_every_backbone_weight_and_keeps_the_other_draws(preset_dir):
    cfg = make_config("rtatl", "ci")
    preset = backbone_init.load(preset_dir, cfg.model.resnet_width)
    assert preset.source == "dir" and preset.preset == os.path.abspath(preset_dir)
    np.testing.assert_allclose(preset.input_scale, SCALE, rtol=1e-6)
    np.testing.assert_allclose(preset.input_offset, OFFSET, rtol=1e-6)
    keras.utils.set_random_seed(5)
    loaded = task.build_trainer(cfg, init=preset, compile=False)
    keras.utils.set_random_seed(5)
    scratch = task.build_trainer(cfg, compile=False)
    theirs, mine = _weights_by_name(preset.backbone), _weights_by_name(loaded.backbone.resnet)
    assert set(theirs) == set(mine) and len(mine) == 100  # 20 convs + 20 BatchNorms x 4
    for k, v in theirs.items():
        np.testing.assert_array_equal(mine[k], v, err_msg=k)
    resnet_ids = {id(v) for v in loaded.backbone.resnet.variables}
    rest = [(a, b) for a, b in zip(loaded.variables, scratch.variables) if id(a) not in resnet_ids]
    assert len(rest) == len(loaded.variables) - len(resnet_ids) > 0
    for a, b in rest:
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b), err_msg=a.path)


def test_train_with_init_dir_records_it_and_uses_the_converters_normalisation(preset_dir, tiny_records, tmp_path):
    out = str(tmp_path / "run")
    result = task.train(model="backbone_t", out=out, data=tiny_records, fold=0, preset="ci", epochs=1,
                        steps_per_epoch=1, init=preset_dir, verbose=0)
    assert np.isfinite(result["final_metrics"]["loss"])
    with open(os.path.join(out, "run.json")) as f:
        info = json.load(f)
    assert info["init"]["init"] == preset_dir and info["init"]["source"] == "dir"
    assert "ResNetImageConverter" in info["init"]["normalisation"]
    np.testing.assert_allclose(info["config"]["model"]["input_scale"], SCALE, rtol=1e-6)
    np.testing.assert_allclose(info["config"]["model"]["input_offset"], OFFSET, rtol=1e-6)
    _, _, trainer = task.load_run(out)
    normed, *_ = trainer.backbone.preprocess(np.full((1, 64, 64, 3), 100.0, np.float32), np.zeros((1, 68, 2)))
    np.testing.assert_allclose(normed[0, 0, 0], np.array(SCALE) * 100 + np.array(OFFSET), rtol=1e-5)
    exp = task.export(run_dir=out, out=str(tmp_path / "exp"))
    with open(os.path.join(exp, "export.json")) as f:
        meta = json.load(f)
    assert meta["init"]["preset"] == os.path.abspath(preset_dir)
    np.testing.assert_allclose(meta["input_scale"], SCALE, rtol=1e-6)
    # resuming never loads the preset again: a broken preset path is ignored (the checkpoint has the weights)
    again = task.train(model="backbone_t", out=out, data=tiny_records, fold=0, preset="ci", epochs=2,
                       steps_per_epoch=1, init=str(tmp_path / "gone"), verbose=0)
    assert again["resumed_from_epoch"] == 1


def test_scratch_runs_keep_the_imagenet_normalisation(tiny_records, tmp_path):
    cfg = make_config("rtatl", "ci")
    assert cfg.model.input_scale == IMAGENET_SCALE and cfg.model.input_offset == IMAGENET_OFFSET
    x = np.array([0.0, 127.0, 255.0])
    for c, (m, s) in enumerate(zip((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))):
        np.testing.assert_allclose(x * IMAGENET_SCALE[c] + IMAGENET_OFFSET[c], (x / 255 - m) / s, rtol=1e-6)


def _refused(tiny_records, tmp_path, init, match, **kw):
    out = tmp_path / "refused"
    with pytest.raises(ValueError, match=match):
        task.train(model="backbone_t", out=str(out), data=tiny_records, fold=0, preset="ci", epochs=1,
                   steps_per_epoch=1, init=init, verbose=0, **kw)
    assert not out.exists() or not os.listdir(out), os.listdir(out)  # nothing written


def test_other_architectures_are_refused_before_anything_is_written(preset_dir, tiny_records, tmp_path):
    r50 = str(tmp_path / "r50")
    shutil.copytree(preset_dir, r50)
    with open(os.path.join(r50, "config.json")) as f:
        config = json.load(f)
    config["registered_name"] = "keras_hub>ResNetBackbone"
    config["config"].update(input_conv_filters=[64], stackwise_num_filters=[64, 128, 256, 512],
                            stackwise_num_blocks=[3, 4, 6, 3], block_type="bottleneck_block")
    with open(os.path.join(r50, "config.json"), "w") as f:
        json.dump(config, f)
    _refused(tiny_records, tmp_path, r50, r"is ResNet-50, not the model's ResNet-18 of width 8")
    _refused(tiny_records, tmp_path, preset_dir, r"ResNet-18 of width 16.*resnet_width",
             overrides={"model.resnet_width": 16})
    with open(os.path.join(r50, "config.json"), "w") as f:
        json.dump({**config, "registered_name": "keras_hub>ViTBackbone"}, f)
    _refused(tiny_records, tmp_path, r50, r"ViTBackbone, not a keras-hub ResNetBackbone")


def test_bad_preset_folders_fail_before_training_naming_the_file(preset_dir, tiny_records, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    _refused(tiny_records, tmp_path, str(empty), r"empty/config\.json not found")
    half = str(tmp_path / "half")
    shutil.copytree(preset_dir, half)
    os.remove(os.path.join(half, "model.weights.h5"))
    _refused(tiny_records, tmp_path, half, r"half/model\.weights\.h5 not found")
    with open(os.path.join(preset_dir, "model.weights.h5"), "rb") as f:
        head = f.read(4096)
    with open(os.path.join(half, "model.weights.h5"), "wb") as f:
        f.write(head)  # truncated
    _refused(tiny_records, tmp_path, half, r"half/model\.weights\.h5 failed")
    wrong = str(tmp_path / "wrong")
    _write_preset(str(tmp_path / "wide"), width=2 * WIDTH)
    shutil.copytree(preset_dir, wrong)
    shutil.copy(str(tmp_path / "wide" / "model.weights.h5"), os.path.join(wrong, "model.weights.h5"))
    _refused(tiny_records, tmp_path, wrong, r"wrong/model\.weights\.h5 failed")
    with open(os.path.join(half, "config.json"), "w") as f:
        f.write("{not json")
    _refused(tiny_records, tmp_path, half, r"half/config\.json is not readable JSON")
    _refused(tiny_records, tmp_path, str(tmp_path / "nowhere" / "r18"), r"no such preset folder")
    _refused(tiny_records, tmp_path, preset_dir, r"alternatives", weights=os.path.join(preset_dir, "x.npz"))


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "no network in this test")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.mark.parametrize("name", ["imagenet", "resnet_18_made_up", "kaggle://nobody/resnet/keras/made_up/1"])
def test_hub_preset_without_network_fails_fast_naming_init_preset(name, no_network, tiny_records, tmp_path):
    start = time.monotonic()
    preset = "resnet_18_imagenet" if name == "imagenet" else name
    _refused(tiny_records, tmp_path, name, rf"'{preset}'.*keras-au init-preset {preset} --out DIR")
    assert time.monotonic() - start < 30


def test_a_hanging_hub_fetch_hits_the_deadline(monkeypatch):
    from keras_hub.src.utils import preset_utils

    monkeypatch.setattr(preset_utils, "load_json", lambda *a, **k: time.sleep(60))
    monkeypatch.setenv("KERAS_AU_HUB_TIMEOUT", "1")
    start = time.monotonic()
    with pytest.raises(ValueError, match=r"TimeoutError.*init-preset resnet_18_imagenet"):
        backbone_init.load("imagenet", 64)
    assert time.monotonic() - start < 5


def test_init_preset_command_saves_a_loadable_preset(preset_dir, tmp_path, monkeypatch, capsys):
    from keras_au.cli import main

    real = backbone_init.resolve
    # stands in for a hub name: the local folder goes through the same keras-hub from_preset/save_to_preset
    monkeypatch.setattr(backbone_init, "resolve", lambda n: ("hub", preset_dir) if n == "fake_hub" else real(n))
    out = str(tmp_path / "offline" / "r18")
    assert main(["init-preset", "fake_hub", "--out", out]) == 0
    assert {"config.json", "model.weights.h5", "image_converter.json"} <= set(os.listdir(out))
    loaded = backbone_init.load(out, WIDTH)
    np.testing.assert_allclose(loaded.input_scale, SCALE, rtol=1e-6)
    assert main(["init-preset", "fake_hub", "--out", out]) == 2  # refuses to overwrite
    assert "not empty" in capsys.readouterr().err


def test_preflight_refuses_a_preset_of_another_width_offline(preset_dir, no_network):
    backbone_init.preflight(preset_dir, WIDTH)  # fits: nothing raised
    with pytest.raises(ValueError, match=rf"width {2 * WIDTH}.*--set model.resnet_width"):
        backbone_init.preflight(preset_dir, 2 * WIDTH)
    with pytest.raises(ValueError, match=r"resnet_18_imagenet is a ResNet-18 of width 64, the model's is 32"):
        backbone_init.preflight("imagenet", 32)
    backbone_init.preflight("imagenet", 64)  # known width: no fetch (the network is refused in this test)
    backbone_init.preflight("resnet_18_made_up", 32)  # unknown hub preset: left to the Trainer, nothing fetched
    backbone_init.preflight(None, 32)


def test_pipeline_and_demo_refuse_a_preset_that_cannot_fit_before_any_work(preset_dir, no_network, tmp_path, capsys):
    from keras_au.cli import main
    from pipeline.configs import PipelineConfig

    demo_width = make_config("rtatl", "demo").model.resnet_width
    assert demo_width != WIDTH
    with pytest.raises(ValueError, match=rf"width {demo_width}"):
        PipelineConfig(data_dir=str(tmp_path), preset="demo", init=preset_dir)
    PipelineConfig(data_dir=str(tmp_path), preset="demo", init=preset_dir,
                   overrides={"model.resnet_width": WIDTH})  # --set picks the width: accepted
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--init", "imagenet", "--offline"]) == 2
    assert "resnet_18_imagenet is a ResNet-18 of width 64" in capsys.readouterr().err
    assert not out.exists()  # refused before the sample or the pipeline started
