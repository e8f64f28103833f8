"""Predictions over a record set: AU probabilities on both test paths and landmarks, plus the report pieces."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import tensorflow as tf

from keras_au.au import au_labels
from keras_au.metrics import AUScores
from keras_au.models.wild import data as wild_data
from keras_au.models.wild.landmarks49 import INDEX_68, LEFT_EYE, RIGHT_EYE, au_centre_targets


@dataclass
class Predictions:
    labels: np.ndarray  # (N, A), -1 unknown
    probs_source_path: np.ndarray  # (N, A) E_f -> F_au
    probs_target_path: np.ndarray  # (N, A) E_f -> (E_l, G_b) -> G_st -> F_au
    landmarks: np.ndarray  # (N, 49, 2) ground truth in crop units
    has_landmarks: np.ndarray  # (N,)
    branch: Optional[np.ndarray]  # (N, 49, 2) landmark branch
    heatmap: np.ndarray  # (N, 49, 2) E_l soft-argmax


def make_predict_step(network):
    """One traced function (any batch size) giving both AU paths and both landmark estimates."""

    @tf.function(input_signature=[tf.TensorSpec((None, network.crop_size, network.crop_size, 3), tf.float32)])
    def step(images):
        branch, heat = network.predict_landmarks(images)
        out = {"src": network.predict_source(images), "tgt": network.predict_target(images), "heat": heat}
        if branch is not None:
            out["branch"] = branch
        return out

    return step


def predict_records(
    network, files: Sequence[str], batch_size: int = 32, progress: bool = True, step=None,
    subjects: Optional[Sequence[str]] = None, select: str = "all",
) -> Predictions:
    """Centre-crop predictions of every record in ``files`` (of ``subjects``/``select`` when given; labels
    re-ordered to the network's AUs)."""
    from tqdm import tqdm

    positions = wild_data.au_positions(wild_data.record_au_ids(files), network.aus)
    ds = wild_data.domain_stream(files, positions, batch_size, network.crop_size, training=False,
                                 subjects=subjects, select=select)
    step = step or make_predict_step(network)
    parts: dict[str, list] = {}
    for batch in tqdm(ds, desc="predicting", unit="batch", disable=not progress):
        out = {k: v.numpy() for k, v in step(batch["image"]).items()}
        out["labels"] = batch["au_labels"].numpy()
        out["lm"] = batch["landmarks"].numpy()[:, INDEX_68] / network.crop_size
        out["has_lm"] = batch["has_landmarks"].numpy()
        for k, v in out.items():
            parts.setdefault(k, []).append(v)
    cat = {k: np.concatenate(v) for k, v in parts.items()}
    if not cat:
        raise ValueError(f"no records in {list(files)[:3]}...")
    return Predictions(cat["labels"], cat["src"], cat["tgt"], cat["lm"], cat["has_lm"], cat.get("branch"), cat["heat"])


def make_au_step(network, path: str):
    """One traced function giving only the AU probabilities of one test path ("source" or "target")."""
    fn = network.predict_target if path == "target" else network.predict_source

    @tf.function(input_signature=[tf.TensorSpec((None, network.crop_size, network.crop_size, 3), tf.float32)])
    def step(images):
        return fn(images)

    return step


def split_stream(network, files: Sequence[str], subjects: Optional[Sequence[str]] = None, select: str = "all",
                 batch_size: int = 32):
    """Centre-crop batches of a split in the network's AU order (re-iterable: build once, score every epoch)."""
    positions = wild_data.au_positions(wild_data.record_au_ids(files), network.aus)
    return wild_data.domain_stream(files, positions, batch_size, network.crop_size, training=False,
                                   subjects=subjects, select=select)


def predict_au(network, files: Sequence[str], path: str, step=None, subjects: Optional[Sequence[str]] = None,
               select: str = "all", batch_size: int = 32, dataset=None) -> tuple[np.ndarray, np.ndarray]:
    """(labels (N, A), probabilities (N, A)) of one path over a split: the per-epoch validation pass.
    ``dataset``: a ``split_stream`` of the same split, reused instead of building one."""
    ds = dataset if dataset is not None else split_stream(network, files, subjects, select, batch_size)
    step = step or make_au_step(network, path)
    labels, probs = [], []
    for batch in ds:
        probs.append(step(batch["image"]).numpy())
        labels.append(batch["au_labels"].numpy())
    if not labels:
        raise ValueError(f"no records in the split ({len(files)} files, subjects {list(subjects or [])[:3]}...)")
    return np.concatenate(labels), np.concatenate(probs)


def normalised_mean_error(pred: np.ndarray, target: np.ndarray, mask: np.ndarray) -> tuple[Optional[float], int]:
    """Mean over faces with landmarks of mean_i ||y_i - yhat_i|| / d (d: eye-centre distance). (NME, faces)."""
    ok = np.asarray(mask) > 0
    d = np.linalg.norm(target[:, LEFT_EYE].mean(1) - target[:, RIGHT_EYE].mean(1), axis=-1)
    ok &= d > 1e-6
    if not ok.any():
        return None, 0
    err = np.linalg.norm(pred[ok] - target[ok], axis=-1).mean(-1) / d[ok]
    return float(err.mean()), int(ok.sum())


def landmark_report(p: Predictions, au_centre: bool = False) -> dict:
    """NME of the landmark branch and of E_l's soft-argmax against the records' (dlib) landmarks; with
    ``au_centre`` E_l is scored against the AU-centre targets it was trained on (the branch against dlib's)."""
    branch, n = normalised_mean_error(p.branch, p.landmarks, p.has_landmarks) if p.branch is not None else (None, 0)
    el_target = np.asarray(au_centre_targets(p.landmarks)) if au_centre and len(p.landmarks) else p.landmarks
    heat, n_heat = normalised_mean_error(p.heatmap, el_target, p.has_landmarks)
    return {"landmark_branch_nme": branch, "e_l_nme": heat, "faces": max(n, n_heat),
            "skipped_no_landmarks": int(np.sum(p.has_landmarks <= 0))}


def format_table(columns: dict[str, AUScores], aus: Sequence[int]) -> str:
    """Per-AU F1/accuracy table (percent) with one F1 and one accuracy column per scored domain."""
    names = list(columns)
    head = "AU    " + "".join(f"{n + ' F1':>16s}{n + ' acc':>16s}" for n in names)
    lines = [head, "-" * len(head)]
    for i, label in enumerate(au_labels(aus)):
        lines.append(f"{label:6s}" + "".join(f"{100 * s.f1[i]:16.1f}{100 * s.accuracy[i]:16.1f}"
                                            for s in columns.values()))
    lines.append("mean  " + "".join(f"{100 * s.mean_f1:16.1f}{100 * s.mean_accuracy:16.1f}" for s in columns.values()))
    return "\n".join(lines)


def bar_plot(columns: dict[str, AUScores], aus: Sequence[int], path: str) -> str:
    """Grouped per-AU F1 bars, one colour per domain."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = au_labels(aus) + ["mean"]
    x = np.arange(len(labels))
    width = 0.8 / max(len(columns), 1)
    fig, ax = plt.subplots(figsize=(1.0 + 0.8 * len(labels), 3.5))
    for j, (name, s) in enumerate(columns.items()):
        ax.bar(x + (j - (len(columns) - 1) / 2) * width, 100 * np.append(s.f1, s.mean_f1), width, label=name)
    ax.set_xticks(x, labels)
    ax.set_ylabel("F1 (%)")
    ax.set_ylim(0, 100)
    ax.legend()
    ax.set_title("In-the-wild AU detection: F1 per AU")
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
