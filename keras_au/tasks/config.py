"""One config mechanism for every family: dataclass configs, presets registered per family, ``--set`` overrides
and to/from dict (a config is its constructor's keyword arguments, as in keras-hub).

* ``register_preset(family, name)`` decorates a factory returning the family's config dataclass.
* ``apply_overrides(cfg, {"train.epochs": 3, "dim": 64})``: a dotted path into nested dataclasses, or a bare
  field name that exactly one (nested) dataclass holds; lists become tuples where the default is a tuple.
* ``config_to_dict`` / ``config_from_dict``: JSON-able dicts (``run.json``) and back.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

PRESETS: dict[str, dict[str, Callable[[], Any]]] = {}


def register_preset(family: str, name: str) -> Callable:
    """Decorator: ``factory()`` builds the ``name`` preset's config of ``family``."""
    def wrap(factory: Callable[[], Any]) -> Callable[[], Any]:
        PRESETS.setdefault(family, {})[name] = factory
        return factory

    return wrap


def preset_names(family: str) -> list[str]:
    return list(PRESETS.get(family, {}))


def build_preset(family: str, name: str) -> Any:
    presets = PRESETS.get(family, {})
    if name not in presets:
        raise ValueError(f"unknown preset {name!r} for {family}; known: {', '.join(presets)}")
    return presets[name]()


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return None


def _coerce(f: dataclasses.Field, value: Any) -> Any:
    return tuple(value) if isinstance(value, list) and isinstance(_default(f), tuple) else value


def _paths(cfg: Any, prefix: str = "") -> dict[str, tuple[Any, dataclasses.Field]]:
    """Every leaf field of a (nested) dataclass by dotted path -> (owning dataclass, field)."""
    out = {}
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            out.update(_paths(value, f"{prefix}{f.name}."))
        else:
            out[prefix + f.name] = (cfg, f)
    return out


def apply_overrides(cfg: Any, overrides: dict) -> Any:
    """Sets ``overrides`` on ``cfg`` in place (and returns it); unknown or ambiguous names raise ``ValueError``."""
    paths = _paths(cfg)
    for key, value in (overrides or {}).items():
        if key in paths:
            owner, f = paths[key]
        else:
            matches = [p for p in paths if p.rsplit(".", 1)[-1] == key]
            if len(matches) != 1:
                why = "is ambiguous: " + ", ".join(matches) if matches else "unknown config field"
                raise ValueError(f"--set {key}: {why}")
            owner, f = paths[matches[0]]
        setattr(owner, f.name, _coerce(f, value))
    return cfg


def config_to_dict(cfg: Any) -> dict:
    """A JSON-able dict (tuples as lists) of a (nested) dataclass config."""
    def plain(v):
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    return plain(dataclasses.asdict(cfg))


def config_from_dict(cls: type, d: dict) -> Any:
    """Inverse of ``config_to_dict``: nested dataclasses rebuilt, tuples restored; unknown keys are dropped
    (a field removed since the run was written)."""
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in d:
            continue
        default = _default(f)
        value = d[f.name]
        kwargs[f.name] = (config_from_dict(type(default), value) if dataclasses.is_dataclass(default)
                          else _coerce(f, value))
    return cls(**kwargs)


class DictConfig:
    """``to_dict`` / ``from_dict`` for a family's top-level dataclass config (keras-hub's rule: a config is its
    constructor's kwargs, so a run's ``run.json`` rebuilds it)."""

    def to_dict(self) -> dict:
        return config_to_dict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Any:
        return config_from_dict(cls, d)
