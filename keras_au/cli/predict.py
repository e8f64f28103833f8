"""`keras-au predict`: AU predictions for images, folders and videos as CSV (and an optional plot)."""

from __future__ import annotations

import argparse
import json
import sys

from keras_au.cli import CommandError


def run(args: argparse.Namespace) -> int:
    from serving.detector import Detector  # keras_au.Detector: the Python API and this command share one path

    try:
        detector = Detector(args.model, batch_size=args.batch, all_faces=args.all_faces,
                            detect_every=args.detect_every, num_threads=args.threads)
    except (FileNotFoundError, ValueError) as e:
        raise CommandError(str(e)) from e
    model = detector.model
    try:
        summary = detector.predict_csv(args.inputs, args.out, progress=not args.quiet)
    except (FileNotFoundError, ValueError) as e:
        raise CommandError(str(e)) from e
    except OSError as e:
        raise CommandError(f"cannot write {args.out}: {e}") from e
    if args.plot:
        from serving.plot import plot_predictions

        plot_predictions(args.out, args.plot)
    info = summary.as_dict()
    info.update(model=model.path, backend=model.kind, csv=args.out, plot=args.plot)
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        print(f"{info['rows']} rows ({info['faces']} faces, {info['frames']} frames, {info['sources']} inputs) "
              f"-> {args.out}  [{info['fps']:.1f} frames/s, {model.kind}]")
        for reason, n in sorted(info["failures"].items()):
            print(f"  success=0 rows: {n:5d} {reason}")
        if info["skipped_files"]:
            print(f"  skipped {len(info['skipped_files'])} files in folders (not an image/video extension)",
                  file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="AU predictions for images, folders and videos (CSV, optional plot)")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, video files or folders (recursive)")
    p.add_argument("--model", required=True,
                   help="serving version dir, serving base dir (latest version), export dir (model.keras) or .tflite")
    p.add_argument("--out", required=True, help="CSV to write")
    p.add_argument("--plot", help="PNG: AU probabilities over time (videos) / bar chart (images)")
    p.add_argument("--batch", type=int, default=32, help="faces per model call (default 32)")
    p.add_argument("--all-faces", action="store_true", help="every face (default: the largest per frame)")
    p.add_argument("--detect-every", type=int, default=10,
                   help="videos: run the face detector every K frames, track landmarks in between (default 10)")
    p.add_argument("--threads", type=int, help="TFLite interpreter threads")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run)
