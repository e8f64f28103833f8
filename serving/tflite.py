"""Alias of ``keras_au.inference.tflite`` (moved into the library; see serving/__init__.py)."""

import sys

from keras_au.inference import tflite

sys.modules[__name__] = tflite
