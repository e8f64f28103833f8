"""A study's tables from its cells' scores: ``study.json``, ``study.md`` (paper Table 1 layout), ``study.png``,
``fig4.png``.

Averaging follows the paper, which reports the mean over the 3 test folds: per seed, each number is
averaged over the folds (per-AU F1 over the folds where the AU has known labels), then the table gives
mean ± sample sd (ddof = 1) over seeds. A seed counts only when every fold of it finished, so a failed
cell never biases a row towards the folds that happened to run. Everything here except
``write_report``/``plot_fig4`` is a pure function of the records.
"""

from __future__ import annotations

import math
import os
import textwrap
from typing import Iterable, Optional

import numpy as np

from keras_au.experiments.cell import FAILED, LOG, RESULT
from keras_au.jsonio import read_json, write_json

NONE = "—"


def collect(cells: Iterable, paths: dict) -> list[dict]:
    """One record per cell: identity, status and (when finished) its scores or (when failed) its error."""
    out = []
    for c in cells:
        path = paths[c.id]
        rec = {"id": c.id, "variant": c.variant.name, "model": c.variant.model, "fold": c.fold, "seed": c.seed,
               "labeled_subjects": c.labeled_subjects, "dir": path, "status": "pending"}
        result, failed = read_json(os.path.join(path, RESULT)), read_json(os.path.join(path, FAILED))
        if result is not None:
            rec.update(status="done", scores=result["scores"], seconds=result.get("seconds"))
        elif failed is not None:
            rec.update(status="failed", error=failed.get("error"), log=failed.get("log", os.path.join(path, LOG)))
        out.append(rec)
    return out


def _stat(values: Iterable[Optional[float]]) -> dict:
    v = [float(x) for x in values if x is not None and not math.isnan(x)]
    if not v:
        return {"mean": None, "sd": None, "n": 0}
    return {"mean": float(np.mean(v)), "sd": float(np.std(v, ddof=1)) if len(v) > 1 else None, "n": len(v)}


def _mean(values: Iterable[Optional[float]]) -> Optional[float]:
    return _stat(values)["mean"]


def _au_f1(scores: dict, au: str) -> Optional[float]:
    s = scores["per_au"].get(au)
    return s["f1"] if s and s.get("support", 1) > 0 else None  # an unlabeled AU is not a 0 F1


def _within_person_auc(scores: dict) -> Optional[float]:
    """Mean over AUs of the per-person AUC (``evaluate`` with person ids): ranking within each held-out
    person, free of the per-person offsets that hold the pooled AUC down with few training people."""
    return (scores.get("person_calibrated") or {}).get("mean_within_person_auc")


def _paper(v, domain: Optional[str]) -> Optional[float]:
    paper = v.paper.get(domain) if isinstance(v.paper, dict) else v.paper
    return None if paper is None else paper / 100.0


def in_domain(records: list[dict], domain: str) -> list[dict]:
    """Records whose scores are those of one domain (``scores[domain]``, e.g. the wild model's source); a cell
    without that domain's scores counts as not finished for its table."""
    out = []
    for r in records:
        sub = (r.get("scores") or {}).get(domain) if r["status"] == "done" else None
        out.append(dict(r, scores=sub) if sub else dict(r, status="pending" if r["status"] == "done" else r["status"]))
    return out


def aggregate(records: list[dict], variants: list, folds: list[int], seeds: list[int],
              domain: Optional[str] = None) -> dict:
    """Rows (variant × N) with per-AU F1, mean F1, mean accuracy and mean AUC as {mean, sd, n}, the all-positive
    row, and the Fig. 4 series. Values are fractions; ``variants`` carry name, label and paper (% mean F1).
    ``domain``: score ``scores[domain]`` of every cell (the records must be filtered with ``in_domain``)."""
    done = [r for r in records if r["status"] == "done"]
    aus = list(dict.fromkeys(au for r in done for au in r["scores"]["per_au"]))
    rows = []
    for v in variants:
        for n in sorted({r["labeled_subjects"] for r in records if r["variant"] == v.name}, key=lambda x: x or 0):
            mine = [r for r in records if r["variant"] == v.name and r["labeled_subjects"] == n]
            per_seed = {}
            for s in seeds:
                got = [r["scores"] for r in mine if r["status"] == "done" and r["seed"] == s and r["fold"] in folds]
                if len(got) == len(folds):
                    per_seed[s] = got
            rows.append({
                "variant": v.name, "label": v.label, "labeled_subjects": n,
                "paper_mean_f1": _paper(v, domain),
                "seeds": sorted(per_seed), "unfinished": [r["id"] for r in mine if r["status"] != "done"],
                "mean_f1": _stat(_mean(x["mean_f1"] for x in got) for got in per_seed.values()),
                "mean_auc": _stat(_mean(x.get("mean_auc") for x in got) for got in per_seed.values()),
                "per_seed": {s: {"mean_f1": _mean(x["mean_f1"] for x in got),
                                 "mean_auc": _mean(x.get("mean_auc") for x in got)} for s, got in per_seed.items()},
                "mean_accuracy": _stat(_mean(x.get("mean_accuracy") for x in got) for got in per_seed.values()),
                "within_person_auc": _stat(_mean(_within_person_auc(x) for x in got) for got in per_seed.values()),
                "per_au": {au: _stat(_mean(_au_f1(x, au) for x in got) for got in per_seed.values()) for au in aus},
            })
    _add_paired_deltas(rows)
    # The all-positive predictor depends only on the test fold's labels: one value per fold.
    base = {}
    for r in done:
        base.setdefault(r["fold"], r["scores"]["baseline"])
    baseline = {"label": "all-positive", "folds": sorted(base),
                "mean_f1": _stat([_mean(b["mean_f1"] for b in base.values())] if base else []),
                "mean_auc": _stat([0.5] if base else []),  # a constant score ranks nothing: AUC 0.5
                "per_au": {au: _stat([_mean(b["f1"].get(au) for b in base.values())] if base else []) for au in aus}}
    fig4 = {}
    for row in rows:
        if row["labeled_subjects"] is not None and row["mean_f1"]["mean"] is not None:
            series = fig4.setdefault(row["variant"], {"label": row["label"], "n": [], "mean": [], "sd": []})
            series["n"].append(row["labeled_subjects"])
            series["mean"].append(row["mean_f1"]["mean"])
            series["sd"].append(row["mean_f1"]["sd"])
    counts = {s: sum(r["status"] == s for r in records) for s in ("done", "failed", "pending")}
    return {"aus": aus, "rows": rows, "baseline": baseline, "fig4": fig4, "counts": counts}


def _add_paired_deltas(rows: list[dict]) -> None:
    """Each row's difference to the grid's first row at the same N (the reference, e.g. Backbone^T or BL),
    paired by seed: seeds share data order and initialisation draws, so the per-seed difference has far less
    spread than either row. ``delta`` = {ref, seeds, mean_f1: {mean, sd, n}, mean_auc: {...}}; None for the
    reference row itself."""
    refs = {}
    for row in rows:
        refs.setdefault(row["labeled_subjects"], row)
    for row in rows:
        ref = refs[row["labeled_subjects"]]
        if ref is row:
            row["delta"] = None
            continue
        shared = sorted(set(row["per_seed"]) & set(ref["per_seed"]))
        diff = lambda k: [row["per_seed"][s][k] - ref["per_seed"][s][k] for s in shared  # noqa: E731
                          if row["per_seed"][s][k] is not None and ref["per_seed"][s][k] is not None]
        row["delta"] = {"ref": ref["label"], "seeds": shared, "mean_f1": _stat(diff("mean_f1")),
                        "mean_auc": _stat(diff("mean_auc"))}


def fmt_delta(stat: Optional[dict]) -> str:
    """A paired difference in points, signed: '-4.9 ± 1.2'; '—' when no seed is shared."""
    if not stat or stat.get("mean") is None:
        return NONE
    sd = "" if stat.get("sd") is None else f" ± {100 * stat['sd']:.1f}"
    return f"{100 * stat['mean']:+.1f}{sd}"


def fmt(stat: dict) -> str:
    """{mean, sd} as '62.3 ± 1.2' in %; the mean alone when there is no spread (one seed or fold)."""
    if stat.get("mean") is None:
        return NONE
    if stat.get("sd") is None:
        return f"{100 * stat['mean']:.1f}"
    return f"{100 * stat['mean']:.1f} ± {100 * stat['sd']:.1f}"


def _row_label(row: dict) -> str:
    n = row.get("labeled_subjects")
    return row["label"] if n is None else f"{row['label']} (N={n})"


def _table(summary: dict, accuracy: bool) -> list[str]:
    """Per-AU F1, mean F1 [, mean accuracy], paper, AUC, paired ΔF1/ΔAUC vs the first row, seeds."""
    aus, base = summary["aus"], summary["baseline"]
    ref = next((r["delta"]["ref"] for r in summary["rows"] if r.get("delta")), None)  # None: a one-row grid
    acc = (lambda r: f" | {fmt(r['mean_accuracy'])}") if accuracy else (lambda r: "")  # noqa: E731
    within = any((r.get("within_person_auc") or {}).get("mean") is not None for r in summary["rows"])
    lines = ["| method | " + " | ".join(aus) + " | mean F1" + (" | acc" if accuracy else "") + " | paper | AUC"
             + (" | AUC within person" if within else "")
             + (f" | ΔF1 vs {ref} | ΔAUC vs {ref}" if ref else "") + " | seeds |",
             "|---|" + "---:|" * (len(aus) + 4 + accuracy + within + 2 * bool(ref))]
    for row in summary["rows"]:
        paper = NONE if row["paper_mean_f1"] is None else f"{100 * row['paper_mean_f1']:.1f}"
        mean = fmt(row["mean_f1"]) if row["mean_f1"]["mean"] is None else f"**{fmt(row['mean_f1'])}**"
        delta = row.get("delta") or {}
        deltas = f" | {fmt_delta(delta.get('mean_f1'))} | {fmt_delta(delta.get('mean_auc'))}" if ref else ""
        wp = f" | {fmt(row['within_person_auc'])}" if within else ""
        lines.append(f"| {_row_label(row)} | " + " | ".join(fmt(row["per_au"].get(au, {})) for au in aus)
                     + f" | {mean}{acc(row)} | {paper} | {fmt(row['mean_auc'])}{wp}{deltas} | {len(row['seeds'])} |")
    lines.append(f"| {base['label']} | " + " | ".join(fmt(base["per_au"].get(au, {})) for au in aus)
                 + f" | {fmt(base['mean_f1'])}" + (f" | {NONE}" if accuracy else "")
                 + f" | {NONE} | {fmt(base['mean_auc'])}" + f" | {NONE}" * (within + 2 * bool(ref)) + f" | {NONE} |")
    return lines


def domain_table(summary: dict, domain: str) -> list[str]:
    """A domain's section (wild Tables 1/2): the table with mean accuracy."""
    return [f"## {domain.capitalize()} domain", "", *_table(summary, accuracy=True), ""]


def markdown(summary: dict, settings: dict, title: str, description: str = "", records: list[dict] = (),
             domains: Optional[dict] = None) -> str:
    """``domains`` ({name: summary}, wild): one table per domain instead of the single Table 1 layout."""
    c = summary["counts"]
    lines = [f"# Study `{title}`", ""]
    if description:
        lines += [description, ""]
    lines += [
        f"Data `{settings.get('data')}`" + (f", unlabeled `{settings['unlabeled']}`" if settings.get("unlabeled") else "")
        + f"; folds {settings.get('folds')}, seeds {settings.get('seeds')}, preset `{settings.get('preset')}`"
        + "".join(f", {k} {settings[k]}" for k in ("epochs", "steps_per_epoch", "batch_size") if settings.get(k))
        + (f", --set {settings['overrides']}" if settings.get("overrides") else "") + ".",
        f"Cells: {c['done']} done, {c['failed']} failed, {c['pending']} not run.", "",
        "F1 (%) at threshold 0.5 on each test fold, averaged over the folds for each seed; mean ± sd over the "
        "seeds whose folds all finished (`seeds` column). `paper`: the paper's mean F1"
        + (" (its tables for that domain)" if domains else " (BP4D, 3 folds)") + ". "
        "`AUC`: mean per-AU ROC AUC (%). `all-positive`: predicting every AU present, the floor to clear. "
        "`ΔF1`/`ΔAUC`: points above the first row at the same N, paired by seed (mean ± sd of the per-seed "
        "differences over the seeds both finished). `AUC within person` (when the records name people): mean "
        "over AUs of each held-out person's own AUC, i.e. the ranking without the per-person offsets."
        + (" `acc`: mean per-AU accuracy (%)." if domains else ""), "",
    ]
    if domains:
        for name, dom_summary in domains.items():
            lines += domain_table(dom_summary, name)
    else:
        lines += _table(summary, accuracy=False)
    if _plottable(domains or {"": summary}):
        lines += ["", "![mean F1 and AUC per method, sd over seeds](study.png)"]
    if summary["fig4"]:
        ns = sorted({n for s in summary["fig4"].values() for n in s["n"]})
        lines += ["", "## Label efficiency (Fig. 4): mean F1 (%) vs labeled training subjects", "",
                  "| method | " + " | ".join(f"N={n}" for n in ns) + " |", "|---|" + "---:|" * len(ns)]
        for s in summary["fig4"].values():
            by_n = {n: {"mean": m, "sd": sd} for n, m, sd in zip(s["n"], s["mean"], s["sd"])}
            lines.append(f"| {s['label']} | " + " | ".join(fmt(by_n.get(n, {})) for n in ns) + " |")
        lines += ["", "![Fig. 4](fig4.png)"]
    bad = [r for r in records if r["status"] != "done"]
    if bad:
        lines += ["", "## Unfinished cells", "", "| cell | status | error | log |", "|---|---|---|---|"]
        for r in bad:
            error = (r.get("error") or "").replace("|", "\\|")
            lines.append(f"| {r['id']} | {r['status']} | {error} | {r.get('log') or ''} |")
    return "\n".join(lines) + "\n"


def plot_fig4(summary: dict, path: str) -> str:
    """Mean F1 vs number of labeled subjects per method, sd error bars, the all-positive level dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for s in summary["fig4"].values():
        sd = [100 * (x or 0.0) for x in s["sd"]]
        ax.errorbar(s["n"], [100 * m for m in s["mean"]], yerr=sd, marker="o", capsize=3, label=s["label"])
    base = summary["baseline"]["mean_f1"]["mean"]
    if base is not None:
        ax.axhline(100 * base, color="grey", linestyle="--", label="all-positive")
    ax.set_xticks(sorted({n for s in summary["fig4"].values() for n in s["n"]}))  # the N that ran, no 2.25
    ax.set_xlabel("labeled training subjects")
    ax.set_ylabel("mean F1 (%)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _plottable(summaries: dict) -> bool:
    return any(r["labeled_subjects"] is None and r["mean_f1"]["mean"] is not None
               for sm in summaries.values() for r in sm["rows"])


def plot_rows(summaries: dict, path: str) -> str:
    """Per domain ({name: summary}; one unnamed for RTATL): mean F1 and mean AUC per method as bars with sd
    error bars over seeds, the all-positive F1 and the chance AUC (50 %) dashed, seeds under each bar."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n_rows = len(summaries)
    width = max(6.0, 1.0 + 0.7 * max(len(sm["rows"]) for sm in summaries.values()))
    fig, axes = plt.subplots(n_rows, 2, figsize=(2 * width, 3.6 * n_rows), squeeze=False)
    for (name, sm), (ax_f1, ax_auc) in zip(summaries.items(), axes):
        rows = [r for r in sm["rows"] if r["labeled_subjects"] is None]
        x = np.arange(len(rows))
        for ax, key, floor, floor_label in ((ax_f1, "mean_f1", sm["baseline"]["mean_f1"]["mean"], "all-positive"),
                                            (ax_auc, "mean_auc", 0.5, "chance")):
            mean = [100 * (r[key]["mean"] or 0.0) for r in rows]
            sd = [100 * (r[key]["sd"] or 0.0) for r in rows]
            ax.bar(x, mean, color="tab:blue", alpha=0.8)
            spread = [i for i, r in enumerate(rows) if r[key]["sd"] is not None]  # one seed: no bar to draw
            ax.errorbar(x[spread], [mean[i] for i in spread], yerr=[sd[i] for i in spread], fmt="none",
                        ecolor="black", capsize=3)
            for i, r in enumerate(rows):
                if r[key]["mean"] is not None:
                    ax.annotate(f"n={len(r['seeds'])}", (i, mean[i] + sd[i]), xytext=(0, 2),
                                textcoords="offset points", ha="center", fontsize=7)
            if floor is not None:
                ax.axhline(100 * floor, color="grey", linestyle="--", label=floor_label)
            finite = [m - e for m, e in zip(mean, sd) if m] + ([100 * floor] if floor is not None else [])
            ax.set_ylim(max(0.0, min(finite, default=0.0) - 10), None)
            ax.set_xticks(x, [textwrap.fill(r["label"], 18) for r in rows], rotation=30, ha="right", fontsize=8)
            ax.set_ylabel(("mean F1 (%)" if key == "mean_f1" else "mean AUC (%)")
                          + (f", {name}" if name else ""))
            ax.grid(axis="y", alpha=0.3)
            ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _cell_summary(r: dict) -> dict:
    out = {k: v for k, v in r.items() if k != "scores"}
    if "scores" in r:
        s = r["scores"]
        out.update(mean_f1=s["mean_f1"], mean_auc=s.get("mean_auc"),
                   per_au_f1={au: _au_f1(s, au) for au in s["per_au"]})
    return out


def write_report(out: str, grid, records: list[dict], settings: dict) -> dict:
    """Writes ``study.json``, ``study.md``, ``study.png`` (finished rows) and (with labeled-subject cells)
    ``fig4.png`` under ``out``."""
    domains = None
    if getattr(grid, "domains", None):  # wild: a table per domain; the first one is the study's headline
        domains = {d: aggregate(in_domain(records, d), grid.variants, settings["folds"], settings["seeds"], d)
                   for d in grid.domains}
        counts = {s: sum(r["status"] == s for r in records) for s in ("done", "failed", "pending")}
        summary = dict(domains[grid.domains[0]], counts=counts)
    else:
        summary = aggregate(records, grid.variants, settings["folds"], settings["seeds"])
    files = {"json": os.path.join(out, "study.json"), "markdown": os.path.join(out, "study.md")}
    if summary["fig4"]:
        files["fig4"] = plot_fig4(summary, os.path.join(out, "fig4.png"))
    if _plottable(domains or {"": summary}):
        files["figure"] = plot_rows(domains or {"": summary}, os.path.join(out, "study.png"))
    write_json(files["json"], {"grid": grid.name, "settings": settings, **summary,
                               **({"domains": domains} if domains else {}),
                               "cells": [_cell_summary(r) for r in records]})
    with open(files["markdown"], "w") as f:
        f.write(markdown(summary, settings, grid.name, grid.description, records, domains))
    return files
