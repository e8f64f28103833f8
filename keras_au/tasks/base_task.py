"""The ``Task`` base, in the style of TF Model Garden's ``official/core/base_task.py``.

One class per model family (``keras_au.models.rtatl.task.RTATLTask``, ``keras_au.models.wild.task.WildTask``),
registered by the model names it serves (``keras_au.models.registry``). The base owns what every run shares:

* ``train``: typed options (``TrainOptions`` subclass; an unknown option is an error), the ``tf.distribute``
  strategy (resolved before any other TF work), the run directory (``RunDirectory``: chief-only writes,
  resume or fresh start, ``run.json``, checkpoints in one format, callbacks) and the global state a run changes
  (the mixed-precision policy, restored on exit). The family's ``fit`` does the rest.
* ``evaluate``: the output folder, ``scores.json`` and the files written; the family's ``score`` computes.
* ``export``: ``model.keras`` + ``export.json`` with the keys every family shares; the family's
  ``inference`` supplies the model and its own keys.

Each family supplies only what differs: its options, config, trainer, inputs, inference model and scores. The
four hooks (``fit``, ``score``, ``inference``, ``summary``) are plain functions of the family's modules, bound as
static methods, so a family's Task class is a table of names and no delegating code.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any, NamedTuple, Optional

import numpy as np

from keras_au.jsonio import write_json
from keras_au.tasks.options import TrainOptions
from keras_au.tasks.run_directory import RunDirectory


class LoadedRun(NamedTuple):
    """A trained run read back (each family's ``load_run``): ``run.json``, its config, the model with the weights."""

    info: dict
    config: Any
    model: Any


class Task:
    """Base class of a model family's task; subclasses set ``family``, ``model_names``, ``options_class``."""

    family: str = ""
    model_names: tuple[str, ...] = ()
    options_class: type[TrainOptions] = TrainOptions
    evaluate_options: tuple[str, ...] = ("data", "fold", "figures", "json", "progress")
    export_options: tuple[str, ...] = ()

    def _given(self, what: str, options: dict, allowed: tuple[str, ...]) -> dict:
        """The options actually given (None and empty overrides are "not given"); one it does not take is an error."""
        given = {k: v for k, v in options.items() if v is not None and not (k == "overrides" and not v)}
        unknown = sorted(k for k in given if k not in allowed)
        if unknown:
            raise ValueError(f"{self.family} {what} does not take {', '.join('--' + k for k in unknown)}")
        return given

    # -- train -------------------------------------------------------------------------------------
    def train_option_names(self) -> list[str]:
        return self.options_class.names()

    def train(self, model: Optional[str] = None, **kwargs) -> dict:
        """Trains ``model`` into ``out`` (resuming from its checkpoint unless ``resume=False``); returns a summary."""
        from keras_au.distribute import resolve

        if model is not None:
            kwargs["model"] = model
        opts = self.options_class.parse(self.family, kwargs)
        if self.model_names and opts.model not in self.model_names:
            raise ValueError(f"{opts.model!r} is not a {self.family} model ({', '.join(self.model_names)})")
        # First, before any TF op: multiworker collectives and logical CPU devices are fixed at TF start-up.
        dist = resolve(opts.distribute, opts.cpu_replicas, opts.sync_bn)
        with contextlib.ExitStack() as stack:
            write_path = stack.enter_context(dist.write_dir(opts.out))
            return self.fit(RunDirectory(opts.out, write_path, dist, stack), opts)

    def fit(self, run: RunDirectory, opts: TrainOptions) -> dict:
        raise NotImplementedError

    # -- evaluate ----------------------------------------------------------------------------------
    def evaluate(self, run_dir: str, out: Optional[str] = None, **options) -> dict:
        """Scores of a run on its test split (or ``data``); writes ``<out>/scores.json`` (+ the family's plots)."""
        given = self._given("evaluation", options, self.evaluate_options)
        out = out or os.path.join(run_dir, "eval")
        os.makedirs(out, exist_ok=True)
        scores = self.score(run_dir, out, **given)
        path = os.path.join(out, "scores.json")
        files = scores.get("files", {})
        if isinstance(files, dict):
            scores["files"] = {"scores": path, **files}
        else:
            scores["files"] = [path, *files]
        write_json(path, scores)
        return scores

    def score(self, run_dir: str, out: str, **options) -> dict:
        raise NotImplementedError

    # -- export ------------------------------------------------------------------------------------
    def export(self, run_dir: str, out: str, **options) -> str:
        """``<out>/model.keras`` (inference only) and ``<out>/export.json``."""
        from keras_au.au import au_labels

        model, meta = self.inference(run_dir, **self._given("export", options, self.export_options))
        os.makedirs(out, exist_ok=True)
        model.save(os.path.join(out, "model.keras"))
        aus = list(meta.pop("aus"))
        size = int(meta.pop("input_size"))
        shared = {
            "model": meta.pop("model"), "family": self.family, "aus": aus, "au_names": au_labels(aus),
            "input_size": size, "inputs": {"image": [None, size, size, 3], "landmarks": [None, 68, 2]},
            "params": int(sum(int(np.prod(w.shape)) for w in model.weights)),
            "source_run": os.path.abspath(run_dir),
        }
        write_json(os.path.join(out, "export.json"), {**shared, **meta})
        return out

    def check_init(self, init: str | None, preset: str, overrides: dict | None = None) -> None:
        """Refuses, before any work, an ``init`` that cannot fit the model ``preset`` + ``overrides`` builds
        (families whose options take ``init`` override this)."""

    def warm_start_weights(self, run_dir: str, out: str) -> str | None:
        """Writes the trained model's weights into ``out`` for a later run's ``warm_start`` option; returns the
        file, or None when the family cannot warm start (its options have no ``warm_start``)."""
        return None

    def inference(self, run_dir: str, **options) -> tuple[Any, dict]:
        """(inference ``keras.Model``, export metadata with at least ``model``, ``aus``, ``input_size``)."""
        raise NotImplementedError

    # -- summary -----------------------------------------------------------------------------------
    def summary(self, **options) -> dict:
        raise NotImplementedError
