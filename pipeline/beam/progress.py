"""A tqdm bar over work items for local runners, fed by files the Beam workers append to."""

from __future__ import annotations

import os
import threading
from typing import Optional


class Progress:
    """A tqdm bar over work items, fed by the files workers append to (local runners only)."""

    def __init__(self, directory: Optional[str], total: int, enabled: bool = True):
        self.directory, self.total, self.enabled = directory, total, enabled
        self._stop = threading.Event()

    def __enter__(self):
        if self.enabled:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        if self.enabled:
            self._stop.set()
            self._thread.join(timeout=5)

    def _poll(self) -> tuple[int, int]:
        items = frames = 0
        for fname in os.listdir(self.directory):
            with open(os.path.join(self.directory, fname)) as f:
                lines = f.read().split()
            items += len(lines)
            frames += sum(int(v) for v in lines if v.isdigit())
        return items, frames

    def _run(self) -> None:
        from tqdm import tqdm

        with tqdm(total=self.total, unit="item", desc="preprocess", dynamic_ncols=True) as bar:
            while True:
                stop = self._stop.wait(0.5)
                try:
                    items, frames = self._poll()
                except OSError:
                    continue
                bar.set_postfix(frames=frames, refresh=False)
                bar.update(items - bar.n)
                if stop:
                    break
