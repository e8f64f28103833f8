"""Study grids: JSON files naming an experiment's cells (variant × fold × seed [× labeled subjects]).

Schema (unknown keys are errors, so a typo never silently changes a study)::

    {
      "name": "table1",                  # optional; default: the file name
      "description": "...",              # optional, printed at the top of study.md
      "family": "rtatl",                 # optional; checked against the variants' registry family
      "variants": ["backbone_t",         # a --model name, or an object:
                   {"model": "rtatl", "name": "rtatl", "label": "RTATL", "paper": 64.6, "set": {"k": "v"},
                    "train": {"weights": "r18.npz"}}],        # "train": more keyword arguments of train()
      "seeds": [0, 1, 2], "folds": [0, 1, 2],   # defaults; --seeds / --folds win
      "labeled_subjects": [3, 9, 15, 21],       # Fig. 4: one cell per N (omit: every subject)
      "demote_unlabeled": false,                # Fig. 4: dropped subjects' frames join the unlabeled stream
      "set": {"key": "value"},                  # config overrides for every cell
      "domains": ["target", "source"],          # wild: one table per evaluated domain (scores[domain])
      "options": {"preset": "demo", "epochs": 40, "steps_per_epoch": 40, "batch_size": 16},  # CLI flags win
      "init": "imagenet"                        # every cell's initial backbone weights (train's init); a
    }                                           # variant's "train": {"init": ...} wins for its cells

A variant's ``name`` (default: its model) names its row and cell directories; ``paper`` is the paper's
mean F1 in %, printed beside ours (with ``domains``: one number per domain, ``{"target": 38.9, "source": 62.6}``);
``train`` passes further keyword arguments to the family's ``train``
(e.g. the wild model's ``{"variant": "ml"}``), never the ones a cell sets itself. Overrides apply in the order grid ``set`` < ``--set`` < variant ``set``:
a variant's own settings define it, so a study-wide flag never silently turns it into another variant.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Optional

from keras_au.models import registry

GRID_DIR = os.path.join(os.path.dirname(__file__), "grids")
GRID_KEYS = {"name", "description", "family", "variants", "seeds", "folds", "labeled_subjects",
             "demote_unlabeled", "set", "options", "domains", "init"}
VARIANT_KEYS = {"model", "name", "label", "paper", "set", "train"}
CELL_ARGS = {"model", "out", "data", "fold", "unlabeled", "seed", "preset", "epochs", "steps_per_epoch",
             "batch_size", "overrides", "labeled_subjects", "demote_unlabeled", "verbose"}  # set per cell
OPTION_KEYS = {"preset", "epochs", "steps_per_epoch", "batch_size"}


class StudyError(ValueError):
    """A study that cannot run as asked (bad grid, missing data, changed cell options)."""


@dataclasses.dataclass(frozen=True)
class Variant:
    name: str
    model: str
    label: str
    paper: Optional[float | dict] = None  # % mean F1; per domain {"target": .., "source": ..} with ``domains``
    overrides: dict = dataclasses.field(default_factory=dict)
    train: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Grid:
    name: str
    family: str
    variants: list[Variant]
    seeds: list[int]
    folds: list[int]
    labeled_subjects: Optional[list[int]] = None
    demote_unlabeled: bool = False
    overrides: dict = dataclasses.field(default_factory=dict)
    options: dict = dataclasses.field(default_factory=dict)
    description: str = ""
    path: str = ""
    domains: Optional[list[str]] = None  # scores[domain] tables (the wild model's target and source domains)
    init: str | None = None  # train's ``init`` for every cell whose variant does not set its own


@dataclasses.dataclass(frozen=True)
class Cell:
    variant: Variant
    fold: int
    seed: int
    labeled_subjects: Optional[int] = None

    @property
    def id(self) -> str:
        n = f"n{self.labeled_subjects:02d}-" if self.labeled_subjects is not None else ""
        return f"{self.variant.name}/{n}fold{self.fold}-seed{self.seed}"


def shipped_grids() -> list[str]:
    return sorted(f[:-5] for f in os.listdir(GRID_DIR) if f.endswith(".json"))


def grid_path(name_or_file: str) -> str:
    """A shipped grid's name (``table1``) or a JSON file's path."""
    if os.path.isfile(name_or_file):
        return name_or_file
    shipped = os.path.join(GRID_DIR, f"{name_or_file}.json")
    if os.path.sep not in name_or_file and os.path.isfile(shipped):
        return shipped
    raise StudyError(f"--grid {name_or_file}: no such file and not a shipped grid ({', '.join(shipped_grids())})")


def _int_list(value: Any, what: str, minimum: int = 0) -> list[int]:
    if not isinstance(value, list) or not value or not all(isinstance(v, int) and not isinstance(v, bool)
                                                          and v >= minimum for v in value):
        raise StudyError(f"{what} must be a non-empty list of integers >= {minimum}, got {value!r}")
    if len(set(value)) != len(value):
        raise StudyError(f"{what} lists a value twice: {value!r}")
    return list(value)


def _variant(entry: Any, where: str) -> Variant:
    if isinstance(entry, str):
        entry = {"model": entry}
    if not isinstance(entry, dict) or "model" not in entry:
        raise StudyError(f"{where}: a variant is a model name or an object with \"model\", got {entry!r}")
    unknown = set(entry) - VARIANT_KEYS
    if unknown:
        raise StudyError(f"{where}: unknown variant keys {sorted(unknown)} (known: {sorted(VARIANT_KEYS)})")
    model = entry["model"]
    if model not in registry.model_names():
        raise StudyError(f"{where}: unknown variant {model!r}; known: {', '.join(registry.model_names())}")
    name = str(entry.get("name", model))
    if not name or "/" in name or name.startswith("."):
        raise StudyError(f"{where}: variant name {name!r} must be a plain directory name")
    overrides = entry.get("set", {})
    if not isinstance(overrides, dict):
        raise StudyError(f"{where}: variant {name} \"set\" must be an object of config overrides")
    train = entry.get("train", {})
    if not isinstance(train, dict) or set(train) & CELL_ARGS:
        raise StudyError(f"{where}: variant {name} \"train\" must be an object of train() arguments other than "
                         f"{sorted(CELL_ARGS)} (the study sets those), got {train!r}")
    paper = entry.get("paper")
    if isinstance(paper, dict):
        paper = {str(k): float(v) for k, v in paper.items()}
    elif paper is not None:
        paper = float(paper)
    return Variant(name, model, str(entry.get("label", name)), paper, dict(overrides), dict(train))


def parse_grid(raw: Any, name: str = "grid", path: str = "") -> Grid:
    """Validates a grid's JSON content (see the module docstring) into a :class:`Grid`."""
    where = path or name
    if not isinstance(raw, dict):
        raise StudyError(f"{where}: a grid is a JSON object")
    unknown = set(raw) - GRID_KEYS
    if unknown:
        raise StudyError(f"{where}: unknown grid keys {sorted(unknown)} (known: {sorted(GRID_KEYS)})")
    entries = raw.get("variants")
    if not isinstance(entries, list) or not entries:
        raise StudyError(f"{where}: \"variants\" must be a non-empty list")
    variants = [_variant(v, where) for v in entries]
    names = [v.name for v in variants]
    if len(set(names)) != len(names):
        raise StudyError(f"{where}: variant names repeat: {names}; give each a distinct \"name\"")
    families = {registry.MODEL_FAMILY[v.model] for v in variants}
    family = raw.get("family", next(iter(families)))
    if families != {family}:
        raise StudyError(f"{where}: the variants belong to families {sorted(families)}, the grid to {family!r}; "
                         "one study runs one family")
    options = raw.get("options", {})
    if not isinstance(options, dict) or set(options) - OPTION_KEYS:
        raise StudyError(f"{where}: \"options\" may hold only {sorted(OPTION_KEYS)}, got {options!r}")
    overrides = raw.get("set", {})
    if not isinstance(overrides, dict):
        raise StudyError(f"{where}: \"set\" must be an object of config overrides")
    n_list = raw.get("labeled_subjects")
    domains = raw.get("domains")
    if domains is not None and (not isinstance(domains, list) or not domains
                                or not all(isinstance(d, str) and d for d in domains)):
        raise StudyError(f"{where}: \"domains\" must be a non-empty list of score keys, e.g. [\"target\", \"source\"]")
    init = raw.get("init")
    if init is not None and (not isinstance(init, str) or not init):
        raise StudyError(f"{where}: \"init\" must be a string (scratch, imagenet, a preset name or a folder)")
    return Grid(
        init=init,
        name=str(raw.get("name", name)), family=family, variants=variants,
        seeds=_int_list(raw.get("seeds", [0, 1, 2]), f"{where}: seeds"),
        folds=_int_list(raw.get("folds", [0, 1, 2]), f"{where}: folds"),
        labeled_subjects=None if n_list is None else _int_list(n_list, f"{where}: labeled_subjects", 1),
        demote_unlabeled=bool(raw.get("demote_unlabeled", False)), overrides=dict(overrides),
        options=dict(options), description=str(raw.get("description", "")), path=path,
        domains=None if domains is None else list(domains))


def load_grid(name_or_file: str) -> Grid:
    path = grid_path(name_or_file)
    try:
        with open(path) as f:
            raw = json.load(f)
    except json.JSONDecodeError as e:
        raise StudyError(f"{path} is not valid JSON: {e}") from e
    return parse_grid(raw, os.path.splitext(os.path.basename(path))[0], path)


def expand(grid: Grid, seeds: Optional[list[int]] = None, folds: Optional[list[int]] = None) -> list[Cell]:
    """Every cell, variant-major (a table's first row finishes first), then N, fold, seed."""
    seeds = _int_list(seeds, "--seeds") if seeds is not None else grid.seeds
    folds = _int_list(folds, "--folds") if folds is not None else grid.folds
    ns = grid.labeled_subjects or [None]
    return [Cell(v, k, s, n) for v in grid.variants for n in ns for k in folds for s in seeds]
