"""``keras-au predict --plot``: AU probabilities over time (videos) or per image (bar charts), from the CSV."""

from __future__ import annotations

import csv
from collections import defaultdict

import numpy as np

from keras_au.inference.media import is_video

MAX_PANELS = 8  # sources shown; the CSV has them all


def _read(csv_path: str) -> tuple[list[str], dict[str, list[dict]]]:
    with open(csv_path, newline="") as f:
        reader = csv.DictReader(f)
        aus = [c[:-2] for c in reader.fieldnames or [] if c.endswith("_p")]
        by_source: dict[str, list[dict]] = defaultdict(list)
        for row in reader:
            by_source[row["source"]].append(row)
    return aus, by_source


def plot_predictions(csv_path: str, out_png: str, calibrated_csv: str | None = None) -> str:
    """One panel per source (first ``MAX_PANELS``): lines of probability vs time for a video (gaps where
    no face), grouped bars per face for an image; the 0.5 threshold is dashed. With ``calibrated_csv`` (the same
    rows person-calibrated, ``keras_au.person_calibration.calibrate_dataframe``) a second column shows those
    beside the raw ones: a person's resting offset removed, the curves show what the face does."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    aus, by_source = _read(csv_path)
    columns = [("", by_source)]
    if calibrated_csv:
        columns.append((" (person-calibrated)", _read(calibrated_csv)[1]))
    sources = list(by_source)[:MAX_PANELS]
    n = max(1, len(sources))
    fig, axes = plt.subplots(n, len(columns), figsize=(10 * len(columns), 3.2 * n), squeeze=False)
    for col, (suffix, data) in enumerate(columns):
        for ax, source in zip(axes[:, col], sources):
            _panel(ax, plt, aus, source, data.get(source, []), suffix)
    if not sources:
        axes[0, 0].text(0.5, 0.5, "no rows", ha="center", va="center")
    fig.tight_layout()
    fig.savefig(out_png, dpi=100)
    plt.close(fig)
    return out_png


def _panel(ax, plt, aus: list[str], source: str, rows: list[dict], suffix: str) -> None:
    colours = plt.get_cmap("tab20")(np.linspace(0, 1, max(len(aus), 2)))
    name = source.rsplit("/", 1)[-1]
    if is_video(source):
        # largest face only per frame keeps one line per AU; failures become gaps
        first = {}
        for r in rows:
            first.setdefault(r["frame"], r)
        t = np.array([float(r["timestamp"]) for r in first.values()])
        for i, au in enumerate(aus):
            p = np.array([float(r[f"{au}_p"]) if r["success"] == "1" else np.nan for r in first.values()])
            ax.plot(t, p, color=colours[i], lw=1.2, label=au)
        ax.set_xlabel("time (s)")
        ax.set_title(f"{name}: AU probability over time{suffix} ({sum(r['success'] == '1' for r in rows)} faces)")
    else:
        faces = [r for r in rows if r["success"] == "1"]
        if not faces:
            ax.text(0.5, 0.5, f"no face ({rows[0]['reason'] if rows else 'no rows'})", ha="center", va="center", transform=ax.transAxes)
        width = 0.8 / max(1, len(faces))
        x = np.arange(len(aus))
        for k, r in enumerate(faces):
            ax.bar(x + k * width, [float(r[f"{a}_p"]) for a in aus], width, label=f"face {r['face_id']}")
        ax.set_xticks(x + 0.4 - width / 2, aus, rotation=45)
        ax.set_title(f"{name}: AU probabilities{suffix}")
    ax.axhline(0.5, color="grey", ls="--", lw=0.8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("probability")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, ncol=min(len(aus), 6) if is_video(source) else 1, loc="upper right")
