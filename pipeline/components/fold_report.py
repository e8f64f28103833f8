"""FoldReport: the 3-fold table (per-AU F1 per fold and their mean) and the blessing.

The papers report the mean over the three folds of the per-AU F1 and its average over AUs; the
pipeline does the same: ``mean_f1`` = mean over folds of each fold's macro F1 (equal AU sets, so
this equals the macro average of the per-AU fold means). The model is blessed when ``mean_f1``
reaches ``min_mean_f1``; the blessing names the best fold, whose model the Pusher deploys
(each fold's model saw two thirds of the subjects; the best held-out score picks one).
"""

from __future__ import annotations

import json
import math
import os
from typing import Any, Mapping

from tfx import types
from tfx.dsl.components.base import base_component, base_executor, executor_spec
from tfx.dsl.io import fileio
from tfx.types import artifact_utils, standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from pipeline.components.progress import note
from pipeline.components.artifacts import FoldReport as FoldReportArtifact
from pipeline.components.au_evaluator import read_scores
from pipeline.components.per_fold import fold_key, folds_in, spec_for_folds

REPORT_JSON = "report.json"
REPORT_MD = "report.md"
BLESSED_FILE, NOT_BLESSED_FILE = "BLESSED", "NOT_BLESSED"  # same markers as TFX's Evaluator


def is_blessed(mean_f1: float, min_mean_f1: float) -> bool:
    """The bar: a finite fold-mean macro F1 at or above ``min_mean_f1``."""
    return math.isfinite(mean_f1) and mean_f1 >= min_mean_f1


def fold_mean_report(scores_by_fold: Mapping[int, dict], min_mean_f1: float) -> dict:
    """Per-fold scores (``AUScores.as_dict()`` shape) -> per-AU fold means, macro F1, best fold, blessing."""
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
    return {
        "folds": folds,
        "aus": aus,
        "per_fold": per_fold,
        "per_au_mean": {au: sum(per_fold[str(k)]["f1"][au] for k in folds) / len(folds) for au in aus},
        "mean_f1": mean_f1,
        "std_f1": std_f1,
        "best_fold": best,
        **{f"{key}_mean": sum(per_fold[str(k)][key] for k in folds) / len(folds)
           for key in ("mean_auc", "baseline") if all(key in per_fold[str(k)] for k in folds)},
        "min_mean_f1": float(min_mean_f1),
        "blessed": is_blessed(mean_f1, min_mean_f1),
    }


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
    verdict = "blessed" if report["blessed"] else "NOT blessed"
    lines += ["", f"Fold-mean macro F1 {100 * report['mean_f1']:.1f} ± {100 * report['std_f1']:.1f} "
              f"(bar {100 * report['min_mean_f1']:.1f}): {verdict}; best fold {report['best_fold']}."]
    return "\n".join(lines) + "\n"


class FoldReportSpec(ComponentSpec, validate=False):
    PARAMETERS = {"min_mean_f1": ExecutionParameter(type=float)}
    INPUTS: dict = {}  # evaluation_<k> per fold, added by spec_for_folds
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
        report = fold_mean_report(scores, float(exec_properties["min_mean_f1"]))
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
        note(f"FoldReport: fold-mean macro F1 {100 * report['mean_f1']:.1f} "
             f"(bar {100 * report['min_mean_f1']:.1f}): {'blessed' if report['blessed'] else 'not blessed'}")


class FoldReport(base_component.BaseComponent):
    """Fold-mean per-AU F1 report (JSON + Markdown) and a ModelBlessing against ``min_mean_f1``."""

    SPEC_CLASS = FoldReportSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(self, evaluations: Mapping[int, types.BaseChannel], min_mean_f1: float):
        spec_class = spec_for_folds(FoldReportSpec, evaluations, {"evaluation": standard_artifacts.ModelEvaluation})
        super().__init__(spec=spec_class(
            min_mean_f1=float(min_mean_f1),
            report=types.Channel(type=FoldReportArtifact),
            blessing=types.Channel(type=standard_artifacts.ModelBlessing),
            **{fold_key("evaluation", k): ch for k, ch in evaluations.items()},
        ))


def read_report(report_uri: str) -> dict:
    with fileio.open(os.path.join(report_uri, REPORT_JSON)) as f:
        return json.loads(f.read())
