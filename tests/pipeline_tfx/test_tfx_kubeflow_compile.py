"""`keras-au pipeline compile --kubeflow`: an offline KubeflowV2DagRunner spec that names every component."""

from __future__ import annotations

import json

import pytest
import yaml

from keras_au.cli import main
from pipeline.configs import PipelineConfig
from pipeline.pipeline import TRAINER_RUN_FN, create_pipeline

IMAGE = "registry.example/keras-au:0.1.0"
BASE = ["--data", "gs://bucket/BP4D", "--root", "gs://bucket/keras-au", "--image", IMAGE]


def _component_ids() -> set[str]:
    cfg = PipelineConfig(data_dir="gs://bucket/BP4D", pipeline_root="gs://bucket/keras-au")
    return {c.id for c in create_pipeline(cfg, trainer_code="run_fn").components}


def test_yaml_spec_names_every_component_with_image_run_fn_and_beam_args(tmp_path, capsys):
    out = tmp_path / "keras-au.yaml"
    rc = main(["pipeline", "compile", "--kubeflow", str(out), *BASE, "--name", "au-bp4d", "--preset", "demo",
               "--epochs", "3", "--direct_running_mode=multi_processing", "--direct_num_workers=2"])
    assert rc == 0 and str(out) in capsys.readouterr().out
    docs = [d for d in yaml.safe_load_all(out.read_text()) if d]
    spec = docs[0]
    ids = _component_ids()
    assert ids == {"Preprocess", "StatisticsGen", "SchemaGen", "ExampleValidator", "FoldReport", "KerasAuPusher",
                   "ServedModelEvaluator", *(f"Trainer_fold{k}" for k in range(3)), *(f"AUEvaluator_fold{k}" for k in range(3))}
    assert set(spec["root"]["dag"]["tasks"]) == ids
    assert spec["pipelineInfo"]["name"] == "au-bp4d"
    executors = spec["deploymentSpec"]["executors"]
    assert {e.removesuffix("_executor") for e in executors} == ids
    for ex in executors.values():
        assert ex["container"]["image"] == IMAGE
    # Beam args reach the Beam components (preprocess and stats)
    assert "--direct_num_workers=2" in executors["Preprocess_executor"]["container"]["args"]
    # custom executors are referenced by import path, so the image only needs keras-au installed
    assert "pipeline.components.preprocess.Executor" in executors["Preprocess_executor"]["container"]["args"]
    # the Trainer's code is referenced by run_fn path (no wheel upload: offline compile)
    text = out.read_text()
    assert TRAINER_RUN_FN in text and "module_file" not in text.replace("module_file:", "")
    trainer = spec["root"]["dag"]["tasks"]["Trainer_fold1"]
    params = trainer["inputs"]["parameters"]
    config = json.loads(_constant(params["custom_config"]))
    assert config["fold"] == 1 and config["preset"] == "demo" and config["epochs"] == 3
    assert json.loads(_constant(params["train_args"]))["splits"] == ["fold-0", "fold-2"]
    assert json.loads(_constant(params["eval_args"]))["splits"] == ["fold-1"]
    assert _constant(params["run_fn"]) == TRAINER_RUN_FN


def _constant(param: dict) -> str:
    return param["runtimeValue"]["constantValue"]["stringValue"]


def test_json_spec_parses_too(tmp_path):
    out = tmp_path / "spec.json"
    assert main(["pipeline", "compile", "--kubeflow", str(out), *BASE]) == 0
    spec = json.loads(out.read_text())
    assert set(spec["pipelineSpec"]["root"]["dag"]["tasks"]) == _component_ids()


@pytest.mark.parametrize("name", ["KerasAU", "-au", "au_bp4d", "a" * 129])
def test_bad_pipeline_names_are_refused(tmp_path, capsys, name):
    rc = main(["pipeline", "compile", "--kubeflow", str(tmp_path / "x.yaml"), *BASE, f"--name={name}"])
    assert rc == 2
    assert "must match [a-z0-9][a-z0-9-]{0,127}" in capsys.readouterr().err
    assert not (tmp_path / "x.yaml").exists()


def test_library_code_changes_reach_the_cache_key(monkeypatch):
    """Preprocess and every Trainer carry a fingerprint of keras-au's sources as a parameter, so TFX's
    cache (keyed on inputs and parameters) re-runs them after the library changes."""
    import pipeline.pipeline as pp

    cfg = PipelineConfig(data_dir="gs://bucket/BP4D", pipeline_root="gs://bucket/keras-au")

    def params(fingerprint: str) -> dict:
        monkeypatch.setattr(pp, "code_fingerprint", lambda: fingerprint)
        comps = {c.id: c for c in create_pipeline(cfg, trainer_code="run_fn").components}
        return {"Preprocess": comps["Preprocess"].exec_properties["code_fingerprint"],
                **{f"Trainer_fold{k}": json.loads(comps[f"Trainer_fold{k}"].exec_properties["custom_config"])
                   ["code_fingerprint"] for k in range(3)}}

    assert set(params("aaaa").values()) == {"aaaa"} and set(params("bbbb").values()) == {"bbbb"}
    monkeypatch.undo()
    real = pp.code_fingerprint()
    assert len(real) == 16 and real == pp.code_fingerprint()  # deterministic for the same tree


def test_held_out_trains_only_the_named_folds_each_on_all_the_others(tmp_path):
    out = tmp_path / "one.yaml"
    assert main(["pipeline", "compile", "--kubeflow", str(out), *BASE, "--held-out", "2"]) == 0
    tasks = yaml.safe_load(out.read_text())["root"]["dag"]["tasks"]
    assert {t for t in tasks if t.startswith(("Trainer_", "AUEvaluator_"))} == {"Trainer_fold2", "AUEvaluator_fold2"}
    params = tasks["Trainer_fold2"]["inputs"]["parameters"]
    assert json.loads(_constant(params["train_args"]))["splits"] == ["fold-0", "fold-1"]
    served = tasks["ServedModelEvaluator"]["inputs"]["parameters"]
    assert json.loads(_constant(served["folds"])) == [2]


@pytest.mark.parametrize("held_out", [(), (3,), (0, 0)])
def test_held_out_folds_outside_the_partition_are_refused(held_out):
    with pytest.raises(ValueError, match="held-out folds must be distinct folds of"):
        PipelineConfig(data_dir="d", held_out=held_out)


def test_held_out_flag_rejects_words_other_than_all(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["pipeline", "compile", "--kubeflow", str(tmp_path / "x.yaml"), *BASE, "--held-out", "first"])
    assert e.value.code == 2 and "expected 'all' or fold numbers" in capsys.readouterr().err


def test_init_and_warm_start_reach_every_trainer_in_the_spec(tmp_path, capsys):
    out = tmp_path / "warm.yaml"
    assert main(["pipeline", "compile", "--kubeflow", str(out), *BASE, "--init", "imagenet", "--warm-start"]) == 0
    tasks = yaml.safe_load(out.read_text())["root"]["dag"]["tasks"]
    # KFP v2 compiles LatestBlessedModelStrategy into two queries: blessed blessings, then their current_model_id
    resolvers = {f"latest_blessed_model_resolver-{part}-resolver" for part in ("model", "model-blessing")}
    assert resolvers <= set(tasks)
    for k in range(3):
        trainer = tasks[f"Trainer_fold{k}"]
        config = json.loads(_constant(trainer["inputs"]["parameters"]["custom_config"]))
        assert config["init"] == "imagenet" and config["warm_start"] is True
        base = trainer["inputs"]["artifacts"]["base_model"]["taskOutputArtifact"]
        assert base["producerTask"] == "latest_blessed_model_resolver-model-resolver"
    assert {f"model_{k}" for k in range(3)} <= set(tasks["FoldReport"]["inputs"]["artifacts"])
