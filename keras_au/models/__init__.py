"""Models: one folder per published method (``rtatl/``, ``wild/``), shared ResNet in ``resnet.py``."""
