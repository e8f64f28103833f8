"""`keras-au serving-export`: an exported model -> a versioned SavedModel for TF Serving."""

from __future__ import annotations

import argparse

from keras_au.cli import CommandError


def run(args: argparse.Namespace) -> int:
    from keras_au.inference.savedmodel import export_serving

    try:
        path = export_serving(args.export_dir, args.out, model_name=args.name, version=args.version,
                              warmup=not args.no_warmup)
    except (FileNotFoundError, FileExistsError, ValueError) as e:
        raise CommandError(str(e)) from e
    print(path)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serving-export",
                       help="write <out>/<name>/<version>/ SavedModel (TF Serving) from a `keras-au export` dir")
    p.add_argument("export_dir", help="directory written by `keras-au export` (model.keras + export.json)")
    p.add_argument("--out", required=True, help="serving directory (TF Serving model_base_path is <out>/<name>)")
    p.add_argument("--name", default="keras_au", help="model name (default keras_au)")
    p.add_argument("--version", type=int, help="version number (default: highest existing + 1)")
    p.add_argument("--no-warmup", action="store_true", help="do not write assets.extra/tf_serving_warmup_requests")
    p.set_defaults(func=run)
