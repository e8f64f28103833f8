"""`keras-au tflite`: float32 / float16 / dynamic-range int8 / full-int8 TFLite models + parity report."""

from __future__ import annotations

import argparse
import os
import tempfile

from keras_au.cli import CommandError

# Same as keras_au.inference.tflite.VARIANTS (not imported here: building the parser must not load TensorFlow).
VARIANTS = ("fp32", "fp16", "dynamic_int8", "int8")


def _faces(args, info):
    from keras_au.inference.tflite import FaceArrays, faces_from_records

    if args.records:
        return faces_from_records(args.records, info, args.max_faces)
    if args.images:
        from serving.faces import aligned_faces_from_files

        return aligned_faces_from_files(args.images, args.max_faces)
    from serving.faces import packaged_faces

    print("no --records/--images: calibrating on the packaged sample faces (few; pass real data for int8)")
    images, landmarks = packaged_faces()
    return FaceArrays(images, landmarks)


def run(args: argparse.Namespace) -> int:
    from keras_au.inference.savedmodel import MODEL_FILE, export_serving, read_serving_info, resolve_version_dir
    from keras_au.inference.tflite import format_report, export_tflite

    try:
        with tempfile.TemporaryDirectory() as tmp:
            source = args.model
            if os.path.isfile(os.path.join(source, MODEL_FILE)):  # an export dir: convert via a SavedModel
                source = export_serving(source, tmp, warmup=False)
            version_dir = resolve_version_dir(source)
            faces = _faces(args, read_serving_info(version_dir))
            report = export_tflite(version_dir, args.out, args.variants, faces, args.threads, progress=not args.quiet)
    except (FileNotFoundError, ValueError) as e:
        raise CommandError(str(e)) from e
    print(format_report(report))
    print(f"-> {args.out} (parity.json)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tflite", help="TFLite variants of a serving SavedModel with a parity report")
    p.add_argument("model", help="serving version/base dir, or a `keras-au export` dir")
    p.add_argument("--out", required=True, help="output directory (keras_au_<variant>.tflite, parity.json)")
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    p.add_argument("--records", help="TFRecords (dir or glob) for int8 calibration and parity")
    p.add_argument("--images", nargs="+", help="face images/folders instead of records (detected and aligned)")
    p.add_argument("--max-faces", type=int, default=128, help="faces used for calibration/parity (default 128)")
    p.add_argument("--threads", type=int, help="TFLite interpreter threads for the parity run")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=run)
