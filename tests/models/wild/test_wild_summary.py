"""`keras-au summary --model wild`: params/FLOPs of the training and inference graphs per variant."""

from __future__ import annotations

import json
import subprocess
import sys

from keras_au.models.wild import task


def test_summary_cli_json_shape():
    out = subprocess.run(
        [sys.executable, "-m", "keras_au.cli", "summary", "--model", "wild", "--preset", "ci", "--json"],
        capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    assert set(res) == {"training", "inference"}
    for part in res.values():
        assert set(part) == {"params", "flops"} and part["params"] > 0 and part["flops"] > 0
    assert res["training"]["params"] > res["inference"]["params"]
    assert res["training"]["flops"] > res["inference"]["flops"]


def test_variants_change_the_training_graph_not_the_inference_path():
    from keras_au.models.wild.config import preset_config
    from keras_au.models.wild.inference import build_inference_model
    from keras_au.models.wild.network import WildNetwork

    bl, as_ = (task.summary(preset="ci", variant=v) for v in ("bl", "as"))
    assert bl["inference"] == as_["inference"]  # E_f -> (E_l, G_b) -> G_st -> F_au in every variant
    assert as_["training"]["params"] > bl["training"]["params"]  # + landmark branch head and projectors
    assert any("multiply-add" in n for n in as_["notes"])
    net = WildNetwork.from_wild_config(preset_config("ci"))
    net.build()
    assert build_inference_model(net, "target").count_params() == as_["inference"]["params"]
    assert build_inference_model(net, "source").count_params() < as_["inference"]["params"]  # E_f -> F_au
