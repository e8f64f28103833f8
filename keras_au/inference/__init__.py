"""Running an exported model on faces: everything ``keras_au.Detector`` and ``keras-au predict`` need.

* ``export_info``: the exported-model contract (``model.keras`` + ``export.json``), whatever the model family;
* ``signatures`` / ``savedmodel`` / ``tflite``: the serving signatures on 200x200 aligned faces, the versioned
  TF Serving SavedModel and the TFLite variants (written and read);
* ``backends``: one call interface over a Keras export, a SavedModel or a ``.tflite`` file;
* ``media`` / ``tracking`` / ``predict``: images, folders and videos -> detection/tracking -> alignment ->
  batched model calls -> the CSV rows (``columns``), written atomically (``atomic``);
* ``overlay``: the H.264 overlay video; ``detector``: ``keras_au.Detector``, the rows as a DataFrame.

It lives in the library (not in ``serving/``) because ``keras_au.Detector`` is library API and the library
imports nothing above it (the import contracts in pyproject.toml). The old ``serving.<module>`` names stay
importable as aliases of these modules.
"""
