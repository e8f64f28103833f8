"""`keras-au demo`: the whole job on the embedded sample, end to end, into one folder (what `make demo` runs).

Stages: sample data -> local TFX pipeline (preprocess, stats, training with the "demo" preset on the
people of two folds, evaluation on the held-out fold's unseen people, fold report, blessing, push) -> TFLite from the pushed SavedModel -> `predict`
on a real sample video (CSV + AU time-series plot) -> ``REPORT.md`` linking everything.
The paper-size model stays the default of every other command; the demo preset is documented in
docs/pipeline.md. Re-running reuses the sample and the pipeline cache.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import time
from typing import Iterator

from keras_au.cli import CommandError
from keras_au.cli._options import parse_overrides
from keras_au.cli.demo_report import failed_bars, finish_report
from keras_au.cli.pipeline import add_gate_flags, add_held_out_flag
from keras_au.models import registry

STAGES = ("sample data", "TFX pipeline", "fold report", "TFLite", "predict", "REPORT.md")
# Exit status when the gate refuses the model (every stage that can still run has run, on the unblessed model):
# distinct from 0 (served), 1 (a stage failed or a crash) and 2 (a usage or input error), so scripts can tell.
EXIT_NOT_BLESSED = 3
TFLITE_VARIANTS = ("fp32", "dynamic_int8")
# Held-out faces for the TFLite parity check and the calibration reference (the sample's fold has ~900).
REFERENCE_FACES = 256
# The sample's real videos are long (up to 4800 frames); a spread-out slice of each is enough unlabeled data.
UNLABELED_OPTIONS = {"frame_step": 10, "max_frames_per_sequence": 24}
# What fits 15 min on 2 cores next to the sample and preprocessing, measured (docs/pipeline.md, "The demo's
# recipe"): one held-out fold (three folds would leave 150 steps each, too few to learn the AUs from scratch)
# and 450 steps of 16 labeled faces.
DEMO_EPOCHS, DEMO_STEPS = 3, 150
DEMO_HELD_OUT = (0,)
# Fixed shards per fold, written in key order: the same records in the same order on every run, so a seed gives
# the same training input (per-bundle files follow the workers' scheduling; docs/pipeline.md, "Reproducible").
DEMO_SHARDS = 2
class _Stages:
    def __init__(self):
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        i = STAGES.index(name) + 1
        print(f"== [{i}/{len(STAGES)}] {name}", flush=True)
        t0 = time.time()
        try:
            yield
        finally:  # also when the stage stops the demo: demo.json records how long it ran
            self.seconds[name] = round(time.time() - t0, 1)
        print(f"== [{i}/{len(STAGES)}] {name} done ({self.seconds[name]:.0f} s)", flush=True)


def _shortest_video(videos) -> str:
    from keras_au.inference.media import frame_count

    if not videos:
        raise CommandError("the sample holds no real video to predict on")
    return min(videos, key=lambda v: (frame_count(v), v))


def run(args: argparse.Namespace) -> int:
    from pipeline.components.fold_report import REPORT_JSON, REPORT_MD, read_report
    from pipeline.components.pusher import read_push
    from pipeline.configs import PipelineConfig, split_name
    from pipeline.gate import gate_inputs
    from pipeline.local_runner import PipelineRunError, run_local

    if args.init is not None:  # a preset that cannot fit the model is refused before the sample is built
        try:
            registry.get_task(args.model).check_init(args.init, args.preset, parse_overrides(args.set))
        except ValueError as e:
            raise CommandError(str(e)) from e
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    stage = _Stages()
    t_start = time.time()
    errors: list[str] = []  # stages that failed without stopping the demo

    with stage("sample data"):
        from keras_au.sample import ensure_sample

        try:
            sample = ensure_sample(out=args.sample, seed=args.seed, identities=args.identities, offline=args.offline)
        except (OSError, ValueError, RuntimeError) as e:
            raise CommandError(f"could not build the sample: {e}") from e
        print(f"sample: {sample.root}")
        with open(sample.manifest) as f:
            manifest = json.load(f)
        sample_info = {"root": sample.root, "generator_version": manifest.get("generator_version"),
                       "key": manifest.get("key"), "seed": manifest.get("seed"), "counts": manifest.get("counts")}

    with stage("TFX pipeline"):
        cfg = PipelineConfig(
            data_dir=sample.bp4d, dataset="bp4d", unlabeled_dir=sample.unlabeled if args.unlabeled else None,
            pipeline_root=os.path.join(out, "pipeline"), serving_dir=os.path.join(out, "serving_model"),
            pipeline_name="keras-au-demo", model=args.model, preset=args.preset, epochs=args.epochs,
            steps_per_epoch=args.steps_per_epoch, seed=args.seed, held_out=args.held_out, flow=args.flow, min_mean_f1=args.min_f1,
            min_f1_gain=args.min_f1_gain, min_auc=args.min_auc, max_f1_drop=args.max_f1_drop,
            preprocess_options={"workers": args.workers, "num_shards": DEMO_SHARDS},
            unlabeled_options=UNLABELED_OPTIONS,
            overrides=parse_overrides(args.set), init=args.init,
            beam_pipeline_args=list(args.extra or []),
        )
        try:
            summary = run_local(cfg, verbose=args.verbose)
        except PipelineRunError as e:
            raise CommandError(f"pipeline failed: {e}") from e
        states = list(summary["executions"].values())
        print(f"{states.count('COMPLETE')} components ran, {states.count('CACHED')} cached")

    with stage("fold report"):
        report_uri = summary["outputs"]["FoldReport"]["report"]
        report = read_report(report_uri)
        for name, dest in ((REPORT_MD, "fold_report.md"), (REPORT_JSON, "fold_report.json")):
            shutil.copyfile(os.path.join(report_uri, name), os.path.join(out, dest))
        with open(os.path.join(out, "fold_report.md")) as f:
            print(f.read())
        push = read_push(summary["outputs"]["KerasAuPusher"]["pushed_model"])
        info = {"sample": sample.root, "sample_info": sample_info, "pipeline": summary, "fold_report": report, "push": push,
                "gate": gate_inputs(report), "stage_seconds": stage.seconds, "preset": args.preset,
                "model": args.model, "held_out": list(cfg.held_out_folds), "unlabeled": bool(args.unlabeled),
                "recipe": {"epochs": args.epochs, "steps_per_epoch": args.steps_per_epoch, "set": args.set or []}}
        if push["pushed"]:
            version_dir = push["destination"]
            print(f"pushed fold {push['fold']} model: {version_dir}")
        elif push.get("served_destination"):  # an earlier run's model stays served: the demo goes on with it
            version_dir = push["served_destination"]
            print(f"nothing pushed ({push['reason']}); continuing with the served {version_dir}")
        else:  # nothing blessed, nothing served before: the later stages still run, on the unblessed model
            print(f"nothing pushed: {push['reason']}")
            version_dir = _export_unblessed(out, summary, report["best_fold"])
            info["not_blessed"] = push["reason"]
            print(f"NOT BLESSED: fold {report['best_fold']} model exported for inspection only: {version_dir}")
        served_fold = push["fold"] if push["pushed"] else (report.get("served") or {}).get("held_out_fold")
        served_fold = report["best_fold"] if served_fold is None else served_fold
        info.update(served_dir=version_dir, served_fold=served_fold)

    with stage("TFLite"):
        from keras_au.inference.savedmodel import read_serving_info
        from keras_au.inference.tflite import export_tflite, faces_from_records, format_report

        examples = summary["outputs"]["Preprocess"]["examples"]
        held_out = os.path.join(examples, f"Split-{split_name(served_fold)}")
        faces = faces_from_records(held_out, read_serving_info(version_dir), max_samples=REFERENCE_FACES)
        try:
            tflite = export_tflite(version_dir, os.path.join(out, "tflite"), TFLITE_VARIANTS, faces, num_threads=2)
            print(format_report(tflite))
        except (ValueError, RuntimeError) as e:  # recorded and reported; predict still runs on the SavedModel
            tflite = {"variants": {}, "faces": len(faces), "error": str(e)}
            errors.append(f"TFLite: {e}")
            print(f"TFLite conversion failed: {e}")

    with stage("predict"):
        from keras_au.inference.detector import Detector
        from serving.plot import plot_predictions
        from serving.results_page import write_page

        video = _shortest_video(sample.videos)
        stem = os.path.splitext(os.path.basename(video))[0]
        csv_path = os.path.join(out, "predictions", f"{stem}.csv")
        png_path = os.path.join(out, "predictions", f"{stem}.png")
        detector = Detector(version_dir)
        predicted = detector.predict_csv([video], csv_path).as_dict()
        cal_path = os.path.join(out, "predictions", f"{stem}_calibrated.csv")
        motion = _write_calibrated(csv_path, cal_path, detector.au_names, _reference(detector, faces))
        plot_predictions(csv_path, png_path, calibrated_csv=cal_path)
        html_path = write_page(csv_path, os.path.join(out, "predictions", f"{stem}.html"), video=video,
                               calibrated_csv=cal_path)["html"]
        print(f"{predicted['rows']} rows, {predicted['faces']} faces in {predicted['frames']} frames -> {csv_path}")

    info.update(tflite=tflite, predict={**predicted, "video": video, "csv": csv_path, "plot": png_path,
                                        "calibrated_csv": cal_path, "curve_motion": motion, "html": html_path})
    with stage("REPORT.md"):
        path = finish_report(out, info)
    if info.get("not_blessed"):
        print(f"demo finished in {time.time() - t_start:.0f} s (see {path})")
        print(f"NOT BLESSED: {failed_bars(info['not_blessed'])}")
        return EXIT_NOT_BLESSED
    if errors:
        print(f"demo finished with errors in {time.time() - t_start:.0f} s (see {path}):\n  " + "\n  ".join(errors))
        return 1
    print(f"demo done in {time.time() - t_start:.0f} s: {path}")
    return 0


def _write_calibrated(csv_path: str, out_csv: str, au_names, reference) -> dict:
    """The predictions person-calibrated against ``reference`` (the held-out people's median logits,
    ``keras_au.person_calibration``) and, per AU, the raw and calibrated mean and how much each curve moves over
    the video (standard deviation of the probability): flat curves show up here."""
    import pandas as pd

    from keras_au.person_calibration import calibrate_dataframe

    df = pd.read_csv(csv_path)
    cal = calibrate_dataframe(df, au_names, reference=reference)
    cal.to_csv(out_csv, index=False)
    ok = df["success"] == 1
    if ok.sum() <= 1:
        return {}
    return {a: {"raw_mean": round(float(df.loc[ok, f"{a}_p"].mean()), 4),
                "raw_sd": round(float(df.loc[ok, f"{a}_p"].std()), 4),
                "calibrated_mean": round(float(cal.loc[ok, f"{a}_p"].mean()), 4),
                "calibrated_sd": round(float(cal.loc[ok, f"{a}_p"].std()), 4)} for a in au_names}


def _reference(detector, faces):
    """Median logit per AU of the served model on the held-out people's faces: the population the video's
    person is calibrated against (``None`` without faces: the video is its own population)."""
    from keras_au.person_calibration import reference_logits

    if not len(faces):
        return None
    rows = detector.predict_aligned(faces.images, faces.landmarks)
    return reference_logits(rows[[f"{a}_p" for a in detector.au_names]].to_numpy())


def _export_unblessed(out: str, summary: dict, fold: int) -> str:
    """The best fold's model as a SavedModel under ``<out>/unblessed_model/`` (never the serving folder), so
    TFLite and predict still show what the refused model does."""
    from tfx.utils import path_utils

    from keras_au.inference.savedmodel import export_serving

    model_uri = summary["outputs"][f"Trainer_fold{fold}"]["model"]
    target = os.path.join(out, "unblessed_model")
    shutil.rmtree(target, ignore_errors=True)
    return export_serving(path_utils.serving_model_path(model_uri), target, version=1)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="sample data -> TFX pipeline -> SavedModel + TFLite -> predict, in one folder")
    p.add_argument("--out", default=os.path.join("runs", "demo"), help="output folder (default runs/demo)")
    p.add_argument("--model", default="rtatl", choices=registry.model_names())
    p.add_argument("--preset", default="demo", choices=["demo", "ci", "paper"],
                   help="model size (default demo: CPU-sized; paper is far too slow for a CPU demo)")
    p.add_argument("--epochs", type=int, default=DEMO_EPOCHS, help=f"per fold (default {DEMO_EPOCHS})")
    p.add_argument("--steps-per-epoch", type=int, default=DEMO_STEPS, help=f"default {DEMO_STEPS}")
    add_held_out_flag(p, DEMO_HELD_OUT)
    p.add_argument("--seed", type=int, default=0, help="seed of the sample and of training (default 0)")
    p.add_argument("--init", metavar="scratch|imagenet|PRESET|DIR",
                   help="initial backbone weights, as `keras-au train --init` (default scratch; nothing is fetched "
                   "unless this names a hub preset; imagenet needs --set model.resnet_width=64)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a model config field (repeatable)")
    p.add_argument("--min-f1", type=float, default=0.0, help="absolute blessing bar (default 0: on synthetic "
                   "AUs no absolute F1 means much; the relative bars below are the real runs' defaults)")
    add_gate_flags(p)
    p.add_argument("--flow", action=argparse.BooleanOptionalAction, default=True, help="TV-L1 flow targets")
    p.add_argument("--unlabeled", action=argparse.BooleanOptionalAction, default=False,
                   help="also feed the sample's real unlabeled media to the auxiliary tasks (default off: in the "
                   "demo's budget they halve the labeled faces seen; docs/pipeline.md)")
    p.add_argument("--workers", type=int, default=2, help="preprocessing worker processes (default 2)")
    p.add_argument("--sample", help="where the sample lives (default: the keras-au cache)")
    p.add_argument("--identities", type=int, help="use at most this many sample identities")
    p.add_argument("--offline", action="store_true", help="build the sample from cached media only")
    p.add_argument("--verbose", action="store_true", help="show TFX/Beam/Keras output instead of logging it")
    p.set_defaults(func=run, accepts_extra=True)
