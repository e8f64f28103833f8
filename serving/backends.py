"""Alias of ``keras_au.inference.backends`` (moved into the library; see serving/__init__.py)."""

import sys

from keras_au.inference import backends

sys.modules[__name__] = backends
