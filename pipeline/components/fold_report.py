"""FoldReport: the 3-fold table (per-AU F1 per fold and their mean), the served model beside it, the blessing.

The ModelBlessing has TFX's shape (``blessed``, ``current_model_id``/``current_model`` = the best fold's Model
artifact, when the fold models are inputs), so TFX's ``LatestBlessedModelStrategy`` resolves it for warm start.

The papers report the mean over the three folds of the per-AU F1 and its average over AUs; the
pipeline does the same: ``mean_f1`` = mean over folds of each fold's macro F1 (equal AU sets, so
this equals the macro average of the per-AU fold means). The blessing is ``pipeline.gate``'s verdict
(absolute bar, gain over the all-positive predictor, per-fold AUC, not worse than the served model);
it names the best fold, whose model the Pusher deploys (each fold's model saw two thirds of the
subjects; the best held-out score picks one), and every failed bar with its numbers.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any, Mapping, Optional

from tfx import types
from tfx.dsl.components.base import base_component, base_executor, executor_spec
from tfx.dsl.io import fileio
from tfx.types import artifact_utils, standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from pipeline.components.progress import note
from pipeline.components.artifacts import FoldReport as FoldReportArtifact
from pipeline.components.au_evaluator import read_scores
from pipeline.components.served_evaluator import read_served
from pipeline.components.per_fold import fold_key, folds_in, spec_for_folds
from pipeline.gate import GateConfig, evaluate_gate, verdict_line

REPORT_JSON = "report.json"
REPORT_MD = "report.md"
BLESSED_FILE, NOT_BLESSED_FILE = "BLESSED", "NOT_BLESSED"  # same markers as TFX's Evaluator
# tfx.components.evaluator.constants' property names, which LatestBlessedModelStrategy reads (with "blessed")
CURRENT_MODEL_ID, CURRENT_MODEL = "current_model_id", "current_model"
# GateConfig field -> component parameter (min_mean_f1 keeps its name for older pipelines' MLMD records)
GATE_PARAMETERS = {"min_f1": "min_mean_f1", "min_f1_gain": "min_f1_gain", "min_auc": "min_auc",
                   "max_f1_drop": "max_f1_drop"}


def is_blessed(mean_f1: float, min_mean_f1: float) -> bool:
    """The bar: a finite fold-mean macro F1 at or above ``min_mean_f1``."""
    return math.isfinite(mean_f1) and mean_f1 >= min_mean_f1


def fold_mean_report(scores_by_fold: Mapping[int, dict], gate: GateConfig | float, served: Optional[dict] = None,
                     dataset: str = "") -> dict:
    """Per-fold scores (``detection_report`` shape) -> per-AU fold means, macro F1, best fold and the gate's
    verdict (``gate``: the bars, or a bare ``min_f1``); ``served``: ``ServedModelEvaluator``'s record."""
    gate = gate if isinstance(gate, GateConfig) else GateConfig(min_f1=float(gate))
    if not scores_by_fold:
        raise ValueError("no fold scores to report")
    folds = sorted(int(k) for k in scores_by_fold)
    aus = list(scores_by_fold[folds[0]]["per_au"])
    for k in folds:
        if list(scores_by_fold[k]["per_au"]) != aus:
            raise ValueError(f"fold {k} scores AUs {list(scores_by_fold[k]['per_au'])}, fold {folds[0]} scores {aus}")
    per_fold = {
        str(k): {
            "mean_f1": float(scores_by_fold[k]["mean_f1"]),
            "f1": {au: float(scores_by_fold[k]["per_au"][au]["f1"]) for au in aus},
            "examples": int(scores_by_fold[k].get("examples", 0)),
            "nonfinite_predictions": int(scores_by_fold[k].get("nonfinite_predictions", 0)),
        }
        for k in folds
    }
    for k in folds:  # threshold-free and trivial-predictor context, when the evaluator wrote them
        for key in ("mean_auc", "baseline"):
            value = scores_by_fold[k].get(key)
            if value is not None:
                per_fold[str(k)][key] = value["mean_f1"] if key == "baseline" else float(value)
    fold_means = [per_fold[str(k)]["mean_f1"] for k in folds]
    mean_f1 = sum(fold_means) / len(fold_means)
    std_f1 = math.sqrt(sum((m - mean_f1) ** 2 for m in fold_means) / len(fold_means))
    best = max(folds, key=lambda k: (per_fold[str(k)]["mean_f1"], -k))  # ties: the lowest fold
    report = {
        "folds": folds,
        "aus": aus,
        "per_fold": per_fold,
        "per_au_mean": {au: sum(per_fold[str(k)]["f1"][au] for k in folds) / len(folds) for au in aus},
        "mean_f1": mean_f1,
        "std_f1": std_f1,
        "best_fold": best,
        **{f"{key}_mean": sum(per_fold[str(k)][key] for k in folds) / len(folds)
           for key in ("mean_auc", "baseline") if all(key in per_fold[str(k)] for k in folds)},
        "min_mean_f1": gate.min_f1,
    }
    report["served"] = _served_table(served, aus)
    report["gate"] = evaluate_gate(report, gate, served, dataset)
    report["blessed"] = report["gate"]["blessed"]
    return report


def _served_table(served: Optional[dict], aus: list) -> Optional[dict]:
    """The served model's per-fold macro F1/AUC for the side-by-side table (None: nothing served)."""
    if not served:
        return None
    out = {k: served.get(k) for k in ("version", "path", "held_out_fold", "skipped", "reason")}
    if served.get("version") is not None:
        out["per_fold"] = {k: {"mean_f1": s["mean_f1"], "mean_auc": s.get("mean_auc")}
                           for k, s in served.get("per_fold", {}).items()}
        if served.get("aus") and list(served["aus"]) != list(aus):
            out["note"] = f"served model scores AUs {served['aus']}"
    return out


def report_markdown(report: dict) -> str:
    """Markdown table in percent: one row per AU, one column per fold, then the fold mean."""
    folds = report["folds"]
    head = "| AU | " + " | ".join(f"fold {k}" for k in folds) + " | mean |"
    lines = [head, "|" + "---|" * (len(folds) + 2)]
    for au in report["aus"]:
        cells = [f"{100 * report['per_fold'][str(k)]['f1'][au]:.1f}" for k in folds]
        lines.append(f"| {au} | " + " | ".join(cells) + f" | {100 * report['per_au_mean'][au]:.1f} |")
    cells = [f"**{100 * report['per_fold'][str(k)]['mean_f1']:.1f}**" for k in folds]
    lines.append("| **macro F1** | " + " | ".join(cells) + f" | **{100 * report['mean_f1']:.1f}** |")
    for key, label in (("baseline", "all-positive F1"), ("mean_auc", "macro AUC")):
        if f"{key}_mean" in report:
            cells = [f"{100 * report['per_fold'][str(k)][key]:.1f}" for k in folds]
            lines.append(f"| {label} | " + " | ".join(cells) + f" | {100 * report[f'{key}_mean']:.1f} |")
    lines.append("| faces | " + " | ".join(str(report["per_fold"][str(k)]["examples"]) for k in folds) + " | |")
    lines += _served_lines(report)
    lines += ["", f"Fold-mean macro F1 {100 * report['mean_f1']:.1f} ± {100 * report['std_f1']:.1f}; "
              f"best fold {report['best_fold']}.", "", "| bar | result | numbers |", "|---|---|---|"]
    for c in report.get("gate", {}).get("checks", []):
        lines.append(f"| {c['name']} | {'pass' if c['passed'] else '**FAIL**'} | {c['detail']} |")
    lines += ["", ("**Blessed.**" if report["blessed"] else "**NOT blessed**: nothing is pushed.")]
    return "\n".join(lines) + "\n"


def _pct_cell(x: Optional[float]) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


def _served_lines(report: dict) -> list[str]:
    """Candidate and served model side by side, per fold (macro F1 and AUC, percent)."""
    served = report.get("served")
    if not served:
        return []
    skipped = [f"version {s['version']} ({s['reason']})" for s in served.get("skipped") or []]
    note = ["", f"Skipped as a baseline: {'; '.join(skipped)}."] if skipped else []
    if served.get("version") is None:
        return note + ["", f"Served model: none ({served.get('reason') or 'nothing loadable'})."]
    folds = report["folds"]
    lines = note + ["", f"Against the served model (version {served['version']}, `{served.get('path')}`), same "
                    "evaluator, same held-out folds:", "",
                    "| model | " + " | ".join(f"F1 fold {k}" for k in folds) + " | " +
                    " | ".join(f"AUC fold {k}" for k in folds) + " |",
                    "|" + "---|" * (2 * len(folds) + 1)]
    for name, source in (("candidate", report["per_fold"]), (f"served v{served['version']}", served["per_fold"])):
        cells = [_pct_cell(source.get(str(k), {}).get(key)) for key in ("mean_f1", "mean_auc") for k in folds]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


class FoldReportSpec(ComponentSpec, validate=False):
    PARAMETERS = {
        "min_mean_f1": ExecutionParameter(type=float),
        "min_f1_gain": ExecutionParameter(type=float, optional=True),
        "min_auc": ExecutionParameter(type=float, optional=True),
        "max_f1_drop": ExecutionParameter(type=float, optional=True),
        "dataset": ExecutionParameter(type=str, optional=True),
    }
    # evaluation_<k> per fold, added by spec_for_folds; the served model's scores when evaluated
    INPUTS: dict = {"served_evaluation": ChannelParameter(type=standard_artifacts.ModelEvaluation, optional=True)}
    OUTPUTS = {
        "report": ChannelParameter(type=FoldReportArtifact),
        "blessing": ChannelParameter(type=standard_artifacts.ModelBlessing),
    }


class Executor(base_executor.BaseExecutor):
    def Do(self, input_dict: dict, output_dict: dict, exec_properties: dict[str, Any]) -> None:
        scores = {
            k: read_scores(artifact_utils.get_single_uri(input_dict[fold_key("evaluation", k)]))
            for k in folds_in(input_dict, "evaluation")
        }
        served_in = input_dict.get("served_evaluation") or []
        served = read_served(served_in[0].uri) if served_in else None
        gate = GateConfig(**{key: float(exec_properties[name]) for key, name in GATE_PARAMETERS.items()
                             if exec_properties.get(name) is not None})
        report = fold_mean_report(scores, gate, served, str(exec_properties.get("dataset") or ""))
        out = artifact_utils.get_single_instance(output_dict["report"])
        fileio.makedirs(out.uri)
        with fileio.open(os.path.join(out.uri, REPORT_JSON), "w") as f:
            f.write(json.dumps(report, indent=2))
        with fileio.open(os.path.join(out.uri, REPORT_MD), "w") as f:
            f.write(report_markdown(report))
        out.set_float_custom_property("mean_f1", report["mean_f1"])

        blessing = artifact_utils.get_single_instance(output_dict["blessing"])
        fileio.makedirs(blessing.uri)
        with fileio.open(os.path.join(blessing.uri, BLESSED_FILE if report["blessed"] else NOT_BLESSED_FILE), "w"):
            pass
        blessing.set_int_custom_property("blessed", int(report["blessed"]))
        blessing.set_int_custom_property("best_fold", int(report["best_fold"]))
        blessing.set_float_custom_property("mean_f1", report["mean_f1"])
        blessing.set_float_custom_property("min_mean_f1", report["min_mean_f1"])
        blessing.set_string_custom_property("failed", ",".join(report["gate"]["failed"]))
        blessing.set_string_custom_property("reason", verdict_line(report["gate"]))
        if report["served"] and report["served"].get("version") is not None:
            blessing.set_int_custom_property("served_version", int(report["served"]["version"]))
        best_model = input_dict.get(fold_key("model", report["best_fold"])) or []
        if best_model:  # what TFX's Evaluator records: LatestBlessedModelStrategy pairs blessings by this id
            blessing.set_int_custom_property(CURRENT_MODEL_ID, int(best_model[0].id))
            blessing.set_string_custom_property(CURRENT_MODEL, best_model[0].uri)
        note(f"FoldReport: fold-mean macro F1 {100 * report['mean_f1']:.1f}: {verdict_line(report['gate'])}")


class FoldReport(base_component.BaseComponent):
    """Fold-mean per-AU F1 report (JSON + Markdown) and a ModelBlessing from ``pipeline.gate``."""

    SPEC_CLASS = FoldReportSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(self, evaluations: Mapping[int, types.BaseChannel], gate: GateConfig,
                 served_evaluation: Optional[types.BaseChannel] = None, dataset: str = "",
                 models: Mapping[int, types.BaseChannel] | None = None):
        """``models``: each fold's Model channel, so the blessing names the blessed (best-fold) Model artifact
        the way TFX's Evaluator does (``current_model_id``), which the warm-start Resolver needs."""
        models = dict(models or {})
        spec_class = spec_for_folds(FoldReportSpec, evaluations, {"evaluation": standard_artifacts.ModelEvaluation,
                                                                  "model": standard_artifacts.Model},
                                    optional=("model",))
        super().__init__(spec=spec_class(
            **{name: float(getattr(gate, key)) for key, name in GATE_PARAMETERS.items()},
            dataset=dataset,
            served_evaluation=served_evaluation,
            report=types.Channel(type=FoldReportArtifact),
            blessing=types.Channel(type=standard_artifacts.ModelBlessing),
            **{fold_key("evaluation", k): ch for k, ch in evaluations.items()},
            **{fold_key("model", k): ch for k, ch in models.items()},
        ))


def read_report(report_uri: str) -> dict:
    with fileio.open(os.path.join(report_uri, REPORT_JSON)) as f:
        return json.loads(f.read())
