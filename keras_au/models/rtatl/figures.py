"""RTATL figures as PNGs: per-AU F1 bars, flow predictions (Fig. 5), inpainting (Fig. 6), AU indicators (Fig. 7)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from keras_au.au import au_label


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def flow_to_rgb(flow: np.ndarray, max_magnitude: float | None = None) -> np.ndarray:
    """(H, W, 2) flow -> (H, W, 3) float RGB: hue = direction, value = magnitude (Middlebury-style)."""
    from matplotlib.colors import hsv_to_rgb

    fx, fy = flow[..., 0], flow[..., 1]
    mag = np.hypot(fx, fy)
    scale = max_magnitude if max_magnitude else max(float(mag.max()), 1e-6)
    hsv = np.stack([(np.arctan2(fy, fx) / (2 * np.pi)) % 1.0, np.ones_like(mag), np.clip(mag / scale, 0, 1)], -1)
    return hsv_to_rgb(hsv)


def plot_f1_bars(scores: dict, path: str, title: str = "") -> str:
    """Bar plot of per-AU F1 (``AUScores.as_dict()`` shape) with the mean as a line."""
    plt = _plt()
    names = list(scores["per_au"])
    f1 = [100 * scores["per_au"][n]["f1"] for n in names]
    fig, ax = plt.subplots(figsize=(max(4, 0.6 * len(names) + 1), 3))
    ax.bar(names, f1, color="#4477aa")
    ax.axhline(100 * scores["mean_f1"], color="#cc3311", ls="--", label=f"mean {100 * scores['mean_f1']:.1f}")
    ax.set_ylabel("F1 (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title)
    ax.legend(loc="upper right")
    ax.tick_params(axis="x", rotation=45)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_flow(images: np.ndarray, targets: np.ndarray, preds: np.ndarray, path: str) -> str:
    """Fig. 5: face, TV-L1 target and predicted flow for each row (same colour scale per row)."""
    plt = _plt()
    n = len(images)
    fig, axes = plt.subplots(n, 3, figsize=(6, 2 * n), squeeze=False)
    for i in range(n):
        scale = max(float(np.hypot(*np.moveaxis(targets[i], -1, 0)).max()), 1e-6)
        panels = [images[i] / 255.0, flow_to_rgb(targets[i], scale), flow_to_rgb(preds[i], scale)]
        for ax, img, title in zip(axes[i], panels, ("face", "TV-L1", "predicted")):
            ax.imshow(np.clip(img, 0, 1))
            ax.set_axis_off()
            if i == 0:
                ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def paste_patches(image: np.ndarray, patches: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Pastes (2, P, P, 3) patches (in image value range) centred on (2, 2) centres into a copy of ``image``."""
    out = image.copy()
    p = patches.shape[1]
    h, w = image.shape[:2]
    for patch, (cx, cy) in zip(patches, centers):
        x0, y0 = int(round(cx - (p - 1) / 2)), int(round(cy - (p - 1) / 2))
        xs, ys = slice(max(x0, 0), min(x0 + p, w)), slice(max(y0, 0), min(y0 + p, h))
        out[ys, xs] = patch[ys.start - y0 : ys.stop - y0, xs.start - x0 : xs.stop - x0]
    return out


def plot_inpainting(originals: np.ndarray, blanked: np.ndarray, inpainted: np.ndarray, captions: Sequence[str],
                    path: str) -> str:
    """Fig. 6: original, blanked and inpainted face per row (RGB in [0, 1])."""
    plt = _plt()
    n = len(originals)
    fig, axes = plt.subplots(n, 3, figsize=(6, 2 * n), squeeze=False)
    for i in range(n):
        for ax, img, title in zip(axes[i], (originals[i], blanked[i], inpainted[i]), ("original", "blanked", "G(x)")):
            ax.imshow(np.clip(img, 0, 1))
            ax.set_axis_off()
            if i == 0:
                ax.set_title(title)
        axes[i][0].set_ylabel(captions[i])
        axes[i][1].text(2, 10, captions[i], color="yellow", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def cosine_similarity(vectors: np.ndarray) -> np.ndarray:
    v = np.asarray(vectors, np.float64)
    v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    return v @ v.T


def plot_indicator_similarity(indicators: np.ndarray, aus: Sequence[int], path: str) -> str:
    """Fig. 7: cosine-similarity matrix of the learned AU indicators."""
    plt = _plt()
    sim = cosine_similarity(indicators)
    names = [au_label(a) for a in aus]
    fig, ax = plt.subplots(figsize=(0.45 * len(names) + 2, 0.45 * len(names) + 1.5))
    im = ax.imshow(sim, cmap="viridis", vmin=-1, vmax=1)
    ax.set_xticks(range(len(names)), names, rotation=90)
    ax.set_yticks(range(len(names)), names)
    ax.set_title("AU indicator cosine similarity")
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
