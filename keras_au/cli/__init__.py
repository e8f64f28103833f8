"""`keras-au` command line: thin subcommands that parse, call the library and print.

Each subcommand lives in its own module in this package and exposes
``register(subparsers)``; modules are discovered, so adding a command touches one file.
This package is the only library code that imports ``pipeline`` or ``serving``; those two are not in the
wheel (README, "Packaging"), so a command that needs them says so instead of failing with a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
import warnings
from typing import Optional, Sequence

from keras_au import __version__


CHECKOUT_PACKAGES = ("pipeline", "serving")


class CommandError(Exception):
    """A user-facing failure: printed without a traceback, exit status 2."""


def _needs_checkout(e: ModuleNotFoundError) -> Optional[str]:
    """The message for a missing ``pipeline``/``serving`` package; None for any other missing module."""
    top = (e.name or "").split(".")[0]
    if top not in CHECKOUT_PACKAGES:
        return None
    return (f"needs {top}/ from a keras-au checkout (the keras-au wheel ships the library only): "
            "run it from a checkout set up with `make setup`, or put the checkout on PYTHONPATH")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="keras-au", description="Facial action unit detection in Keras 3: data, training, export, serving."
    )
    parser.add_argument("--version", action="version", version=f"keras-au {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "register"):
            module.register(sub)
    return parser


def _call(args: argparse.Namespace) -> int:
    try:
        return int(args.func(args) or 0)
    except ModuleNotFoundError as e:
        reason = _needs_checkout(e)
        if reason is None:
            raise
        raise CommandError(reason) from e


def main(argv: Optional[Sequence[str]] = None) -> int:
    # google-api-core (pulled in by TFX) warns on every import that Python 3.10 is old; TFX 1.16 needs it.
    old_python = "You are using a non-supported Python version"
    warnings.filterwarnings("ignore", message=old_python, category=FutureWarning)
    os.environ.setdefault("PYTHONWARNINGS", f"ignore:{old_python}:FutureWarning")  # Beam worker processes
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    if extra and not getattr(args, "accepts_extra", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra = extra
    try:
        return _call(args)
    except CommandError as e:
        print(f"keras-au {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
