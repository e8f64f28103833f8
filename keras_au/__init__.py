"""keras-au: facial action unit detection in Keras 3.

The library is imported lazily by area (``keras_au.au``, ``keras_au.geometry``,
``keras_au.metrics``, ...), so ``import keras_au`` stays cheap and does not
pull in TensorFlow.

``keras_au.Detector`` (AU predictions as a DataFrame) is implemented in ``serving.detector`` and
resolved on first access: the inference stack (backends, media, tracking) lives above the library,
and this one name is the notebook user's way in (see docs/serving.md, "Python API").
"""

__version__ = "0.1.0"
__all__ = ["Detector"]


def __getattr__(name: str):
    if name == "Detector":
        from serving.detector import Detector

        return Detector
    raise AttributeError(f"module 'keras_au' has no attribute {name!r}")
