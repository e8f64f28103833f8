"""Alias of ``keras_au.inference.predict`` (moved into the library; see serving/__init__.py)."""

import sys

from keras_au.inference import predict

sys.modules[__name__] = predict
