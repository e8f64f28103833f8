"""`keras-au evaluate`: per-AU F1 (and accuracy) table, JSON and bar plot for a trained run."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys

from keras_au.cli import CommandError
from keras_au.cli._options import options
from keras_au.models import registry


def run(args: argparse.Namespace) -> int:
    try:
        task = registry.task_for_run(args.run_dir)
        # With --json, stdout carries only the JSON (the table goes to stderr), so it can be piped.
        with contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext():
            result = task.evaluate(**options(args))
    except (FileNotFoundError, KeyError, ValueError) as e:
        raise CommandError(str(e)) from e
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="per-AU F1/accuracy of a trained run: table, JSON, bar plot")
    p.add_argument("run_dir", help="directory written by `keras-au train`")
    p.add_argument("--snapshot", help="wild: best (default when the run has best.json), final, or a weights file")
    p.add_argument("--data", help="records to evaluate on (default: the run's test fold / target data)")
    p.add_argument("--fold", type=int, help="test fold (default: the run's)")
    p.add_argument("--out", help="where to write scores.json and the plot (default: <run_dir>/eval)")
    p.add_argument("--figures", action="store_true", help="also write the paper's figures (RTATL Figs 5-7)")
    p.add_argument("--json", action="store_true", help="print the scores as JSON")
    p.set_defaults(func=run)
