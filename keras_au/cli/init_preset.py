"""`keras-au init-preset NAME --out DIR`: a keras-hub ResNet-18 preset saved to a folder for offline nodes."""

from __future__ import annotations

import argparse
import json

from keras_au.cli import CommandError


def run(args: argparse.Namespace) -> int:
    from keras_au.models.backbone_init import save_preset

    try:
        result = save_preset(args.name, args.out)
    except (FileNotFoundError, ValueError) as e:
        raise CommandError(str(e)) from e
    print(json.dumps(result, indent=2))
    print(f"train on an offline node with: keras-au train ... --init {result['out']}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("init-preset", help="save a keras-hub preset (e.g. imagenet) to DIR for `train --init DIR`")
    p.add_argument("name", help="keras-hub preset: imagenet (= resnet_18_imagenet), a preset name, kaggle://, hf://")
    p.add_argument("--out", required=True, help="folder to write (backbone + image converter, keras-hub format)")
    p.set_defaults(func=run)
