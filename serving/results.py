"""A ``keras-au predict`` CSV read back and checked, and the per-AU numbers the results page shows.

Anything else (another tool's CSV, AU columns missing, a calibrated CSV of other rows, a video with another
frame count) is a ``ResultsError`` that names the file and what is wrong, raised before anything is written.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional

import numpy as np

from keras_au.inference.overlay import FRAME_REASONS
from keras_au.inference.columns import BASE_COLUMNS, EXTRA_COLUMNS

THRESHOLD = 0.5  # the CSV's AUxx_c threshold (keras_au.inference.signatures.THRESHOLD)


class ResultsError(ValueError):
    """An input the results page cannot use; the message names the file."""


@dataclass
class Results:
    path: str
    df: "object"  # pandas.DataFrame with the predict columns
    au_names: list[str]

    def source_rows(self, source: str):
        return self.df[self.df["source"] == source]


def read_results(path: str) -> Results:
    """The CSV as a DataFrame (reason "" where empty) with its AU names, or ``ResultsError``."""
    import pandas as pd

    if not os.path.isfile(path):
        raise ResultsError(f"{path}: no such file")
    try:
        df = pd.read_csv(path, keep_default_na=False, na_values={c: [""] for c in _numeric_guess(path)})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise ResultsError(f"{path}: not a CSV ({e})") from e
    missing = [c for c in (*BASE_COLUMNS, *EXTRA_COLUMNS) if c not in df.columns]
    if missing:
        raise ResultsError(f"{path}: not a keras-au predict CSV: missing columns {', '.join(missing)}")
    probs = [c[:-2] for c in df.columns if c.endswith("_p")]
    classes = [c[:-2] for c in df.columns if c.endswith("_c")]
    if not probs:
        raise ResultsError(f"{path}: no AU columns (AUxx_p probabilities)")
    unpaired = sorted(set(probs) ^ set(classes))
    if unpaired:
        cols = [f"{a}_c" if a in probs else f"{a}_p" for a in unpaired]
        raise ResultsError(f"{path}: AU columns incomplete: missing {', '.join(cols)}")
    try:
        for c in ("frame", "face_id", "success"):
            df[c] = df[c].astype("int64")
        for c in ("timestamp", *(f"{a}_p" for a in probs)):
            df[c] = pd.to_numeric(df[c], errors="raise").astype("float64")
    except (ValueError, TypeError) as e:
        raise ResultsError(f"{path}: a column holds something other than numbers ({e})") from e
    ok = df["success"] == 1
    p = df.loc[ok, [f"{a}_p" for a in probs]].to_numpy()
    if not np.all(np.isfinite(p)) or p.size and (p.min() < 0 or p.max() > 1):
        raise ResultsError(f"{path}: AU probabilities outside [0, 1] or empty where success = 1")
    df["reason"] = df["reason"].astype(str)
    df["source"] = df["source"].astype(str)
    return Results(path, df, probs)


def _numeric_guess(path: str) -> list[str]:
    """Columns that hold numbers (everything but source/reason): read with NaN for empty cells."""
    import csv

    with open(path, newline="") as f:
        header = next(csv.reader(f), [])
    return [c for c in header if c not in EXTRA_COLUMNS]


def check_calibrated(raw: Results, cal: Results) -> None:
    """The calibrated CSV must hold the raw CSV's rows (same sources, frames, faces) and AUs."""
    keys = ["source", "frame", "face_id", "success"]
    if cal.au_names != raw.au_names or len(cal.df) != len(raw.df) or not cal.df[keys].equals(raw.df[keys]):
        raise ResultsError(f"{cal.path}: not the person-calibrated rows of {raw.path} (other rows or AUs)")


def frame_rows(df) -> "object":
    """Rows that belong to a decoded frame (a face, ``no_face``, ``alignment_failed``), not unreadable ones."""
    return df[(df["success"] == 1) | df["reason"].isin(FRAME_REASONS)]


def csv_frames(df) -> int:
    """Frames of one video source in the CSV (last decoded frame + 1)."""
    frames = frame_rows(df)["frame"]
    return int(frames.max()) + 1 if len(frames) else 0


def count_frames(video: str) -> int:
    """Frames in a video, counted by decoding (containers' own counts can be off)."""
    import cv2

    cap = cv2.VideoCapture(video)
    if not cap.isOpened():
        raise ResultsError(f"{video}: cannot open the video")
    n = 0
    while cap.grab():  # exact; grab() skips the colour conversion (~2000 frames/s at 360p)
        n += 1
    cap.release()
    if n == 0:
        raise ResultsError(f"{video}: no decodable frame")
    return n


def check_frame_count(results: Results, source: str, video: str) -> int:
    """Same number of frames in ``video`` as the CSV has for ``source``, else ``ResultsError``."""
    expected = csv_frames(results.source_rows(source))
    found = count_frames(video)
    if found != expected:
        raise ResultsError(f"{video}: {found} frames, but {results.path} has {expected} frames for "
                           f"{os.path.basename(source)}: not the video these predictions came from")
    return found


def au_table(df, au_names: list[str], fps: float, threshold: float = THRESHOLD) -> list[dict]:
    """Per AU over one face's rows (``success = 1``): share of frames above threshold, mean probability, and the
    longest episode (consecutive frames above threshold; a frame without the face ends an episode)."""
    ok = df[df["success"] == 1].sort_values("frame")
    frames = ok["frame"].to_numpy()
    out = []
    for a in au_names:
        p = ok[f"{a}_p"].to_numpy()
        on = p >= threshold
        longest = run = 0
        for i in range(len(on)):
            run = run + 1 if on[i] and (i > 0 and on[i - 1] and frames[i] == frames[i - 1] + 1) else int(on[i])
            longest = max(longest, run)
        out.append({"au": a, "share_above": float(on.mean()) if len(on) else 0.0,
                    "mean": float(p.mean()) if len(p) else float("nan"), "longest_frames": int(longest),
                    "longest_s": longest / fps if fps else 0.0, "frames": int(len(on))})
    return out


def pick_video_source(results: Results, video: Optional[str]) -> str:
    """The CSV's video source the page shows: the one named like ``video``, else the only one."""
    from keras_au.inference.media import is_video

    sources = [s for s in results.df["source"].unique() if is_video(s)]
    if not sources:
        raise ResultsError(f"{results.path}: no video rows (sources are images): drop --video/--overlay for the "
                           "image grid")
    if video:
        named = [s for s in sources if os.path.basename(s) == os.path.basename(video)]
        if len(named) == 1:
            return named[0]
    if len(sources) > 1:
        raise ResultsError(f"{results.path}: rows of {len(sources)} videos ({', '.join(map(os.path.basename, sources))}"
                           f"); give --video with one of these names")
    return sources[0]
