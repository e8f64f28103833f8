"""One run directory's life: where the chief writes, ``run.json``, resume or a fresh start, checkpoints,
callbacks and the global state (mixed-precision policy) that a run changes and must give back."""

from __future__ import annotations

import contextlib
import os
import shutil
from typing import Optional

from keras_au.jsonio import read_json, write_json

RUN_JSON = "run.json"
CHECKPOINT_DIR = "checkpoint"  # keras_au.tasks.checkpoint.CHECKPOINT_DIR (that module imports Keras)


class RunDirectory:
    """``path`` is the run directory that every worker reads; ``write_path`` is where this worker writes
    (``path`` on the chief, a scratch directory elsewhere: ``Distribution.write_dir``)."""

    def __init__(self, path: str, write_path: str, dist, stack: contextlib.ExitStack):
        self.path, self.write_path, self.dist, self._stack = path, write_path, dist, stack
        os.makedirs(write_path, exist_ok=True)

    def read(self, name: str = RUN_JSON) -> Optional[dict]:
        return read_json(os.path.join(self.path, name))

    def write(self, data: dict, name: str = RUN_JSON) -> None:
        write_json(os.path.join(self.write_path, name), data)

    def checkpoint(self, stage: Optional[str] = None, write: bool = False) -> str:
        from keras_au.tasks.checkpoint import checkpoint_path

        return checkpoint_path(self.write_path if write else self.path, stage)

    def previous(self, model: str, resume: bool, stale: tuple[str, ...] = ()) -> Optional[dict]:
        """The run this directory holds when training should resume it (else None).

        Another model's run is refused. Without ``resume`` the ``stale`` entries (checkpoints, snapshots,
        selection files) of an earlier run are removed first, so nothing of it mixes into the new one.
        """
        info = self.read()
        if info is not None and resume:
            if info.get("model") != model:
                raise ValueError(f"{self.path} holds a {info.get('model')} run; use another --out or --no-resume")
            if os.path.isdir(os.path.join(self.path, "checkpoints")):  # wild runs before the shared format
                raise ValueError(f"{self.path} was written by an older keras-au (checkpoints/*.weights.h5); "
                                 "its models still evaluate and export, but training cannot resume it: "
                                 "use --no-resume or another --out")
            return info
        if not resume and self.dist.is_chief:
            for name in (CHECKPOINT_DIR, "checkpoints", *stale):
                target = os.path.join(self.path, name)
                if os.path.isdir(target):
                    shutil.rmtree(target)
                elif os.path.isfile(target):
                    os.remove(target)
        return None

    def precision(self, mixed) -> Optional[str]:
        """Sets the mixed-precision policy for the rest of the run; the previous one is restored on exit."""
        from keras_au.distribute import precision_policy

        return self._stack.enter_context(precision_policy(mixed))

    def callbacks(self, stage: Optional[str] = None, meta: Optional[dict] = None) -> list:
        """The per-epoch checkpoint (full state + history), then TensorBoard under ``logs/[stage]``."""
        import keras

        from keras_au.tasks.checkpoint import EpochCheckpoint

        logs = os.path.join(self.write_path, "logs", *([stage] if stage else []))
        return [EpochCheckpoint(self.checkpoint(stage, write=True), meta),
                keras.callbacks.TensorBoard(logs, write_graph=stage is None)]
