"""Optical-flow targets (TV-L1, OpenCV) for the temporal auxiliary task."""

from keras_au.flow.tvl1 import DEFAULT_PRESET, TVL1Flow, TVL1Params, resize_flow

__all__ = ["DEFAULT_PRESET", "TVL1Flow", "TVL1Params", "resize_flow"]
