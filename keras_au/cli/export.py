"""`keras-au export`: the inference-only model of a trained run (no auxiliary-task weights)."""

from __future__ import annotations

import argparse

from keras_au.cli import CommandError
from keras_au.cli._options import options
from keras_au.models import registry


def run(args: argparse.Namespace) -> int:
    try:
        path = registry.task_for_run(args.run_dir).export(**options(args))
    except (FileNotFoundError, KeyError, ValueError) as e:
        raise CommandError(str(e)) from e
    print(path)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="write the inference-only model of a trained run")
    p.add_argument("run_dir", help="directory written by `keras-au train`")
    p.add_argument("--snapshot", help="wild: best (default when the run has best.json), final, or a weights file")
    p.add_argument("--out", required=True, help="output directory")
    p.set_defaults(func=run)
