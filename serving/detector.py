"""Alias of ``keras_au.inference.detector`` (moved into the library; see serving/__init__.py)."""

import sys

from keras_au.inference import detector

sys.modules[__name__] = detector
