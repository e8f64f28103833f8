"""`keras-au predict`: AU predictions for images, folders and videos as CSV (and an optional plot)."""

from __future__ import annotations

import argparse
import json
import sys

from keras_au.cli import CommandError


def run(args: argparse.Namespace) -> int:
    from keras_au.inference.detector import Detector  # keras_au.Detector: the Python API and this command share a path

    try:
        detector = Detector(args.model, batch_size=args.batch, all_faces=args.all_faces,
                            detect_every=args.detect_every, num_threads=args.threads)
    except (FileNotFoundError, ValueError) as e:
        raise CommandError(str(e)) from e
    model = detector.model
    if args.plot:
        from serving.plot import plot_predictions  # before a long run: stops here when serving/ is missing
    if args.html:
        from keras_au.inference.atomic import check_writable
        from serving.results_page import write_page

        _user_errors(check_writable, args.html)  # before a long run, not after it
    summary = _user_errors(detector.predict_csv, args.inputs, args.out, progress=not args.quiet,
                           calibrate=args.calibrate, overlay=args.overlay)
    if args.plot:
        plot_predictions(args.out, args.plot)
    info = summary.as_dict()
    info.update(model=model.path, backend=model.kind, csv=args.out, plot=args.plot, overlay=detector.last_overlay)
    if args.calibrate:
        from keras_au.inference.columns import calibrated_path

        info["calibrated_csv"] = calibrated_path(args.out)
    if args.html:
        info["html"] = _user_errors(write_page, args.out, args.html, overlay=args.overlay,
                                    calibrated_csv=info.get("calibrated_csv"))
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        print(f"{info['rows']} rows ({info['faces']} faces, {info['frames']} frames, {info['sources']} inputs) "
              f"-> {args.out}  [{info['fps']:.1f} frames/s, {model.kind}]")
        if args.calibrate:
            print(f"  person-calibrated: {info['calibrated_csv']}")
        if info["overlay"]:
            print(f"  overlay: {info['overlay']['path']} ({info['overlay']['frames']} frames, H.264)")
        if args.html:
            print(f"  page: {args.html}")
        for reason, n in sorted(info["failures"].items()):
            print(f"  success=0 rows: {n:5d} {reason}")
        if info["skipped_files"]:
            print(f"  skipped {len(info['skipped_files'])} files in folders (not an image/video extension)",
                  file=sys.stderr)
    return 0


def _user_errors(fn, *args, **kwargs):
    """Bad inputs and unwritable outputs -> ``CommandError`` (message names the file), no traceback."""
    from keras_au.inference.atomic import OutputError

    try:
        return fn(*args, **kwargs)
    except (FileNotFoundError, ValueError) as e:  # serving.results.ResultsError is a ValueError
        raise CommandError(str(e)) from e
    except OutputError as e:  # "cannot write PATH: why"
        raise CommandError(str(e)) from e
    except OSError as e:
        raise CommandError(f"cannot write: {e}") from e


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="AU predictions for images, folders and videos "
                                       "(CSV; optional plot, overlay video, HTML page)")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, video files or folders (recursive)")
    p.add_argument("--model", required=True,
                   help="serving version dir, serving base dir (latest version), export dir (model.keras) or .tflite")
    p.add_argument("--out", required=True, help="CSV to write")
    p.add_argument("--plot", help="PNG: AU probabilities over time (videos) / bar chart (images)")
    p.add_argument("--calibrate", action="store_true",
                   help="also write person-calibrated rows to <stem>_calibrated.csv (videos: per face track)")
    p.add_argument("--overlay", metavar="MP4", help="one video input: H.264 video with boxes, landmarks and AU bars "
                   "(calibrated values with --calibrate)")
    p.add_argument("--html", metavar="HTML", help="results page (`keras-au view`): the overlay or video with AU "
                   "curves, or an image grid")
    p.add_argument("--batch", type=int, default=32, help="faces per model call (default 32)")
    p.add_argument("--all-faces", action="store_true", help="every face (default: the largest per frame)")
    p.add_argument("--detect-every", type=int, default=10,
                   help="videos: run the face detector every K frames, track landmarks in between (default 10)")
    p.add_argument("--threads", type=int, help="TFLite interpreter threads")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run)
