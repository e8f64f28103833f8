"""keras-au: facial action unit detection in Keras 3.

The library is imported lazily by area (``keras_au.au``, ``keras_au.geometry``,
``keras_au.metrics``, ...), so ``import keras_au`` stays cheap and does not
pull in TensorFlow.

``keras_au.Detector`` (AU predictions as a DataFrame, docs/serving.md "Python API") is
``keras_au.inference.detector.Detector``, resolved on first access so that this import stays light.
"""

__version__ = "0.1.0"
__all__ = ["Detector"]


def __getattr__(name: str):
    if name == "Detector":
        from keras_au.inference.detector import Detector

        return Detector
    raise AttributeError(f"module 'keras_au' has no attribute {name!r}")
