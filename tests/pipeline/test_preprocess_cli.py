"""`keras-au preprocess`: a real run through the command line, Beam flags passed through, user errors."""

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "keras_au.cli", "preprocess", *args], capture_output=True, text=True, timeout=300
    )


def test_cli_folder_run_with_beam_passthrough(tmp_path, astronaut, write_rgb):
    media = tmp_path / "media"
    write_rgb(str(media / "me" / "face.jpg"), astronaut)
    (media / "me" / "broken.jpg").write_text("not an image")
    out = tmp_path / "out"
    # --job_name is not ours: it must reach Beam instead of failing the parser
    res = _cli("--dataset", "folder", "--input", str(media), "--output", str(out), "--no-flow", "--json",
               "--no-progress", "--job_name=keras-au-cli-test")  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    report = json.loads(res.stdout)
    assert report["examples_written"] == 1 and report["skipped"] == {"undecodable": 1}
    assert report["beam_args"] == ["--job_name=keras-au-cli-test"]
    assert json.load(open(out / "report.json"))["frames_read"] == 2
    fold = report["folds"]
    assert sum(f["examples"] for f in fold.values()) == 1
    assert any(os.listdir(out / f"fold-{k}") for k in range(3))


def test_cli_user_errors_are_clean(tmp_path):
    res = _cli("--dataset", "bp4d", "--input", str(tmp_path / "nope"), "--output", str(tmp_path / "o"))
    assert res.returncode == 2 and "not a directory" in res.stderr and "Traceback" not in res.stderr
    res = _cli("--dataset", "folder", "--input", str(tmp_path), "--output", str(tmp_path / "o"), "--tvl1", "warp=3")
    assert res.returncode == 2 and "TV-L1" in res.stderr and "Traceback" not in res.stderr
