"""Alias of ``keras_au.inference.signatures`` (moved into the library; see serving/__init__.py)."""

import sys

from keras_au.inference import signatures

sys.modules[__name__] = signatures
