"""Component specs with one input channel per fold.

A TFX component has a fixed set of named inputs, and Kubeflow V2 cannot compile union channels,
so components that gather all folds (FoldReport, KerasAuPusher) get their spec class built for
the pipeline's folds: ``evaluation_0, evaluation_1, ...``. Only the executor class is referenced
at run time, so the dynamic spec never has to be importable.
"""

from __future__ import annotations

from typing import Iterable, Type

from tfx.types.component_spec import ChannelParameter, ComponentSpec


def fold_key(prefix: str, fold: int) -> str:
    return f"{prefix}_{int(fold)}"


def folds_in(input_dict: dict, prefix: str) -> list[int]:
    """Fold numbers of the ``<prefix>_<k>`` inputs an executor received."""
    return sorted(int(k[len(prefix) + 1:]) for k in input_dict if k.startswith(prefix + "_"))


def spec_for_folds(base: Type[ComponentSpec], folds: Iterable[int], inputs: dict[str, type],
                   optional: Iterable[str] = ()) -> Type[ComponentSpec]:
    """Subclass of ``base`` adding ``<prefix>_<k>`` channel inputs for each ``prefix -> artifact type``
    (``optional``: prefixes whose channels may be left out)."""
    channels, folds, optional = dict(base.INPUTS), list(folds), set(optional)
    for prefix, artifact_type in inputs.items():
        channels.update({fold_key(prefix, k): ChannelParameter(type=artifact_type, optional=prefix in optional)
                         for k in folds})
    return type(base.__name__, (base,), {"INPUTS": channels})
