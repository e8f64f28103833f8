"""What leaves the training world: TF Serving SavedModels, TFLite, clients and ``keras-au predict``.

Everything here takes any model that follows the exported-model contract (``model.keras`` +
``export.json``, see ``serving.export_info``), whatever its family:

* ``serving.savedmodel`` / ``serving.signatures``: versioned SavedModel with ``serving_default``,
  ``predict_landmarks`` and ``serve_bytes`` signatures on 200x200 aligned faces;
* ``serving.tflite``: float32 / float16 / dynamic-range int8 / full-int8 variants and their parity;
* ``serving.client``: REST and gRPC clients with timeouts and bounded retries;
* ``serving.testing``: an in-process double of TF Serving's protocols for tests (NOT TF Serving);
* ``serving.predict``: detection/tracking -> alignment -> model -> CSV for images, folders and videos;
* ``serving.overlay`` / ``serving.results_page``: the H.264 overlay video and the self-contained HTML results
  page (``predict --overlay/--html``, ``keras-au view``);
* ``serving/deploy``: models.config, batching.config, docker-compose and Kubernetes manifests.
"""
