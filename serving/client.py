"""Python clients for a TF Serving deployment of keras-au (REST on 8501, gRPC on 8500).

```python
from serving.client import GrpcClient, RestClient
rest = RestClient("http://localhost:8501", timeout=5)
out = rest.predict(images=faces)                          # serving_default: (B, 200, 200, 3) aligned faces
out = rest.predict(images=faces, landmarks=lm)            # predict_landmarks: + (B, 68, 2) aligned-frame landmarks
out = rest.predict(image_bytes=[open("face.jpg", "rb").read()])   # serve_bytes
out["au_probs"], out["au_names"], out["au_present"]
with GrpcClient("localhost:8500") as grpc_client:
    out = grpc_client.predict(images=faces, landmarks=lm)
```

Both raise ``serving.retry.ServingError`` (``.code`` gRPC-style, ``.http_status`` for REST) and retry
only transient failures, a bounded number of times with exponential backoff.
"""

from serving.grpc_client import GrpcClient
from serving.rest_client import RestClient
from serving.retry import NO_RETRY, RetryPolicy, ServingError

__all__ = ["GrpcClient", "NO_RETRY", "RestClient", "RetryPolicy", "ServingError"]
