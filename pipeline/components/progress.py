"""One-line progress notes from the executors.

They go through absl logging (what TFX containers show) with a fixed prefix; the local runner
forwards exactly these lines and the runner's own stage lines to the console.
"""

from __future__ import annotations

from absl import logging

PREFIX = "[keras-au] "


def note(message: str) -> None:
    logging.info(PREFIX + message)
