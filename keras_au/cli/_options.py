"""Shared helpers for the model subcommands."""

from __future__ import annotations

import argparse
import json


def positive_int(value: str) -> int:
    """argparse type: an integer >= 1."""
    n = int(value)
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return n


def parse_overrides(pairs: list[str] | None) -> dict:
    """``--set key=value`` pairs; values parsed as JSON when possible (numbers, booleans, lists)."""
    out = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise argparse.ArgumentTypeError(f"--set expects key=value, got {pair!r}")
        key, value = pair.split("=", 1)
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", default="paper", choices=["paper", "demo", "ci"],
                   help="model/training size: paper (default), demo (CPU-sized), ci (tiny)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config field (repeatable)")


def options(args: argparse.Namespace, skip: tuple[str, ...] = ()) -> dict:
    """Namespace -> keyword options for a task function (None values dropped)."""
    drop = {"func", "command", "extra", "accepts_extra", "set", *skip}
    opts = {k: v for k, v in vars(args).items() if k not in drop and v is not None}
    opts["overrides"] = parse_overrides(getattr(args, "set", None))
    return opts
