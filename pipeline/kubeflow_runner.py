"""Compiles the pipeline for Kubeflow Pipelines v2 / Vertex AI (KubeflowV2DagRunner), offline.

The Trainer's code is referenced by ``run_fn`` path (``pipeline.trainer.run_fn.run_fn``), so the
container image must have keras-au installed and this checkout's ``pipeline/`` and ``serving/`` on
``PYTHONPATH`` (the wheel ships the library only); nothing is uploaded at compile time, which is what
lets it compile without a cluster or cloud credentials. Paths in the config (data, pipeline root, serving dir) are used as given:
point them at storage the cluster can read (gs://...).
"""

from __future__ import annotations

import os

from pipeline.configs import PipelineConfig


def compile_kubeflow(cfg: PipelineConfig, output_path: str, image: str) -> str:
    """Writes the PipelineJob spec to ``output_path`` (.yaml/.yml: YAML, otherwise JSON); returns the path."""
    from tfx import v1 as tfx

    from pipeline.pipeline import create_pipeline

    if not image:
        raise ValueError("a container image is required (the TFX default image does not contain keras-au)")
    out_dir, name = os.path.split(os.path.abspath(output_path))
    os.makedirs(out_dir, exist_ok=True)
    runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
        config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(default_image=image),
        output_dir=out_dir,
        output_filename=name,
    )
    cfg.image = cfg.image or image
    runner.run(create_pipeline(cfg, trainer_code="run_fn"))
    path = os.path.join(out_dir, name)
    if cfg.trainer_gpus and cfg.trainer_replicas == 1:
        request_trainer_gpus(path, cfg.trainer_gpus, cfg.trainer_gpu_type)
    return path


def request_trainer_gpus(path: str, gpus: int, gpu_type: str) -> None:
    """Sets the accelerator request (type, count) of every Trainer container in a compiled spec."""
    import json

    import yaml

    is_yaml = path.endswith((".yaml", ".yml"))
    with open(path) as f:
        spec = yaml.safe_load(f) if is_yaml else json.load(f)
    root = spec.get("pipelineSpec", spec)  # JSON PipelineJob wraps the spec; YAML is the spec itself
    executors = root["deploymentSpec"]["executors"]
    found = [k for k in executors if k.startswith("Trainer_fold")]
    if not found:
        raise ValueError(f"{path}: no Trainer executor to give GPUs to")
    for key in found:
        resources = executors[key]["container"].setdefault("resources", {})
        resources["accelerator"] = {"type": gpu_type, "count": str(gpus)}
    with open(path, "w") as f:
        if is_yaml:
            yaml.safe_dump(spec, f, sort_keys=False)
        else:
            json.dump(spec, f, indent=2)
