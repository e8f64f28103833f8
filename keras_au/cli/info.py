"""`keras-au info`: versions, located model files and AU sets."""

from __future__ import annotations

import argparse
import json
import platform
from importlib import metadata

from keras_au.au import DATASET_AUS, FACS_NAMES

PACKAGES = {
    "tensorflow": "tensorflow",
    "keras": "keras",
    "tfx": "tfx",
    "apache-beam": "apache-beam",
    "tensorflow-model-analysis": "tensorflow-model-analysis",
    "tensorflow-serving-api": "tensorflow-serving-api",
    "kfp": "kfp",
    "opencv": "opencv-contrib-python-headless",
    "dlib": "dlib-bin",
    "ai-edge-litert": "ai-edge-litert",
    "numpy": "numpy",
}


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def collect() -> dict:
    from keras_au.geometry.faces import find_landmark_model

    try:
        model = find_landmark_model()
    except FileNotFoundError as e:
        model = f"NOT FOUND: {e}"
    try:
        import cv2

        tvl1 = hasattr(cv2, "optflow") and hasattr(cv2.optflow, "DualTVL1OpticalFlow_create")
    except ImportError:
        tvl1 = False
    return {
        "python": platform.python_version(),
        "versions": {name: _version(dist) for name, dist in PACKAGES.items()},
        "models": {"dlib_68_landmarks": model},
        "opencv_tvl1": tvl1,
        "au_sets": {name: list(aus) for name, aus in DATASET_AUS.items()},
        "facs_names": {f"AU{k:02d}": v for k, v in FACS_NAMES.items()},
    }


def run(args: argparse.Namespace) -> int:
    info = collect()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"keras-au on Python {info['python']}")
    for name, version in info["versions"].items():
        print(f"  {name:28s} {version}")
    print(f"  dlib 68-point model           {info['models']['dlib_68_landmarks']}")
    print(f"  OpenCV TV-L1 (cv2.optflow)    {'yes' if info['opencv_tvl1'] else 'NO'}")
    print("AU sets:")
    for name, aus in info["au_sets"].items():
        print(f"  {name:10s} ({len(aus):2d}) " + " ".join(f"AU{a:02d}" for a in aus))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="versions, located model files and AU sets")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)
