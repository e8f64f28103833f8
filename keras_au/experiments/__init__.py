"""Experiment runner shared by both model families: `keras-au study` (paper Table 1, Fig. 4, any grid).

A grid (JSON data, ``grids/*.json`` or a user's file; see :mod:`keras_au.experiments.grid`) names the
variants; every cell (variant × fold × seed [× labeled subjects]) trains and evaluates as an ordinary run
directory through the registry's task module, in its own process (:mod:`~keras_au.experiments.cell`),
and :mod:`~keras_au.experiments.report` turns the cells' scores into ``study.md`` / ``study.json``.
"""

from keras_au.experiments.grid import Cell, Grid, StudyError, Variant, expand, load_grid, parse_grid
from keras_au.experiments.runner import run_study

__all__ = ["Cell", "Grid", "StudyError", "Variant", "expand", "load_grid", "parse_grid", "run_study"]
