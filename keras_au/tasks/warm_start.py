"""Warm start: a finished run's model weights, written where a later run can start from them (step 0).

Why not the served SavedModel or ``model.keras``: Keras 3 cannot load a SavedModel, and the inference export
holds the backbone alone, not the auxiliary heads a continued training needs. The file is the ``model`` group
of the shared checkpoint format (``keras_au.tasks.checkpoint``): every model variable, matched by position
and checked by shape, because Keras' auto-generated layer names (which ``.weights.h5`` keys on) may differ
between processes. ``__meta__`` names the model, its AUs and the fold it held out.

Loading is all or nothing: every array is read and checked before the first one is assigned, so a truncated
file or another architecture leaves the freshly built model (``--init`` or scratch) untouched, and the run
goes on from there with the reason recorded. Weights that trained on this run's held-out fold are refused:
that fold's scores would be measured on subjects the weights have seen.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import numpy as np

from keras_au.checksum import sha256_file

WEIGHTS_FILE = "weights.npz"
FORMAT = "keras-au warm start 1"
GROUP = "model"

log = logging.getLogger(__name__)


def write_weights(checkpoint: str, out_dir: str, meta: dict) -> str:
    """``<out_dir>/weights.npz``: the ``model`` group of ``checkpoint`` (no optimizer state) + ``meta``.

    Pure NumPy (no model is built); written to a temporary file and renamed, so it is never torn."""
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, WEIGHTS_FILE)
    with np.load(checkpoint) as z:
        arrays = {k: z[k] for k in z.files if k.startswith(GROUP + "/")}
    if not arrays:
        raise ValueError(f"{checkpoint}: no {GROUP} variables to write")
    meta = {"format": FORMAT, **meta, "variables": len(arrays)}
    tmp = path + ".tmp.npz"
    np.savez(tmp, __meta__=np.array(json.dumps(meta)), **arrays)
    os.replace(tmp, path)
    return path


def read_meta(path: str) -> dict:
    with np.load(path) as z:
        return json.loads(str(z["__meta__"])) if "__meta__" in z.files else {}


def _check(path: str, variables: list, expect: dict) -> tuple[list, dict]:
    """(the arrays to assign, in variable order; the file's meta); raises ``ValueError`` (file named) when they do not fit."""
    if not os.path.isfile(path):
        raise ValueError(f"{path}: no such file")
    try:
        with np.load(path) as z:
            meta = json.loads(str(z["__meta__"])) if "__meta__" in z.files else {}
            keys = sorted(k for k in z.files if k.startswith(GROUP + "/"))
            arrays = [z[k] for k in keys]  # reads (and CRC-checks) every array now
    except Exception as e:  # zipfile.BadZipFile, EOFError, OSError, ValueError: all mean "unreadable"
        raise ValueError(f"{path}: unreadable ({type(e).__name__}: {e})") from e
    for key, want in expect.items():
        have = meta.get(key)
        if have is not None and want is not None and have != want:
            if key == "fold":
                raise ValueError(f"{path}: trained with fold {have} held out, i.e. on fold {want}'s subjects, which "
                                 f"this run holds out (its scores would be optimistic)")
            raise ValueError(f"{path}: {key} {have!r}, this run {want!r}")
    if len(arrays) != len(variables):
        raise ValueError(f"{path}: {len(arrays)} saved variables, the model has {len(variables)} "
                         "(another model or config)")
    for i, (value, v) in enumerate(zip(arrays, variables)):
        if tuple(value.shape) != tuple(v.shape):
            raise ValueError(f"{path}: variable {i} shape {value.shape} != {tuple(v.shape)} ({v.path})")
    return arrays, meta


def load_weights(model: Any, path: str, expect: dict | None = None) -> dict:
    """Starts ``model`` (built, nothing trained) from the weights at ``path``; returns what ``run.json`` records.

    ``expect``: meta values the file must match when it names them (``model``, ``aus``, ``fold``). On any
    failure nothing is assigned, a warning names the file and the record says ``loaded: false`` + ``error``."""
    from keras_au.tasks.checkpoint import state_variables

    record: dict = {"from": os.path.abspath(path), "loaded": False}
    try:
        arrays, meta = _check(path, list(state_variables(model)[GROUP]), dict(expect or {}))
    except ValueError as e:
        record["error"] = str(e)
        log.warning("warm start refused, training from the init instead: %s", e)
        return record
    for value, v in zip(arrays, state_variables(model)[GROUP]):
        v.assign(value)
    record.update(loaded=True, sha256=sha256_file(path), variables=len(arrays),
                  source={k: meta[k] for k in ("model", "fold", "source_run", "preset") if k in meta})
    return record
