"""`keras-au view`: a `predict` CSV as one self-contained HTML page (video + AU curves, or an image grid)."""

from __future__ import annotations

import argparse
import json
import os

from keras_au.cli import CommandError


def run(args: argparse.Namespace) -> int:
    from keras_au.inference.atomic import OutputError
    from keras_au.inference.columns import calibrated_path
    from serving.results import ResultsError
    from serving.results_page import write_page

    calibrated = args.calibrated
    if calibrated is None and os.path.isfile(calibrated_path(args.csv)):  # what `predict --calibrate` wrote
        calibrated = calibrated_path(args.csv)
    try:
        info = write_page(args.csv, args.out, video=args.video, overlay=args.overlay, calibrated_csv=calibrated)
    except (ResultsError, OutputError) as e:
        raise CommandError(str(e)) from e
    if args.json:
        print(json.dumps(info, indent=2, default=str))
    else:
        what = f"{info['frames']} frames of {info['video']}" if info["mode"] == "video" else f"{info['images']} images"
        print(f"{args.out}: {what}" + (" (raw + person-calibrated)" if info.get("calibrated") else ""))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("view", help="a predict CSV as one HTML page: video + AU curves, or an image grid")
    p.add_argument("csv", metavar="RESULTS_CSV", help="CSV written by `keras-au predict`")
    p.add_argument("--video", help="the video the CSV came from (default: the CSV's video when it exists)")
    p.add_argument("--overlay", help="the `predict --overlay` video to show instead")
    p.add_argument("--calibrated", help="person-calibrated CSV (default: <stem>_calibrated.csv beside the CSV)")
    p.add_argument("--out", required=True, help="HTML file to write")
    p.add_argument("--json", action="store_true", help="print what was written as JSON")
    p.set_defaults(func=run)
