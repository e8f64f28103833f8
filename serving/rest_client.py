"""Client for TF Serving's REST API (port 8501): ``POST /v1/models/<name>[/versions/<v>]:predict``.

Standard library only (``urllib``). Requests use the columnar ``"inputs"`` format by default or the
row ``"instances"`` format; encoded images travel as ``{"b64": ...}`` as TF Serving requires for
string tensors. Integral pixel values are sent as JSON integers (TF Serving converts them to the
signature's float32), which keeps a 200x200 face at ~0.3 MB of JSON instead of ~0.6 MB.
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import urllib.error
import urllib.request
from typing import Optional, Sequence

import numpy as np

from serving.request import decode_outputs, prepare_inputs
from serving.retry import RetryPolicy, ServingError

HTTP_CODES = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND", 408: "DEADLINE_EXCEEDED", 409: "ABORTED",
              429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 501: "UNIMPLEMENTED", 502: "UNAVAILABLE",
              503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}


def _to_json(arr: np.ndarray):
    if arr.dtype == object or arr.dtype.kind in "SU":
        return [_to_json(a) if isinstance(a, np.ndarray) else {"b64": base64.b64encode(a).decode("ascii")}
                for a in arr]
    if arr.dtype.kind == "f" and arr.size and np.array_equal(arr, np.round(arr)) and np.abs(arr).max() < 2**31:
        return arr.astype(np.int64).tolist()
    return arr.tolist()


class RestClient:
    """TF Serving REST client with timeouts and bounded retries (see ``serving.retry``)."""

    def __init__(
        self, url: str = "http://localhost:8501", model_name: str = "keras_au", version: Optional[int] = None,
        timeout: float = 10.0, retry: Optional[RetryPolicy] = None,
    ):
        self.url = url.rstrip("/")
        self.model_name = model_name
        self.version = version
        self.timeout = timeout
        self.retry = retry or RetryPolicy()

    @property
    def model_url(self) -> str:
        v = f"/versions/{self.version}" if self.version is not None else ""
        return f"{self.url}/v1/models/{self.model_name}{v}"

    def _request(self, method: str, url: str, body: Optional[dict] = None) -> dict:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                message = json.loads(raw).get("error", raw.decode(errors="replace"))
            except (ValueError, AttributeError):
                message = raw.decode(errors="replace") or e.reason
            raise ServingError(str(message), HTTP_CODES.get(e.code, "UNKNOWN"), http_status=e.code) from None
        except (socket.timeout, TimeoutError) as e:
            raise ServingError(f"no answer from {url} within {self.timeout} s", "DEADLINE_EXCEEDED") from e
        except urllib.error.URLError as e:
            if isinstance(e.reason, (socket.timeout, TimeoutError)):
                raise ServingError(f"no answer from {url} within {self.timeout} s", "DEADLINE_EXCEEDED") from e
            raise ServingError(f"cannot reach {url}: {e.reason}", "UNAVAILABLE") from e
        except (ConnectionError, http.client.HTTPException) as e:
            raise ServingError(f"connection to {url} failed: {e!r}", "UNAVAILABLE") from e
        except json.JSONDecodeError as e:
            raise ServingError(f"{url} answered with invalid JSON: {e}", "INTERNAL") from e

    def call(self, method: str, url: str, body: Optional[dict] = None) -> dict:
        """One JSON request with the retry policy applied."""
        return self.retry.call(lambda: self._request(method, url, body))

    def predict_json(self, body: dict) -> dict:
        """Raw ``:predict`` call: ``body`` is TF Serving's JSON (``signature_name``, ``instances``/``inputs``)."""
        return self.call("POST", f"{self.model_url}:predict", body)

    def predict(
        self,
        images: Optional[np.ndarray] = None,
        landmarks: Optional[np.ndarray] = None,
        image_bytes: Optional[Sequence[bytes]] = None,
        signature: Optional[str] = None,
        request_format: str = "inputs",
    ) -> dict[str, np.ndarray]:
        """AU outputs for a batch of aligned faces (see ``serving.request.prepare_inputs`` for the signature)."""
        name, inputs = prepare_inputs(images, landmarks, image_bytes, signature)
        encoded = {k: _to_json(v) for k, v in inputs.items()}
        body: dict = {"signature_name": name}
        if request_format == "inputs":
            body["inputs"] = encoded
        elif request_format == "instances":
            n = len(next(iter(encoded.values())))
            body["instances"] = [{k: v[i] for k, v in encoded.items()} for i in range(n)]
        else:
            raise ValueError("request_format must be 'inputs' or 'instances'")
        resp = self.predict_json(body)
        if "outputs" in resp:
            outputs = resp["outputs"] if isinstance(resp["outputs"], dict) else {"output": resp["outputs"]}
        elif "predictions" in resp:
            rows = resp["predictions"]
            keys = rows[0].keys() if rows and isinstance(rows[0], dict) else None
            outputs = {k: [r[k] for r in rows] for k in keys} if keys else {"output": rows}
        else:
            raise ServingError(f"unexpected response keys {sorted(resp)}", "INTERNAL")
        return decode_outputs({k: np.asarray(v) for k, v in outputs.items()})

    def status(self) -> dict:
        """``GET /v1/models/<name>``: ``{"model_version_status": [{"version", "state", "status"}]}``."""
        return self.call("GET", self.model_url)

    def metadata(self) -> dict:
        """``GET /v1/models/<name>/metadata``: the signature definitions."""
        return self.call("GET", f"{self.model_url}/metadata")

    def is_available(self) -> bool:
        try:
            return any(s.get("state") == "AVAILABLE" for s in self.status().get("model_version_status", []))
        except ServingError:
            return False
