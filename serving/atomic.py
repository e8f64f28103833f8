"""Alias of ``keras_au.inference.atomic`` (moved into the library; see serving/__init__.py)."""

import sys

from keras_au.inference import atomic

sys.modules[__name__] = atomic
