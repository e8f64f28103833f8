"""`keras-au summary`: parameter and FLOP counts of the training and inference graphs."""

from __future__ import annotations

import argparse
import json

from keras_au.cli import CommandError
from keras_au.cli._options import add_common, options
from keras_au.models import registry


def run(args: argparse.Namespace) -> int:
    try:
        result = registry.task_module(args.model).summary(**options(args, skip=("json",)))
    except (KeyError, ValueError) as e:
        raise CommandError(str(e)) from e
    if args.json:
        print(json.dumps({k: result[k] for k in ("training", "inference")}))
        return 0
    for part in ("training", "inference"):
        r = result[part]
        print(f"{part:10s} params {r['params'] / 1e6:8.2f} M   FLOPs {r['flops'] / 1e9:7.2f} G")
    for line in result.get("notes", []):
        print(f"  {line}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("summary", help="params/FLOPs of the training and inference graphs")
    p.add_argument("--model", required=True, choices=registry.model_names())
    p.add_argument("--dataset", default="bp4d", help="AU set (bp4d, disfa, emotionet)")
    p.add_argument("--json", action="store_true",
                   help='print {"training": {"params", "flops"}, "inference": {"params", "flops"}}')
    add_common(p)
    p.set_defaults(func=run)
