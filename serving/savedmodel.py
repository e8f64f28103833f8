"""Alias of ``keras_au.inference.savedmodel`` (moved into the library; see serving/__init__.py)."""

import sys

from keras_au.inference import savedmodel

sys.modules[__name__] = savedmodel
