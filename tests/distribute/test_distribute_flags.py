"""tf.distribute for both models (keras_au.distribute), in process: flags and cluster resolution, global-batch
losses, mixed-precision loss scaling, the TFX Trainer's hardware settings. The mirrored and multiworker runs are
in the other files of this folder, one file each so that pytest-xdist spreads them over its workers."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from keras_au import distribute as D


# -- flags and cluster resolution (in process, no strategy created) --------------------------------------
@pytest.fixture
def no_cluster_env(monkeypatch):
    for k in ("TF_CONFIG", "SLURM_JOB_ID", "SLURM_PROCID"):
        monkeypatch.delenv(k, raising=False)


@pytest.mark.parametrize("kind, cpu, match", [
    ("ring", None, "--distribute must be one of"),
    ("none", 2, "mirrored only"),
    ("multiworker", 2, "mirrored only"),
    ("multiworker", None, "TF_CONFIG"),
])
def test_bad_flags_are_clear_errors(no_cluster_env, kind, cpu, match):
    with pytest.raises(ValueError, match=match):
        D.resolve(kind, cpu)


def test_tf_config_must_describe_a_cluster():
    with pytest.raises(ValueError, match="not JSON"):
        D.cluster_resolver({"TF_CONFIG": "{oops"})
    with pytest.raises(ValueError, match="'cluster' and 'task'"):
        D.cluster_resolver({"TF_CONFIG": json.dumps({"task": {"type": "worker", "index": 0}})})
    _, name = D.cluster_resolver({"TF_CONFIG": json.dumps({"cluster": {"worker": ["localhost:1"]},
                                                           "task": {"type": "worker", "index": 0}})})
    assert name == "TF_CONFIG"


def test_slurm_resolver_when_no_tf_config(monkeypatch):
    import tensorflow as tf

    monkeypatch.setattr(tf.distribute.cluster_resolver, "SlurmClusterResolver", lambda: "slurm-resolver")
    assert D.cluster_resolver({"SLURM_JOB_ID": "7", "SLURM_PROCID": "0"}) == ("slurm-resolver", "SLURM")


def test_chief_is_the_chief_task_or_worker_0():
    assert D._is_chief("chief", 0, {"chief": ["a"], "worker": ["b"]})
    assert not D._is_chief("worker", 0, {"chief": ["a"], "worker": ["b"]})
    assert D._is_chief("worker", 0, {"worker": ["a", "b"]})
    assert not D._is_chief("worker", 1, {"worker": ["a", "b"]})


def test_single_device_losses_unchanged():
    from keras_au.losses import weighted_mean

    v, w = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 0.0, 1.0, 0.0])
    assert float(weighted_mean(v, w)) == pytest.approx(2.0)
    assert float(weighted_mean(v, np.zeros(4))) == 0.0
    assert float(D.global_mean(v)) == pytest.approx(2.5)
    assert D.num_replicas() == 1
    d = D.resolve("none")
    assert d.replicas == 1 and d.is_chief and not d.sync_bn and d.describe()["strategy"] == "none"
    with pytest.raises(ValueError, match="multiple of 3"):
        D.Distribution("mirrored", None, 3).check_batch(4)


def test_mixed_policy_names():
    assert D.mixed_policy(False) is None
    assert D.mixed_policy("float16") == "mixed_float16"
    assert D.mixed_policy("mixed_bfloat16") == "mixed_bfloat16"
    assert D.mixed_policy(True) == "mixed_bfloat16"  # this CPU-only machine
    with pytest.raises(ValueError):
        D.mixed_policy("int8")


# -- mixed precision: LossScaleOptimizer for every optimizer under float16, none under bfloat16 -------------
@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_rtatl_every_optimizer_loss_scaled_under_float16(policy):
    from keras_au.models.rtatl import task
    from keras_au.models.rtatl.config import make_config

    trainer = task.build_trainer(make_config("rtatl", "ci"), mixed=policy)
    assert keras.config.dtype_policy().name == "float32"  # restored
    scaled = policy == "mixed_float16"
    for opt in (trainer.optimizer, trainer.critic_optimizer):
        assert isinstance(opt, keras.optimizers.LossScaleOptimizer) == scaled
    assert trainer.backbone.compute_dtype == policy.split("_")[1]


def test_wild_every_optimizer_loss_scaled_under_float16():
    from keras_au.models.wild import task as wild_task
    from keras_au.models.wild.landmark_pretrainer import LandmarkPretrainer
    from keras_au.models.wild.trainer import WildTrainer

    cfg = wild_task.make_config("ci")
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        net = wild_task.build_network(cfg)
        trainer = WildTrainer(net, cfg, np.ones(len(cfg.aus)))
        trainer.compile(*wild_task._optimizers(cfg, 2))
        pre = LandmarkPretrainer(net.landmark_branch, cfg.crop_size)
        pre.compile(optimizer=keras.optimizers.Adam(1e-4))
    finally:
        keras.config.set_dtype_policy(previous)
    for opt in (trainer.optimizer, trainer.generator_optimizer, trainer.discriminator_optimizer, pre.optimizer):
        assert isinstance(opt, keras.optimizers.LossScaleOptimizer)
    a, b = keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(), initial_scale=8.0), keras.optimizers.SGD()
    g = D.rescale_gradients([np.float32(16.0), None], a, b)  # scaled by 8 -> unscaled for a plain optimizer
    assert float(g[0]) == pytest.approx(2.0) and g[1] is None


# -- the TFX Trainer's custom_config and the Kubeflow spec --------------------------------------------------
def test_pipeline_trainer_hardware(tmp_path):
    import yaml

    from pipeline.configs import PipelineConfig
    from pipeline.kubeflow_runner import request_trainer_gpus
    from pipeline.pipeline import trainer_custom_config

    assert "distribute" not in trainer_custom_config(PipelineConfig(data_dir="d"), 0)
    assert trainer_custom_config(PipelineConfig(data_dir="d", trainer_gpus=2), 0)["distribute"] == "mirrored"
    cfg = PipelineConfig(data_dir="d", trainer_gpus=1, trainer_replicas=3, vertex_project="p")
    assert cfg.trainer_distribute == "multiworker"
    with pytest.raises(ValueError, match="--vertex-project"):
        PipelineConfig(data_dir="d", trainer_replicas=2)
    spec = {"deploymentSpec": {"executors": {"Trainer_fold0_executor": {"container": {"image": "i"}},
                                             "Pusher_executor": {"container": {"image": "i"}}}}}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    request_trainer_gpus(str(path), 2, "NVIDIA_H100_80GB")
    ex = yaml.safe_load(path.read_text())["deploymentSpec"]["executors"]
    assert ex["Trainer_fold0_executor"]["container"]["resources"]["accelerator"] == {"type": "NVIDIA_H100_80GB",
                                                                                     "count": "2"}
    assert "resources" not in ex["Pusher_executor"]["container"]
    assert D.chief_in_env({}) and not D.chief_in_env({"TF_CONFIG": json.dumps(
        {"cluster": {"chief": ["a"], "worker": ["b"]}, "task": {"type": "worker", "index": 0}})})
