"""Alias of ``keras_au.inference.overlay`` (moved into the library; see serving/__init__.py)."""

import sys

from keras_au.inference import overlay

sys.modules[__name__] = overlay
