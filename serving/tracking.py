"""Alias of ``keras_au.inference.tracking`` (moved into the library; see serving/__init__.py)."""

import sys

from keras_au.inference import tracking

sys.modules[__name__] = tracking
