"""keras-au: facial action unit detection in Keras 3.

The library is imported lazily by area (``keras_au.au``, ``keras_au.geometry``,
``keras_au.metrics``, ...), so ``import keras_au`` stays cheap and does not
pull in TensorFlow.
"""

__version__ = "0.1.0"
