"""Serving benchmark: faces/s of the SavedModel and each TFLite variant, end-to-end video fps, roofline.

* Model: the RTATL family's paper-size inference model (untrained: only cost matters here) when
  ``keras_au.models.rtatl`` is present, else the small stand-in (labelled so in the table).
* Roofline: the machine's measured float32 matmul rate (``tf.matmul`` of n x n, FLOP/s = 2 n^3 / t).
  The model's FLOPs are 2 x its multiply-adds (``keras_au.models.flops``, the ``keras-au summary``
  counter), so "% of roofline" = 2 MACs/face x faces/s / matmul FLOP/s.
* Video: ``keras-au predict``'s pipeline (decode -> detect every 10 frames / track -> align -> model)
  on a clip made from real faces (or ``--video``), for the small stand-in model and the benchmark
  model, plus the pipeline alone (a zero-cost model) to show what detection/tracking cost.
* Overlay: ``predict`` without and with ``--overlay`` (H.264) on the same video in one run, small model, with
  the resident memory over the overlay run (``--overlay-only --video V`` runs just that row).

    .venv/bin/python bench/bench_serving.py             # paper-size RTATL
    .venv/bin/python bench/bench_serving.py --quick     # RTATL ci preset, fewer repeats (smoke run)

Prints a table and writes bench/results/serving.json.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile

import numpy as np
from _common import Timer, best_of, load_avg, machine_info, results_path, write_results  # first: sets the import path

RESULTS = results_path("serving")


def matmul_roofline(n: int = 2048, repeats: int = 5) -> dict:
    """Best-of float32 matmul rate with TensorFlow (and NumPy for reference), per wall second and per
    CPU second (process CPU time of all threads: independent of how much of the machine we got)."""
    import tensorflow as tf

    a = tf.random.normal((n, n))
    b = tf.random.normal((n, n))
    tf_best = best_of(lambda: tf.matmul(a, b).numpy(), repeats)
    an, bn = a.numpy(), b.numpy()
    np_best = best_of(lambda: an @ bn, repeats, warmup=0)
    flop = 2 * n**3
    return {"n": n, "tf_flops": flop / tf_best.wall, "tf_flops_per_cpu_s": flop / tf_best.cpu,
            "numpy_flops": flop / np_best.wall}


def faces_per_s(fn, images, landmarks, batch: int, min_seconds: float, max_calls: int = 50) -> tuple[float, float]:
    """Steady-state (faces per wall second, faces per CPU second) of ``fn(images[:batch], landmarks[:batch])``."""
    reps = -(-batch // len(images))
    x = np.concatenate([images] * reps)[:batch]
    lm = np.concatenate([landmarks] * reps)[:batch]
    fn(x, lm)
    calls = 0
    with Timer() as t:
        while calls < max_calls and (calls < 2 or t.elapsed() < min_seconds):
            fn(x, lm)
            calls += 1
    return batch * calls / t.wall, batch * calls / t.cpu


def model_macs(export_dir: str) -> int | None:
    """Multiply-adds per face of the exported model (``keras-au summary``'s counter)."""
    try:
        import tensorflow as tf

        from keras_au.inference.savedmodel import load_keras_export
        from keras_au.models.flops import count_macs
    except ImportError:
        return None
    model, info = load_keras_export(export_dir)
    s = info.input_size
    return count_macs(lambda d: model(d, training=False), {"image": tf.TensorSpec((1, s, s, 3), tf.float32),
                                                            "landmarks": tf.TensorSpec((1, 68, 2), tf.float32)})


def make_clip(path: str, frames: int, fps: float = 25.0) -> str:
    """A 320x240 MJPG clip of real faces (astronaut, then Grace Hopper) drifting slowly, 10 % faceless."""
    import cv2
    import matplotlib
    from skimage import data

    from keras_au.geometry import load_image

    astro = data.astronaut()
    hop = cv2.resize(load_image(os.path.join(matplotlib.get_data_path(), "sample_data", "grace_hopper.jpg")),
                     (256, 300), interpolation=cv2.INTER_AREA)[30:270]
    hop = np.pad(hop, ((0, 0), (32, 32), (0, 0)), constant_values=128)
    empty = cv2.resize(data.coffee(), (320, 240), interpolation=cv2.INTER_AREA)
    w = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), fps, (320, 240))
    for i in range(frames):
        dx, dy = int(round(6 * np.sin(i / 15))), int(round(4 * np.cos(i / 20)))
        part = i * 10 // frames
        if part == 4:
            img = empty
        elif part < 4:
            img = astro[20 + dy : 260 + dy, 60 + dx : 380 + dx]
        else:
            img = np.roll(hop, (dy, dx), axis=(0, 1))
        w.write(np.ascontiguousarray(img[:, :, ::-1]))
    w.release()
    return path


class _ZeroModel:
    """A model that costs nothing: measures decode + detect/track + align alone."""

    kind = "none"

    def __init__(self, info):
        self.info = info
        self.path = "-"

    def __call__(self, images, landmarks):
        return np.zeros((len(images), len(self.info.aus)), np.float32)


def video_fps(model, video: str, out_dir: str, name: str) -> dict:
    from keras_au.inference.predict import Predictor

    summary = Predictor(model, batch_size=32).run([video], os.path.join(out_dir, f"{name}.csv"), progress=False)
    return {"fps": summary.fps, "frames": summary.frames, "faces": summary.faces,
            "detector_runs": summary.detections, "seconds": summary.seconds}


class _RssSampler:
    """Resident memory of this process (and its ffmpeg child) sampled every 0.2 s in a thread."""

    def __init__(self):
        import threading

        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def rss_mb() -> float:
        total = 0.0
        me = os.getpid()
        for pid in [me] + _children(me):
            try:
                with open(f"/proc/{pid}/status") as f:
                    total += next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024
            except (OSError, StopIteration):
                pass
        return total

    def _run(self) -> None:
        clock = Timer().start()
        while not self._stop.wait(0.2):
            self.samples.append((clock.elapsed(), self.rss_mb()))

    def __enter__(self) -> "_RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def quarters(self) -> list[float]:
        """Peak RSS (MB) in each quarter of the run: flat when memory does not grow with the frames done."""
        if not self.samples:
            return []
        end = self.samples[-1][0]
        return [round(max([m for t, m in self.samples if q * end / 4 <= t <= (q + 1) * end / 4] or [0.0]), 1)
                for q in range(4)]


def _children(pid: int) -> list[int]:
    """The ffmpeg encoder processes under ``pid`` (not a child caught between fork and exec, which still shows
    the parent's pages)."""
    out = []
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            for c in f.read().split():
                with open(f"/proc/{c}/comm") as comm:
                    if comm.read().startswith("ffmpeg"):
                        out.append(int(c))
    except OSError:
        pass
    return out


def overlay_fps(model_dir: str, video: str, out_dir: str) -> dict:
    """``predict`` end to end on one video without and with ``--overlay`` (same model, same video, one run), and
    the process's resident memory over the overlay run (peak per quarter: flat = streamed)."""
    from itertools import islice

    from keras_au.inference.detector import Detector
    from keras_au.inference.media import frames

    det = Detector(model_dir, batch_size=32)
    det.predict(np.stack([f.image for f in islice(frames(video), 40) if f.image is not None]))  # warm-up
    with Timer() as without:
        plain = det.predict_csv([video], os.path.join(out_dir, "plain.csv"), progress=False)
    with _RssSampler() as rss, Timer() as with_overlay:
        det.predict_csv([video], os.path.join(out_dir, "overlay.csv"), progress=False,
                        overlay=os.path.join(out_dir, "overlay.mp4"))
    return {"frames": plain.frames, "fps_without_overlay": plain.frames / without.wall,
            "fps_with_overlay": plain.frames / with_overlay.wall, "overlay_bytes": os.path.getsize(
                os.path.join(out_dir, "overlay.mp4")), "rss_mb_peak_per_quarter": rss.quarters()}


def _print_overlay(row: dict) -> None:
    print(f"predict --overlay ({row['frames']} frames): {row['fps_without_overlay']:.1f} frames/s without, "
          f"{row['fps_with_overlay']:.1f} with the overlay; RSS peak per quarter of the run (MB): "
          f"{row['rss_mb_peak_per_quarter']}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="RTATL ci preset and short timings (smoke run)")
    ap.add_argument("--preset", help="RTATL preset for the benchmark model (default: paper, ci with --quick)")
    ap.add_argument("--video", help="video for the end-to-end run (default: a clip made from real faces)")
    ap.add_argument("--frames", type=int, default=250, help="frames of the generated clip (default 250)")
    ap.add_argument("--threads", type=int, default=2, help="TFLite interpreter threads (default 2)")
    ap.add_argument("--models-only", action="store_true",
                    help="only the model rows (SavedModel, TFLite): no video or overlay runs, e.g. to compare builds")
    ap.add_argument("--overlay-only", action="store_true",
                    help="only the predict with/without --overlay row (small stand-in model), e.g. on --video")
    args = ap.parse_args()
    if args.overlay_only:
        return _overlay_only(args)

    preset = args.preset or ("ci" if args.quick else "paper")
    min_s = 1.0 if args.quick else 4.0
    tmp = tempfile.mkdtemp(prefix="bench_serving_")
    try:
        return _run(args, preset, min_s, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _overlay_only(args) -> int:
    from serving.stand_in import write_stand_in_export

    tmp = tempfile.mkdtemp(prefix="bench_overlay_")
    machine = machine_info()
    try:
        video = args.video or make_clip(os.path.join(tmp, "clip.avi"), args.frames)
        row = overlay_fps(write_stand_in_export(os.path.join(tmp, "small")), video, tmp)
        row["source"] = args.video or f"generated: {args.frames} frames 320x240"
        _print_overlay(row)
        write_results(results_path("serving_overlay"), row, machine)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def _run(args, preset: str, min_s: float, tmp: str) -> int:
    from keras_au.inference.backends import SavedModelBackend, TFLiteBackend
    from keras_au.inference.savedmodel import export_serving
    from keras_au.inference.tflite import VARIANTS, FaceArrays, export_tflite
    from serving.faces import packaged_faces
    from serving.stand_in import write_stand_in_export

    machine, result = machine_info(), {}

    print("roofline: float32 matmul ...", flush=True)
    roof = matmul_roofline(1024 if args.quick else 2048)
    result["roofline"] = roof

    images, landmarks = packaged_faces(copies=8)
    faces = FaceArrays(images, landmarks)
    try:
        from serving.stand_in import write_untrained_rtatl_export

        print(f"building the RTATL {preset} model (untrained) ...", flush=True)
        export_dir = write_untrained_rtatl_export(os.path.join(tmp, "rtatl"), preset=preset)
        label = f"RTATL {preset} (untrained)"
    except ImportError:
        export_dir = write_stand_in_export(os.path.join(tmp, "stand_in_bench"))
        label = "stand-in (NOT a paper model: keras_au.models.rtatl unavailable)"
    small_dir = write_stand_in_export(os.path.join(tmp, "small"))
    macs = model_macs(export_dir)
    result["model"] = {"label": label, "macs_per_face": macs, "flops_per_face": None if macs is None else 2 * macs}

    print("SavedModel export + TFLite conversion ...", flush=True)
    version = export_serving(export_dir, os.path.join(tmp, "serving"), warmup=False)
    converted, failed = {}, {}
    for variant in VARIANTS:  # one at a time: a variant that does not convert is reported, the rest still run
        try:
            converted.update(export_tflite(version, os.path.join(tmp, "tflite"), [variant], faces,
                                           args.threads)["variants"])
        except ValueError as e:
            failed[variant] = str(e)
            print(f"  {variant}: {e}", flush=True)
    result["tflite_conversion_failed"] = failed

    rows = {}
    sm = SavedModelBackend(version)
    backends = {"saved_model_fp32": sm}
    backends.update({f"tflite_{v}": TFLiteBackend(converted[v]["path"], args.threads) for v in converted})
    for name, backend in backends.items():
        print(f"timing {name} ...", flush=True)
        # The matmul rate is re-measured around every row: on a shared machine the CPU share changes
        # between rows, and "% of roofline" must compare the two under the same conditions.
        before = matmul_roofline(roof["n"], 3)["tf_flops"]
        rows[name] = {}
        for b in (1, 32):
            rows[name][f"b{b}"], rows[name][f"b{b}_per_cpu_s"] = faces_per_s(backend, images, landmarks, b, min_s)
        rows[name]["matmul_flops_now"] = (before + matmul_roofline(roof["n"], 3)["tf_flops"]) / 2
        if name.startswith("tflite_"):
            v = converted[name[len("tflite_"):]]
            rows[name].update(bytes=v["bytes"], max_abs_diff=v["max_abs_diff"], agreement=v["agreement"])
    result["throughput_faces_per_s"] = rows
    flops = result["model"]["flops_per_face"]
    if flops:
        for name, r in rows.items():
            r["roofline_pct_b32"] = 100 * flops * r["b32"] / r["matmul_flops_now"]
            r["roofline_pct_b32_cpu_time"] = 100 * flops * r["b32_per_cpu_s"] / roof["tf_flops_per_cpu_s"]
    if "tflite_int8" in rows and "tflite_fp32" in rows:
        result["tflite_int8_vs_fp32"] = {b: rows["tflite_int8"][b] / rows["tflite_fp32"][b] for b in ("b1", "b32")}

    if args.models_only:
        _print_models(label, roof, macs, rows, result, failed)
        print(f"-> {write_results(RESULTS, result, machine)}")
        return 0
    video = args.video or make_clip(os.path.join(tmp, "clip.avi"), 60 if args.quick else args.frames)
    print(f"video end to end on {video} ...", flush=True)
    small_sm = SavedModelBackend(export_serving(small_dir, os.path.join(tmp, "serving_small"), warmup=False))
    result["video"] = {
        "source": args.video or f"generated: {args.frames} frames 320x240 of real faces (10% faceless)",
        "pipeline_only": video_fps(_ZeroModel(sm.info), video, tmp, "none"),
        "small_stand_in_saved_model": video_fps(small_sm, video, tmp, "small"),
        "bench_model_saved_model_fp32": video_fps(sm, video, tmp, "fp32"),
    }
    if "tflite_int8" in backends:
        result["video"]["bench_model_tflite_int8"] = video_fps(backends["tflite_int8"], video, tmp, "int8")
    print("predict with and without --overlay ...", flush=True)
    result["overlay"] = overlay_fps(small_dir, video, tmp)  # the small model: the overlay's own cost shows

    _print_models(label, roof, macs, rows, result, failed)
    for name, v in result["video"].items():
        if isinstance(v, dict):
            print(f"video {name:30s} {v['fps']:6.1f} frames/s ({v['faces']} faces / {v['frames']} frames, "
                  f"{v['detector_runs']} detector runs)")
    _print_overlay(result["overlay"])
    print(f"load average start/end: {machine['load_avg']} / {load_avg()}")
    print(f"-> {write_results(RESULTS, result, machine)}")
    return 0


def _print_models(label: str, roof: dict, macs, rows: dict, result: dict, failed: dict) -> None:
    print()
    print(f"Serving benchmark: {label}, {os.cpu_count()} CPU cores")
    print(f"roofline (tf.matmul fp32, n={roof['n']}): {roof['tf_flops'] / 1e9:.1f} GFLOP/s, "
          f"{roof['tf_flops_per_cpu_s'] / 1e9:.1f} GFLOP per CPU second (numpy {roof['numpy_flops'] / 1e9:.1f} GFLOP/s)")
    if macs:
        print(f"model: {macs / 1e9:.3f} GMACs = {2 * macs / 1e9:.3f} GFLOPs per face")
    print(f"{'backend':22s} {'faces/s b1':>11s} {'faces/s b32':>12s} {'matmul GF/s':>12s} {'% roof wall':>12s} "
          f"{'% roof CPU':>11s} {'max |dp|':>9s}")
    for name, r in rows.items():
        pct = f"{r['roofline_pct_b32']:11.1f}%" if "roofline_pct_b32" in r else f"{'-':>12s}"
        cpu = f"{r['roofline_pct_b32_cpu_time']:10.1f}%" if "roofline_pct_b32" in r else f"{'-':>11s}"
        diff = f"{r['max_abs_diff']:9.4f}" if "max_abs_diff" in r else f"{'-':>9s}"
        print(f"{name:22s} {r['b1']:11.1f} {r['b32']:12.1f} {r['matmul_flops_now'] / 1e9:12.1f} {pct} {cpu} {diff}")
    print("(% roof wall = model FLOPs x faces/s at batch 32 / the matmul FLOP/s measured around that row;\n"
          " % roof CPU = the same per CPU second of this process, robust to other jobs on the machine;\n"
          " int8 rows can exceed 100 %: the roofline is float32)")
    ratio = result.get("tflite_int8_vs_fp32")
    if ratio:
        print(f"TFLite int8 / fp32 faces/s: b1 {ratio['b1']:.2f}x, b32 {ratio['b32']:.2f}x (goal >= 2x)")
    for variant, error in failed.items():
        print(f"TFLite {variant}: NOT CONVERTED ({error[:300]})")


if __name__ == "__main__":
    sys.exit(main())
