"""``keras-au demo``'s ``REPORT.md`` and ``demo.json``: the fold table, the gate, the served (or refused) model,
TFLite parity and the predictions on a real video, each linked relative to the demo folder."""

from __future__ import annotations

import json
import os

PRESET_WORDS = {"demo": "CPU-sized: smaller input and widths, a few epochs", "ci": "tiny, for tests",
                "paper": "paper size"}


def _rel(path: str, out: str) -> str:
    return os.path.relpath(path, out)


def finish_report(out: str, info: dict) -> str:
    """``REPORT.md`` and ``demo.json`` (stage times, gate inputs, everything the report shows)."""
    path = write_report(out, info)
    with open(os.path.join(out, "demo.json"), "w") as f:
        json.dump(info, f, indent=2, default=str)
    return path


def write_report(out: str, info: dict) -> str:
    """``<out>/REPORT.md``: what ran, the fold table, the served model, TFLite parity, predictions."""
    from pipeline.components.fold_report import report_markdown

    summary = info["pipeline"]
    states = list(summary["executions"].values())
    lines = [
        "# keras-au demo",
        "",
        f"Model `{info['model']}`, preset `{info['preset']}` ({PRESET_WORDS.get(info['preset'], '')}; the "
        "paper-size model is the default for real data), trained and evaluated on the embedded sample "
        f"(held-out folds: {', '.join(map(str, info['held_out']))}): "
        "real faces with **synthetic** AUs "
        f"(see `{info['sample']}/README.txt`). F1 on synthetic motion says the machinery works, not how well "
        "the method detects real AUs.",
        "",
        "## Per-fold F1 (%)",
        "",
        report_markdown(info["fold_report"]),
        "Files: [fold_report.md](fold_report.md), [fold_report.json](fold_report.json).",
        "",
        "## Pipeline",
        "",
        f"TFX LocalDagRunner, run `{summary['run_id']}`: {states.count('COMPLETE')} components ran, "
        f"{states.count('CACHED')} came from the cache, {summary['seconds']:.0f} s. ML Metadata: "
        f"[pipeline/metadata.sqlite](pipeline/metadata.sqlite)"
        + (f"; full log: [{_rel(summary['log'], out)}]({_rel(summary['log'], out)})" if summary.get("log") else "")
        + ".",
        "",
        "| component | state |",
        "|---|---|",
        *[f"| {node} | {state} |" for node, state in reversed(list(summary["executions"].items()))],
        "",
        "## Served model",
        "",
        *_served_lines(out, info),
        "",
    ]
    if "tflite" in info:
        lines += _tflite_lines(out, info["tflite"])
    if "predict" in info:
        lines += _predict_lines(out, info["tflite"], info["predict"], info["served_fold"])
    lines += [
        "",
        "## Time per stage",
        "",
        "| stage | seconds |",
        "|---|---|",
        *[f"| {k} | {v:.0f} |" for k, v in info["stage_seconds"].items()],
        "",
    ]
    path = os.path.join(out, "REPORT.md")
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return path


def failed_bars(reason: str) -> str:
    """The gate's failing bars without its own "NOT blessed: " prefix (the demo's line already says so)."""
    return reason.removeprefix("NOT blessed: ")


def _served_lines(out: str, info: dict) -> list[str]:
    push, dest = info["push"], info.get("served_dir")
    link = f"[{_rel(dest, out)}]({_rel(dest, out)})" if dest else ""
    if push["pushed"]:
        return [f"Fold {push['fold']} model (best held-out macro F1) blessed and pushed as a TF Serving SavedModel: "
                f"{link} (signatures `serving_default`, `predict_landmarks`, `serve_bytes`)."]
    if info.get("not_blessed") and dest:
        return [f"**NOT BLESSED, nothing is served**: {failed_bars(push['reason'])}. The bars and their numbers are "
                "in the table above and in [demo.json](demo.json) (`gate`). For inspection only, the refused fold "
                f"{info['served_fold']} model was exported to {link}; TFLite and predictions below use it. "
                "Why a from-scratch model on the embedded sample lands near the F1 bar, so that some seeds are "
                "refused: docs/rtatl.md of keras-au, \"Whose faces refuse the gate\"."]
    if dest:
        return [f"This run's model was not pushed ({push['reason']}); the version served before stays: {link}. "
                "TFLite and predictions below use it."]
    return [f"**Nothing is served**: {push['reason']}. The bars and their numbers are in the table above and in "
            "[demo.json](demo.json) (`gate`); no TFLite conversion or predictions were made."]


def _tflite_lines(out: str, tflite: dict) -> list[str]:
    lines = ["## TFLite", "", "| variant | file | KB | max abs diff vs SavedModel | agreement at 0.5 |",
             "|---|---|---|---|---|"]
    if tflite.get("error"):
        lines.append(f"| - | conversion failed: {tflite['error'][:300].replace('|', '/')} | | | |")
    for name, e in tflite["variants"].items():
        diff = f"{e['max_abs_diff']:.4f}" if "max_abs_diff" in e else "-"
        agree = f"{e['agreement']:.3f}" if "agreement" in e else "-"
        lines.append(f"| {name} | [{_rel(e['path'], out)}]({_rel(e['path'], out)}) | {e['bytes'] / 1024:.0f} "
                     f"| {diff} | {agree} |")
    return lines


def _predict_lines(out: str, tflite: dict, pred: dict, fold: int) -> list[str]:
    return [
        "",
        f"Parity measured on {tflite['faces']} held-out faces of fold {fold}.",
        "",
        "## Predictions on a real video",
        "",
        f"`keras-au predict` with the served SavedModel on `{os.path.basename(pred['video'])}` (real, unlabeled): "
        f"{pred['faces']} faces in {pred['frames']} frames, {pred['fps']:.1f} frames/s. "
        f"CSV: [{_rel(pred['csv'], out)}]({_rel(pred['csv'], out)}).",
        "",
        f"![AU probabilities over time, raw (left) and person-calibrated (right)]({_rel(pred['plot'], out)})",
        "",
    ] + ([f"Results page (video, AU curves, click to seek; opens from disk): [{_rel(pred['html'], out)}]"
          f"({_rel(pred['html'], out)})", ""] if pred.get("html") else []) + _curve_lines(out, pred)


def _curve_lines(out: str, pred: dict) -> list[str]:
    if not pred.get("calibrated_csv"):
        return []
    cal = _rel(pred["calibrated_csv"], out)
    return [
        "Left: the model's probabilities; right: the same person-calibrated (each face track's median logit "
        "moved to the held-out people's median, OpenFace-style; "
        f"CSV: [{cal}]({cal})). Mean of each curve and how much it moves over the video (standard "
        "deviation of the probability; a flat curve is near 0):",
        "",
        "| AU | raw mean | raw sd | calibrated mean | calibrated sd |",
        "|---|---|---|---|---|",
        *[f"| {a} | {m.get('raw_mean', float('nan')):.3f} | {m['raw_sd']:.3f} | "
          f"{m.get('calibrated_mean', float('nan')):.3f} | {m['calibrated_sd']:.3f} |"
          for a, m in pred.get("curve_motion", {}).items()],
        "",
    ]
