"""Alias of ``keras_au.inference.columns`` (moved into the library; see serving/__init__.py)."""

import sys

from keras_au.inference import columns

sys.modules[__name__] = columns
