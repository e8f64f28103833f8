"""`keras-au train`: train one model (RTATL family or the in-the-wild model)."""

from __future__ import annotations

import argparse
import json

from keras_au.cli import CommandError
from keras_au.cli._options import add_common, options
from keras_au.models import registry


def run(args: argparse.Namespace) -> int:
    try:
        task = registry.task_module(args.model)
    except KeyError as e:
        raise CommandError(str(e)) from e
    try:
        result = task.train(**options(args))
    except (FileNotFoundError, ValueError) as e:
        raise CommandError(str(e)) from e
    print(json.dumps(result, indent=2, default=str))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model (RTATL and its Table 1 rows, or wild)")
    p.add_argument("--model", required=True, choices=registry.model_names())
    p.add_argument("--out", required=True, help="run directory (checkpoints, logs, run.json)")
    p.add_argument("--data", help="RTATL: preprocessing output (fold-<k>/ shards)")
    p.add_argument("--fold", type=int, help="RTATL: test fold k (trains on the other two); default 0")
    p.add_argument("--unlabeled", help="RTATL: unlabeled records (e.g. EmotioNet/folder preprocessing output)")
    p.add_argument("--source", help="wild: labeled source-domain records (BP4D)")
    p.add_argument("--target", help="wild: unlabeled target-domain records (EmotioNet)")
    p.add_argument("--variant", help="wild: bl, ml or as (paper Table 3); default as")
    p.add_argument("--protocol", choices=["folds", "sample", "adld"],
                   help="wild: splits (docs/wild.md): folds (default), sample (held-out fold halved into validation/"
                        "test people), adld (BP4D part 3 val/test subjects, EmotioNet labeled set 50/50)")
    p.add_argument("--fine-tune", action="store_true", default=None,
                   help="wild: after stage 2, fine-tune the best validation snapshot (finetune_epochs, own rates)")
    p.add_argument("--dataset", help="AU set (bp4d, disfa, emotionet); default: from the records")
    p.add_argument("--epochs", type=int)
    p.add_argument("--steps-per-epoch", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--labeled-subjects", type=int, metavar="N",
                   help="RTATL: keep a seeded subset of N training subjects' labels (paper Fig. 4); drop the rest")
    p.add_argument("--demote-unlabeled", action="store_true", default=None,
                   help="RTATL: with --labeled-subjects, move the other subjects' frames into the unlabeled stream")
    p.add_argument("--weights", help="RTATL: torchvision state_dict .npz or Keras weights file for the ResNet-18")
    p.add_argument("--init", metavar="{scratch,imagenet,PRESET,DIR}",
                   help="RTATL: ResNet-18 start: scratch (default), imagenet (keras-hub resnet_18_imagenet, fetched), "
                        "a keras-hub preset name, or a local preset folder (`keras-au init-preset NAME --out DIR`)")
    p.add_argument("--xla", action=argparse.BooleanOptionalAction, default=None, help="jit_compile the train step")
    p.add_argument("--mixed-precision", action=argparse.BooleanOptionalAction, default=None,
                   help="mixed_float16 on GPU (every optimizer loss-scaled), mixed_bfloat16 elsewhere")
    p.add_argument("--distribute", choices=["none", "mirrored", "multiworker"],
                   help="tf.distribute strategy: mirrored = every local GPU; multiworker = TF_CONFIG or SLURM "
                        "cluster (docs/distributed.md); the global batch stays --batch-size")
    p.add_argument("--cpu-replicas", type=int, metavar="N",
                   help="with --distribute mirrored on a CPU-only machine: split the CPU into N logical devices")
    p.add_argument("--sync-bn", action=argparse.BooleanOptionalAction, default=None,
                   help="synchronise BatchNorm statistics across replicas (default: on when replicas > 1)")
    p.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                   help="continue from the last checkpoint in --out (default)")
    add_common(p)
    p.set_defaults(func=run)
