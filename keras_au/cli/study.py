"""`keras-au study`: every cell of an experiment grid (paper Table 1, Fig. 4, or a JSON file), resumable."""

from __future__ import annotations

import argparse
import sys

from keras_au.cli import CommandError
from keras_au.cli._options import parse_overrides


def _ints(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from e


def run(args: argparse.Namespace) -> int:
    from keras_au.experiments import StudyError, load_grid, run_study

    try:
        grid = load_grid(args.grid)
        result = run_study(grid, args.data, args.out, unlabeled=args.unlabeled, seeds=args.seeds, folds=args.folds,
                           jobs=args.jobs, preset=args.preset, epochs=args.epochs,
                           steps_per_epoch=args.steps_per_epoch, batch_size=args.batch_size,
                           overrides=parse_overrides(args.set), dry_run=args.dry_run, variants=args.variants,
                           report_only=args.report or args.rescore, rescore=args.rescore)
    except (StudyError, argparse.ArgumentTypeError) as e:
        raise CommandError(str(e)) from e
    if args.dry_run:
        for r in result["cells"]:
            print(f"{r['status']:8s} {r['id']}  {r['dir']}")
        return 0
    if args.report or args.rescore:
        print(f"report over {sum(r['status'] == 'done' for r in result['cells'])} finished of "
              f"{len(result['cells'])} cells (nothing trained): "
              f"{result['files']['markdown']}, {result['files']['json']}")
        return 0
    print(f"{len(result['ran'])} cells ran, {len(result['failed'])} failed; "
          f"{result['files']['markdown']}, {result['files']['json']}")
    if result["failed"]:
        print("failed cells (logs in their directories; rerun the same command to retry): "
              + ", ".join(result["failed"]), file=sys.stderr)
        return 1
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("study", help="run an experiment grid (table1, fig4, FILE.json): resumable, study.md")
    p.add_argument("--grid", required=True, help="shipped grid name (table1, fig4, ...) or a grid JSON file")
    p.add_argument("--data", required=True, help="labeled records (preprocessing output with fold-<k>/ shards)")
    p.add_argument("--unlabeled", help="unlabeled records for the auxiliary tasks")
    p.add_argument("--out", required=True, help="study directory: cells/, study.md, study.json")
    p.add_argument("--seeds", type=_ints, help="comma-separated seeds (default: the grid's, else 0,1,2)")
    p.add_argument("--folds", type=_ints, help="comma-separated test folds (default: the grid's, else 0,1,2)")
    p.add_argument("--variants", type=lambda t: [x for x in t.split(",") if x],
                   help="comma-separated row names to run (default: every row); the report covers the whole grid")
    p.add_argument("--jobs", type=int, default=1, help="cells run in parallel processes (default 1)")
    p.add_argument("--preset", choices=["paper", "demo", "ci"], help="default: the grid's, else paper")
    p.add_argument("--epochs", type=int)
    p.add_argument("--steps-per-epoch", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="config override for every cell")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true", help="validate and list the cells with their status")
    mode.add_argument("--report", action="store_true",
                      help="train nothing; rewrite study.md/study.json from the cells finished so far")
    mode.add_argument("--rescore", action="store_true",
                      help="as --report, after evaluating the finished cells (of --variants) again with today's "
                           "evaluate (new metrics); training records are kept")
    p.set_defaults(func=run)
