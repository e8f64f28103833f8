"""Serving a model: TF Serving clients, a test double of its protocols, deployment assets and result pages.

The model formats and the predictor they share with ``keras_au.Detector`` live in the library, in
``keras_au.inference`` (SavedModel, TFLite, signatures, backends, media, tracking, predict, overlay), imported
from there by every caller. What is only here:

* ``serving.client``: REST and gRPC clients with timeouts and bounded retries (``serving.retry``,
  ``serving.request``);
* ``serving.testing``: an in-process double of TF Serving's protocols for tests (NOT TF Serving);
* ``serving.results`` / ``serving.results_page``: the self-contained HTML results page (``predict --html``,
  ``keras-au view``); ``serving.plot``: the predictions plot; ``serving.faces`` / ``serving.stand_in``:
  real aligned faces and a stand-in model for demos and tests;
* ``serving/deploy``: models.config, batching.config, docker-compose and Kubernetes manifests.
"""
