"""REST and gRPC clients against the in-process protocol double (NOT TF Serving) running the real SavedModel."""

from __future__ import annotations

import json
import socket
import subprocess
import urllib.error
import urllib.request

import numpy as np
import pytest
import tensorflow as tf

from serving.client import GrpcClient, RestClient, RetryPolicy, ServingError


class Sleeps(list):
    """Records backoff waits instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def _clients(double, **kw):
    return [RestClient(double.rest_url, **kw), GrpcClient(double.grpc_target, **kw)]


@pytest.fixture(scope="module")
def reference(version_dir, faces):
    sig = tf.saved_model.load(version_dir).signatures
    return {
        "predict_landmarks": sig["predict_landmarks"](images=tf.constant(faces.images[:3]),
                                                      landmarks=tf.constant(faces.landmarks[:3]))["au_probs"].numpy(),
        "serving_default": sig["serving_default"](images=tf.constant(faces.images[:3]))["au_probs"].numpy(),
    }


def _post(url: str, body) -> tuple[int, dict]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_predict_over_both_protocols_matches_the_saved_model(fresh_double, faces, reference):
    images = np.round(faces.images[:3]).astype(np.uint8)  # what a client holds: aligned uint8 faces
    ref_lm = tf.saved_model.load(fresh_double.servable(None).path).signatures["predict_landmarks"](
        images=tf.constant(images.astype(np.float32)), landmarks=tf.constant(faces.landmarks[:3]))["au_probs"].numpy()
    rest, grpc_client = _clients(fresh_double)
    for out in (rest.predict(images=images, landmarks=faces.landmarks[:3]),
                rest.predict(images=images, landmarks=faces.landmarks[:3], request_format="instances"),
                grpc_client.predict(images=images, landmarks=faces.landmarks[:3])):
        np.testing.assert_allclose(out["au_probs"], ref_lm, atol=1e-5)
        assert out["au_names"].shape == (3, 12) and out["au_names"][0, 0] == "AU01"
        np.testing.assert_array_equal(out["au_present"], out["au_probs"] >= 0.5)
    by_grpc = grpc_client.predict(images=faces.images[:3])  # serving_default: mean landmarks
    np.testing.assert_allclose(by_grpc["au_probs"], reference["serving_default"], atol=1e-5)
    pngs = [tf.io.encode_png(f).numpy() for f in images]
    for client in (rest, grpc_client):
        out = client.predict(image_bytes=pngs)
        assert out["au_probs"].shape == (3, 12)
    filtered = grpc_client.predict(images=images, output_filter=["au_probs"])
    assert set(filtered) == {"au_probs"}
    grpc_client.close()


def test_status_and_metadata(fresh_double):
    rest, grpc_client = _clients(fresh_double)
    for client in (rest, grpc_client):
        status = client.status()["model_version_status"]
        assert status == [{"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]
        assert client.is_available()
        sigs = client.metadata()["metadata"]["signature_def"]["signature_def"]
        assert set(sigs) == {"serving_default", "predict_landmarks", "serve_bytes"}
        assert set(sigs["predict_landmarks"]["inputs"]) == {"images", "landmarks"}
        assert sigs["predict_landmarks"]["inputs"]["images"]["dtype"] == "DT_FLOAT"
        assert set(sigs["serve_bytes"]["outputs"]) == {"au_probs", "au_names", "au_present"}
    assert fresh_double.warmup_runs == 1  # assets.extra/tf_serving_warmup_requests was replayed at load


def test_transient_unavailability_is_retried_then_succeeds(fresh_double, faces):
    for client_cls, target, protocol in ((RestClient, fresh_double.rest_url, "rest"),
                                         (GrpcClient, fresh_double.grpc_target, "grpc")):
        sleeps = Sleeps()
        client = client_cls(target, retry=RetryPolicy(max_attempts=4, initial_backoff=0.1, sleep=sleeps))
        before = fresh_double.requests[protocol]
        fresh_double.fail_next(2)
        out = client.predict(images=faces.images[:1])
        assert out["au_probs"].shape == (1, 12)
        assert fresh_double.requests[protocol] - before == 3  # two 503/UNAVAILABLE answers, then success
        assert len(sleeps) == 2 and 0.05 < sleeps[0] < sleeps[1]  # exponential backoff


def test_retries_are_bounded(fresh_double, faces):
    for client_cls, target, protocol in ((RestClient, fresh_double.rest_url, "rest"),
                                         (GrpcClient, fresh_double.grpc_target, "grpc")):
        sleeps = Sleeps()
        client = client_cls(target, retry=RetryPolicy(max_attempts=3, sleep=sleeps))
        before = fresh_double.requests[protocol]
        fresh_double.fail_next(10)
        with pytest.raises(ServingError) as e:
            client.predict(images=faces.images[:1])
        assert e.value.code == "UNAVAILABLE" and e.value.attempts == 3
        assert fresh_double.requests[protocol] - before == 3 and len(sleeps) == 2
        fresh_double.fail_next(0)


def test_bad_requests_are_not_retried(fresh_double):
    for client_cls, target, protocol in ((RestClient, fresh_double.rest_url, "rest"),
                                         (GrpcClient, fresh_double.grpc_target, "grpc")):
        sleeps = Sleeps()
        client = client_cls(target, retry=RetryPolicy(max_attempts=4, sleep=sleeps))
        before = fresh_double.requests[protocol]
        with pytest.raises(ServingError) as e:
            client.predict(images=np.zeros((1, 100, 100, 3), np.float32))
        assert e.value.code == "INVALID_ARGUMENT" and "expected shape [?,200,200,3]" in e.value.message
        assert e.value.http_status == (400 if protocol == "rest" else None)
        assert fresh_double.requests[protocol] - before == 1 and sleeps == []


def test_timeouts_raise_deadline_exceeded(fresh_double, faces):
    fresh_double.delay_s = 1.0
    for client in _clients(fresh_double, timeout=0.25, retry=RetryPolicy(max_attempts=2, sleep=Sleeps())):
        with pytest.raises(ServingError) as e:
            client.predict(images=faces.images[:1])
        assert e.value.code == "DEADLINE_EXCEEDED" and e.value.attempts == 2


def test_unreachable_server_is_unavailable_after_bounded_retries():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for client in (RestClient(f"http://127.0.0.1:{port}", retry=RetryPolicy(max_attempts=2, sleep=Sleeps())),
                   GrpcClient(f"127.0.0.1:{port}", timeout=2, retry=RetryPolicy(max_attempts=2, sleep=Sleeps()))):
        with pytest.raises(ServingError) as e:
            client.predict(images=np.zeros((1, 200, 200, 3), np.float32))
        assert e.value.code == "UNAVAILABLE" and e.value.attempts == 2


@pytest.mark.parametrize("kwargs, code, text", [
    ({"image_bytes": [b"not an image"]}, "INVALID_ARGUMENT", "Unknown image file format"),
    ({"images": np.zeros((2, 200, 200, 3)), "landmarks": np.zeros((1, 68, 2))}, "INVALID_ARGUMENT",
     "batch sizes differ"),
    ({"images": np.zeros((1, 200, 200, 3)), "signature": "classify"}, "INVALID_ARGUMENT",
     'signature key "classify" not found'),
    ({"images": np.zeros((1, 200, 200, 3)), "signature": "serve_bytes"}, "INVALID_ARGUMENT",
     "input tensor alias not found"),
])
def test_malformed_requests_get_clear_errors(fresh_double, kwargs, code, text):
    for client in _clients(fresh_double, retry=RetryPolicy(max_attempts=1)):
        with pytest.raises(ServingError) as e:
            client.predict(**kwargs)
        assert e.value.code == code and text in e.value.message, e.value


def test_unknown_model_and_version_are_not_found(fresh_double):
    for client in (RestClient(fresh_double.rest_url, model_name="other", retry=RetryPolicy(max_attempts=1)),
                   GrpcClient(fresh_double.grpc_target, version=9, retry=RetryPolicy(max_attempts=1))):
        with pytest.raises(ServingError) as e:
            client.predict(images=np.zeros((1, 200, 200, 3)))
        assert e.value.code == "NOT_FOUND"


def test_rest_wire_format_errors(fresh_double):
    url = f"{fresh_double.rest_url}/v1/models/keras_au:predict"
    cases = [
        (b"{not json", "JSON parse error"),
        ({"signature_name": "serving_default"}, "Missing 'inputs' or 'instances'"),
        ({"inputs": [[1]], "instances": [[1]]}, "Cannot specify both"),
        ({"inputs": {"images": [[["a", "b", "c"]]]}}, "expected numbers"),  # strings for a float tensor
        ({"instances": [[[0, 0, 0]], [[0, 0]]]}, "rectangular"),  # ragged
        ({"signature_name": "serve_bytes", "instances": [{"b64": "%%%"}]}, "JSON parse error"),  # bad base64
    ]
    for body, text in cases:
        status, payload = _post(url, body)
        assert status == 400 and text in payload["error"], (body, payload)
    status, payload = _post(f"{fresh_double.rest_url}/v1/models/keras_au/versions/3:predict", {"inputs": [[0]]})
    assert status == 404 and "Servable not found" in payload["error"]


def test_rest_row_and_columnar_response_shapes(fresh_double, faces):
    url = f"{fresh_double.rest_url}/v1/models/keras_au:predict"
    img = np.round(faces.images[:2]).astype(int).tolist()
    status, rows = _post(url, {"instances": img})  # single-input signature: bare values per instance
    assert status == 200 and len(rows["predictions"]) == 2
    assert set(rows["predictions"][0]) == {"au_probs", "au_names", "au_present"}
    status, cols = _post(url, {"inputs": img})
    assert status == 200 and np.asarray(cols["outputs"]["au_probs"]).shape == (2, 12)
    np.testing.assert_allclose([r["au_probs"] for r in rows["predictions"]], cols["outputs"]["au_probs"], atol=1e-6)


def test_deploy_readiness_probe_command_against_the_double(fresh_double):
    """The k8s readiness probe / compose health check (bash + /dev/tcp, no curl in the image) passes
    against a server answering TF Serving's model-status JSON, and fails when nothing listens."""
    import yaml

    probe = yaml.safe_load(open("serving/deploy/k8s/deployment.yaml"))["spec"]["template"]["spec"]["containers"][0][
        "readinessProbe"]["exec"]["command"]
    cmd = [c.replace("127.0.0.1/8501", f"127.0.0.1/{fresh_double.rest_port}") for c in probe]
    assert subprocess.run(cmd, timeout=30).returncode == 0
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dead = [c.replace("127.0.0.1/8501", f"127.0.0.1/{port}") for c in probe]
    assert subprocess.run(dead, timeout=30, capture_output=True).returncode != 0


def test_grpc_tensors_of_the_wrong_dtype_are_refused(fresh_double):
    from tensorflow_serving.apis import predict_pb2

    client = GrpcClient(fresh_double.grpc_target, retry=RetryPolicy(max_attempts=1))
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "keras_au"
    request.inputs["images"].CopyFrom(tf.make_tensor_proto(np.zeros((1, 200, 200, 3), np.float64)))
    with pytest.raises(ServingError) as e:
        client.predict_request(request)
    assert e.value.code == "INVALID_ARGUMENT" and "to be float32 but float64 is provided" in e.value.message
    request.inputs["images"].CopyFrom(tf.make_tensor_proto([b"text"]))
    with pytest.raises(ServingError, match="to be float32 but"):
        client.predict_request(request)
