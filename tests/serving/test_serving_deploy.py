"""Deployment assets are consistent: config protos parse, paths and ports line up across files."""

from __future__ import annotations

import re

import pytest
import yaml
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

DEPLOY = "serving/deploy"


def _model_config(text: str):
    return text_format.Parse(text, model_server_config_pb2.ModelServerConfig())


def _batching(text: str) -> dict:
    """The BatchingParameters text proto (its message is not in tensorflow-serving-api): known fields only."""
    text = re.sub(r"#.*", "", text)
    known = {"max_batch_size", "batch_timeout_micros", "max_enqueued_batches", "num_batch_threads",
             "allowed_batch_sizes", "pad_variable_length_inputs"}
    fields: dict = {"allowed_batch_sizes": []}
    for name, _ in re.findall(r"(\w+)\s*(?:\{\s*value:\s*(\w+)\s*\}|:\s*(?:\w+))", text):
        assert name in known, f"unknown batching field {name}"
    for name, value in re.findall(r"(\w+)\s*\{\s*value:\s*(\d+)\s*\}", text):
        fields[name] = int(value)
    fields["allowed_batch_sizes"] = [int(v) for v in re.findall(r"allowed_batch_sizes:\s*(\d+)", text)]
    return fields


@pytest.fixture(scope="module")
def files() -> dict:
    return {name: open(f"{DEPLOY}/{name}").read() for name in
            ("models.config", "batching.config", "docker-compose.yml", "k8s/deployment.yaml", "k8s/service.yaml",
             "k8s/configmap.yaml")}


def test_models_config_serves_keras_au_latest(files):
    cfg = _model_config(files["models.config"])
    (model,) = cfg.model_config_list.config
    assert model.name == "keras_au" and model.base_path == "/models/keras_au" and model.model_platform == "tensorflow"
    assert model.model_version_policy.latest.num_versions == 1
    cm = yaml.safe_load(files["k8s/configmap.yaml"])["data"]
    assert _model_config(cm["models.config"]) == cfg  # the ConfigMap carries the same config
    assert _batching(cm["batching.config"]) == _batching(files["batching.config"])


def test_batching_parameters_are_valid(files):
    b = _batching(files["batching.config"])
    sizes = b["allowed_batch_sizes"]
    # TF Serving refuses allowed_batch_sizes that are not increasing or whose last entry is not max_batch_size
    assert sizes == sorted(set(sizes)) and sizes[-1] == b["max_batch_size"]
    assert 0 < b["batch_timeout_micros"] <= 10_000 and b["num_batch_threads"] >= 1


def test_compose_and_kubernetes_agree_on_ports_and_paths(files):
    compose = yaml.safe_load(files["docker-compose.yml"])["services"]["keras-au-serving"]
    assert compose["image"].startswith("tensorflow/serving")
    assert {"8500:8500", "8501:8501"} <= set(compose["ports"])
    assert any(v.endswith(":/models/keras_au:ro") for v in compose["volumes"])
    flags = " ".join(compose["command"])
    assert "--model_config_file=/models/models.config" in flags and "--enable_batching=true" in flags
    assert any(v.endswith(":/models/models.config:ro") for v in compose["volumes"])

    deployment = yaml.safe_load(files["k8s/deployment.yaml"])
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert {p["containerPort"] for p in container["ports"]} == {8500, 8501}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts["/models/keras_au"] == "models"
    config_dir = [p for p, n in mounts.items() if n == "config"][0]
    assert f"--model_config_file={config_dir}/models.config" in container["args"]
    assert f"--batching_parameters_file={config_dir}/batching.config" in container["args"]
    probe = " ".join(container["readinessProbe"]["exec"]["command"])
    assert "/v1/models/keras_au" in probe and "8501" in probe
    assert deployment["spec"]["selector"]["matchLabels"] == deployment["spec"]["template"]["metadata"]["labels"]

    service = yaml.safe_load(files["k8s/service.yaml"])
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert {(p["port"], p["targetPort"]) for p in service["spec"]["ports"]} == {(8500, "grpc"), (8501, "rest")}
    assert {p["name"] for p in container["ports"]} == {"grpc", "rest"}
