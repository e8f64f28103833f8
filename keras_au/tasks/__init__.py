"""The training machinery every model family shares: ``Task`` base, typed options, run directory, checkpoints,
config presets and overrides (docs/architecture.md)."""

from keras_au.tasks.base_task import LoadedRun, Task
from keras_au.tasks.options import TrainOptions

__all__ = ["LoadedRun", "Task", "TrainOptions"]
