"""Alias of ``keras_au.inference.media`` (moved into the library; see serving/__init__.py)."""

import sys

from keras_au.inference import media

sys.modules[__name__] = media
