"""Alias of ``keras_au.inference.export_info`` (moved into the library; see serving/__init__.py)."""

import sys

from keras_au.inference import export_info

sys.modules[__name__] = export_info
