"""An in-process test double that speaks TF Serving's REST and gRPC protocols. It is NOT TF Serving.

The ``tensorflow_model_server`` binary cannot be installed here, so the clients are tested against
this double instead: it loads the real SavedModel with ``tf.saved_model.load`` (the newest version,
like TF Serving's default ``latest`` policy), replays ``assets.extra/tf_serving_warmup_requests``,
runs the real signatures and answers with TF Serving's message shapes:

* REST (``http.server`` on 127.0.0.1, ephemeral port): ``POST /v1/models/<m>[/versions/<v>]:predict``
  with ``"instances"`` (row) or ``"inputs"`` (columnar) JSON and ``{"b64": ...}`` for strings;
  ``GET /v1/models/<m>[/versions/<v>]`` (status) and ``.../metadata``; errors as
  ``{"error": "..."}`` with 400 (bad request), 404 (unknown model/version), 503 (unavailable).
* gRPC (``grpc.server``): ``PredictionService.Predict`` / ``GetModelMetadata`` and
  ``ModelService.GetModelStatus``; errors as ``INVALID_ARGUMENT`` / ``NOT_FOUND`` / ``UNAVAILABLE``.

What it does not do: batching, model hot-reload, multiple models, Classify/Regress/MultiInference,
the exact wording of every TF Serving error. Fault injection for client tests: ``fail_next(n)``
makes the next n predict calls answer 503 / ``UNAVAILABLE``, ``delay_s`` delays every predict call.
"""

from __future__ import annotations

import base64
import json
import os
import re
import threading
import time
from collections import Counter
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional

import grpc
import numpy as np

from keras_au.inference.savedmodel import EXTRA_DIR, MODEL_NAME, SAVED_MODEL_PB, WARMUP_FILE, version_dirs

HTTP_STATUS = {
    grpc.StatusCode.INVALID_ARGUMENT: 400, grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.NOT_FOUND: 404, grpc.StatusCode.UNAVAILABLE: 503, grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.UNIMPLEMENTED: 501, grpc.StatusCode.INTERNAL: 500,
}


class DoubleError(Exception):
    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def _tf_error_message(e: Exception) -> str:
    """The useful line of a TF runtime error (drops 'Graph execution error', node traces, op names)."""
    text = getattr(e, "message", None) or str(e)
    keep = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith(
        ("Graph execution error", "Detected at node", "<stack traces", "[[{{node", "[["))]
    return re.sub(r"\s*\[Op:[^\]]*\]", "", " ".join(keep)) or type(e).__name__


class _Servable:
    """One loaded SavedModel version with its signatures' input/output specs."""

    def __init__(self, version: int, path: str):
        import tensorflow as tf

        self.version = version
        self.path = path
        self.loaded = tf.saved_model.load(path)
        self.signatures = dict(self.loaded.signatures)
        self.input_specs = {n: fn.structured_input_signature[1] for n, fn in self.signatures.items()}

    def signature_def_map(self):
        from tensorflow.core.protobuf import saved_model_pb2
        from tensorflow_serving.apis import get_model_metadata_pb2

        sm = saved_model_pb2.SavedModel()
        with open(os.path.join(self.path, SAVED_MODEL_PB), "rb") as f:
            sm.ParseFromString(f.read())
        out = get_model_metadata_pb2.SignatureDefMap()
        for k, v in sm.meta_graphs[0].signature_def.items():
            if not k.startswith("__"):
                out.signature_def[k].CopyFrom(v)
        return out


class ServingDouble:
    """REST + gRPC test double over a model base path (``<serving_dir>/keras_au``). NOT TF Serving."""

    def __init__(self, model_base_path: str, model_name: str = MODEL_NAME, host: str = "127.0.0.1"):
        self.model_base_path = model_base_path
        self.model_name = model_name
        self.host = host
        self.delay_s = 0.0
        self.requests: Counter = Counter()  # predict calls received, per protocol ("rest", "grpc")
        self.warmup_runs = 0
        self._faults = 0
        self._lock = threading.Lock()
        self._servables: dict[int, _Servable] = {}
        self._http: Optional[ThreadingHTTPServer] = None
        self._grpc: Optional[grpc.Server] = None
        self.rest_port = self.grpc_port = 0

    # ---- life cycle -------------------------------------------------------------------------
    def start(self) -> "ServingDouble":
        versions = version_dirs(self.model_base_path)
        if not versions:
            raise FileNotFoundError(f"{self.model_base_path}: no integer version directories with a SavedModel")
        latest = max(versions)  # TF Serving's default version policy: serve the latest only
        self._servables = {latest: _Servable(latest, versions[latest])}
        self._warmup(self._servables[latest])
        self._start_grpc()
        self._http = ThreadingHTTPServer((self.host, 0), _make_handler(self))
        self._http.daemon_threads = True
        self.rest_port = self._http.server_address[1]
        threading.Thread(target=self._http.serve_forever, name="serving-double-rest", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._http:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        if self._grpc:
            self._grpc.stop(grace=None)
            self._grpc = None

    def __enter__(self) -> "ServingDouble":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def rest_url(self) -> str:
        return f"http://{self.host}:{self.rest_port}"

    @property
    def grpc_target(self) -> str:
        return f"{self.host}:{self.grpc_port}"

    def fail_next(self, count: int) -> None:
        """The next ``count`` predict calls (either protocol) answer 503 / UNAVAILABLE."""
        with self._lock:
            self._faults = count

    # ---- the serving core, shared by both protocols ------------------------------------------
    def _warmup(self, servable: _Servable) -> None:
        import tensorflow as tf
        from tensorflow_serving.apis import prediction_log_pb2

        path = os.path.join(servable.path, EXTRA_DIR, WARMUP_FILE)
        if not os.path.isfile(path):
            return
        for raw in tf.data.TFRecordDataset(path):
            log = prediction_log_pb2.PredictionLog.FromString(raw.numpy())
            req = log.predict_log.request
            inputs = {k: tf.make_ndarray(v) for k, v in req.inputs.items()}
            self.run(req.model_spec.signature_name or "serving_default", inputs, servable.version)
            self.warmup_runs += 1

    def servable(self, version: Optional[int]) -> _Servable:
        if version is None:
            return self._servables[max(self._servables)]
        if version not in self._servables:
            raise DoubleError(grpc.StatusCode.NOT_FOUND,
                              f"Servable not found for request: Specific({self.model_name}, {version})")
        return self._servables[version]

    def check_model(self, name: str) -> None:
        if name != self.model_name:
            raise DoubleError(grpc.StatusCode.NOT_FOUND, f"Servable not found for request: Latest({name})")

    def before_predict(self, protocol: str) -> None:
        with self._lock:
            self.requests[protocol] += 1
            fault = self._faults > 0
            self._faults -= int(fault)
        if self.delay_s:
            time.sleep(self.delay_s)
        if fault:
            raise DoubleError(grpc.StatusCode.UNAVAILABLE, "injected fault: server unavailable")

    def run(self, signature: str, inputs: dict, version: Optional[int] = None,
            output_filter=(), strict_dtype: bool = False) -> tuple[int, dict]:
        """Runs a signature on numpy inputs -> (version, numpy outputs); raises ``DoubleError``.

        ``strict_dtype``: gRPC tensors must carry the signature's dtype exactly (as in TF Serving);
        REST JSON numbers are converted to it.
        """
        import tensorflow as tf

        servable = self.servable(version)
        signature = signature or "serving_default"
        if signature not in servable.signatures:
            raise DoubleError(grpc.StatusCode.INVALID_ARGUMENT, f'Serving signature key "{signature}" not found.')
        specs = servable.input_specs[signature]
        if set(inputs) != set(specs):
            extra = sorted(set(inputs) - set(specs))
            missing = sorted(set(specs) - set(inputs))
            what = f"input tensor alias not found in signature: {', '.join(extra)}" if extra else \
                f"missing input tensor alias: {', '.join(missing)}"
            raise DoubleError(grpc.StatusCode.INVALID_ARGUMENT,
                              f"{what}. Inputs expected to be in the set {{{', '.join(sorted(specs))}}}.")
        feeds = {}
        for name, value in inputs.items():
            spec = specs[name]
            arr = np.asarray(value)
            want = spec.dtype.as_numpy_dtype
            if spec.dtype == tf.string:
                if arr.dtype.kind not in "OSU":
                    raise DoubleError(grpc.StatusCode.INVALID_ARGUMENT,
                                      f"Expects arg[{name}] to be string but {arr.dtype} is provided")
            elif arr.dtype.kind not in "biuf" or (arr.dtype.kind == "f" and np.dtype(want).kind != "f") or (
                    strict_dtype and arr.dtype != want):
                raise DoubleError(grpc.StatusCode.INVALID_ARGUMENT,
                                  f"Expects arg[{name}] to be {spec.dtype.name} but {arr.dtype} is provided")
            feeds[name] = tf.constant(arr if spec.dtype == tf.string else arr.astype(want))
        try:
            outputs = servable.signatures[signature](**feeds)
        except (tf.errors.InvalidArgumentError, ValueError, TypeError) as e:
            raise DoubleError(grpc.StatusCode.INVALID_ARGUMENT, _tf_error_message(e)) from None
        except tf.errors.OpError as e:
            raise DoubleError(grpc.StatusCode.INTERNAL, _tf_error_message(e)) from None
        unknown = [k for k in output_filter if k not in outputs]
        if unknown:
            raise DoubleError(grpc.StatusCode.INVALID_ARGUMENT,
                              f"output tensor alias not found in signature: {', '.join(unknown)}")
        keep = list(output_filter) or sorted(outputs)
        return servable.version, {k: outputs[k].numpy() for k in keep}

    def status(self, version: Optional[int] = None) -> dict:
        versions = [self.servable(version).version] if version is not None else sorted(self._servables)
        return {"model_version_status": [
            {"version": str(v), "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
            for v in versions]}

    # ---- gRPC ---------------------------------------------------------------------------------
    def _start_grpc(self) -> None:
        from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

        self._grpc = grpc.server(futures.ThreadPoolExecutor(max_workers=8), options=[
            ("grpc.max_send_message_length", 256 << 20), ("grpc.max_receive_message_length", 256 << 20)])
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(_PredictionServicer(self), self._grpc)
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(_ModelServicer(self), self._grpc)
        self.grpc_port = self._grpc.add_insecure_port(f"{self.host}:0")
        self._grpc.start()


def _version_of(spec) -> Optional[int]:
    return spec.version.value if spec.HasField("version") else None


def _grpc_guard(context, fn):
    try:
        return fn()
    except DoubleError as e:
        context.abort(e.code, e.message)


def _servicer_bases():
    from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

    return prediction_service_pb2_grpc.PredictionServiceServicer, model_service_pb2_grpc.ModelServiceServicer


_PredictionBase, _ModelBase = _servicer_bases()


class _PredictionServicer(_PredictionBase):
    def __init__(self, double: ServingDouble):
        self.double = double

    def Predict(self, request, context):
        import tensorflow as tf
        from tensorflow_serving.apis import predict_pb2

        def go():
            self.double.check_model(request.model_spec.name)
            self.double.before_predict("grpc")
            try:
                inputs = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
            except Exception as e:  # a TensorProto whose content does not match its dtype/shape
                raise DoubleError(grpc.StatusCode.INVALID_ARGUMENT, f"malformed TensorProto: {e}") from None
            version, outputs = self.double.run(request.model_spec.signature_name, inputs,
                                               _version_of(request.model_spec), list(request.output_filter),
                                               strict_dtype=True)
            response = predict_pb2.PredictResponse()
            response.model_spec.name = self.double.model_name
            response.model_spec.version.value = version
            response.model_spec.signature_name = request.model_spec.signature_name or "serving_default"
            for k, v in outputs.items():
                response.outputs[k].CopyFrom(tf.make_tensor_proto(v))
            return response

        return _grpc_guard(context, go)

    def GetModelMetadata(self, request, context):
        from tensorflow_serving.apis import get_model_metadata_pb2

        def go():
            self.double.check_model(request.model_spec.name)
            if list(request.metadata_field) != ["signature_def"]:
                raise DoubleError(grpc.StatusCode.INVALID_ARGUMENT, "Metadata field signature_def is required")
            servable = self.double.servable(_version_of(request.model_spec))
            response = get_model_metadata_pb2.GetModelMetadataResponse()
            response.model_spec.name = self.double.model_name
            response.model_spec.version.value = servable.version
            response.metadata["signature_def"].Pack(servable.signature_def_map())
            return response

        return _grpc_guard(context, go)


class _ModelServicer(_ModelBase):
    def __init__(self, double: ServingDouble):
        self.double = double

    def GetModelStatus(self, request, context):
        from google.protobuf import json_format
        from tensorflow_serving.apis import get_model_status_pb2

        def go():
            self.double.check_model(request.model_spec.name)
            status = self.double.status(_version_of(request.model_spec))
            return json_format.ParseDict(status, get_model_status_pb2.GetModelStatusResponse())

        return _grpc_guard(context, go)


# ---- REST -------------------------------------------------------------------------------------
_PATH = re.compile(r"^/v1/models/(?P<model>[^/:]+)(?:/versions/(?P<version>[^/:]+))?(?P<rest>/metadata|:predict)?$")


def _from_json(value, dtype_is_string: bool):
    """JSON value -> numpy; ``{"b64": ...}`` decoded for string tensors."""
    if isinstance(value, dict):
        if set(value) == {"b64"}:
            return base64.b64decode(value["b64"], validate=True)
        raise ValueError(f"unexpected JSON object {sorted(value)} in a tensor value")
    if isinstance(value, list):
        return [_from_json(v, dtype_is_string) for v in value]
    return value.encode() if dtype_is_string and isinstance(value, str) else value


def _to_array(value, is_string: bool) -> np.ndarray:
    decoded = _from_json(value, is_string)
    try:
        arr = np.array(decoded, dtype=object) if is_string else np.array(decoded)
    except ValueError:  # numpy refuses ragged nesting
        raise ValueError("tensor values must form a rectangular array (lists of equal length)") from None
    if arr.dtype == object and not is_string:
        raise ValueError("tensor values must form a rectangular array of numbers")
    if not is_string and arr.dtype.kind not in "biuf":
        raise ValueError(f"expected numbers, got {arr.dtype} values")
    return arr


def _jsonable(arr: np.ndarray, name: str):
    if arr.dtype == object or arr.dtype.kind == "S":
        if name.endswith("_bytes"):  # TF Serving base64-encodes outputs named *_bytes
            return np.vectorize(lambda b: {"b64": base64.b64encode(b).decode()}, otypes=[object])(arr).tolist()
        return np.vectorize(lambda b: b.decode("utf-8", "replace"), otypes=[object])(arr).tolist()
    return arr.tolist()


def _parse_predict(double: ServingDouble, body: dict, version: Optional[int]) -> tuple[str, dict, str]:
    """TF Serving REST body -> (signature, numpy inputs, "instances"|"inputs")."""
    if not isinstance(body, dict):
        raise ValueError("request body must be a JSON object")
    has_rows, has_cols = "instances" in body, "inputs" in body
    if has_rows == has_cols:
        raise ValueError("Missing 'inputs' or 'instances' key" if not has_rows else
                         "Cannot specify both 'inputs' and 'instances'")
    signature = body.get("signature_name") or "serving_default"
    servable = double.servable(version)
    if signature not in servable.input_specs:
        raise DoubleError(grpc.StatusCode.INVALID_ARGUMENT, f'Serving signature key "{signature}" not found.')
    specs = servable.input_specs[signature]
    import tensorflow as tf

    is_str = {k: s.dtype == tf.string for k, s in specs.items()}
    only = next(iter(specs)) if len(specs) == 1 else None
    if has_cols:
        cols = body["inputs"]
        if not isinstance(cols, dict) or set(cols) == {"b64"}:  # an unnamed value: the single input
            if only is None:
                raise ValueError(f"'inputs' must be an object naming the inputs {sorted(specs)}")
            cols = {only: cols}
        return signature, {k: _to_array(v, is_str.get(k, False)) for k, v in cols.items()}, "inputs"
    rows = body["instances"]
    if not isinstance(rows, list) or not rows:
        raise ValueError("'instances' must be a non-empty list")
    if all(isinstance(r, dict) and set(r) != {"b64"} for r in rows):
        keys = set(rows[0])
        if any(set(r) != keys for r in rows):
            raise ValueError("every instance must have the same named inputs")
        return signature, {k: _to_array([r[k] for r in rows], is_str.get(k, False)) for k in keys}, "instances"
    if only is None:
        raise ValueError(f"instances must be objects naming the inputs {sorted(specs)}")
    return signature, {only: _to_array(rows, is_str[only])}, "instances"


def _make_handler(double: ServingDouble):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # keep test output clean
            pass

        def _send(self, status: int, payload: dict) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            try:
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (its timeout): nothing to answer
                self.close_connection = True

        def _route(self):
            m = _PATH.match(self.path)
            if not m:
                raise DoubleError(grpc.StatusCode.NOT_FOUND, f"Malformed request: {self.command} {self.path}")
            double.check_model(m["model"])
            version = m["version"]
            if version is not None and not version.isdigit():
                raise DoubleError(grpc.StatusCode.INVALID_ARGUMENT, f"version must be an integer, got {version!r}")
            return (int(version) if version else None), m["rest"]

        def _guard(self, fn) -> None:
            try:
                status, payload = fn()
            except DoubleError as e:
                status, payload = HTTP_STATUS.get(e.code, 500), {"error": e.message}
            except Exception as e:  # never let a bad request kill the handler thread
                status, payload = 500, {"error": f"{type(e).__name__}: {e}"}
            self._send(status, payload)

        def do_GET(self) -> None:
            def go():
                version, rest = self._route()
                if rest == "/metadata":
                    from google.protobuf import json_format

                    servable = double.servable(version)
                    sig = json_format.MessageToDict(servable.signature_def_map(), preserving_proto_field_name=True)
                    return 200, {"model_spec": {"name": double.model_name, "signature_name": "",
                                                "version": str(servable.version)},
                                 "metadata": {"signature_def": sig}}
                if rest:
                    raise DoubleError(grpc.StatusCode.INVALID_ARGUMENT, f"use POST for {rest}")
                return 200, double.status(version)

            self._guard(go)

        def do_POST(self) -> None:
            def go():
                version, rest = self._route()
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if rest != ":predict":
                    raise DoubleError(grpc.StatusCode.INVALID_ARGUMENT, f"unsupported POST {self.path}")
                double.before_predict("rest")
                try:
                    body = json.loads(raw)
                    signature, inputs, fmt = _parse_predict(double, body, version)
                except (ValueError, TypeError) as e:  # JSON syntax, ragged arrays, bad base64
                    raise DoubleError(grpc.StatusCode.INVALID_ARGUMENT, f"JSON parse error: {e}") from None
                _, outputs = double.run(signature, inputs, version)
                jsonable = {k: _jsonable(v, k) for k, v in outputs.items()}
                if fmt == "inputs":
                    return 200, {"outputs": jsonable if len(jsonable) > 1 else next(iter(jsonable.values()))}
                n = len(next(iter(outputs.values())))
                if len(jsonable) == 1:
                    return 200, {"predictions": next(iter(jsonable.values()))}
                return 200, {"predictions": [{k: v[i] for k, v in jsonable.items()} for i in range(n)]}

            self._guard(go)

    return Handler
