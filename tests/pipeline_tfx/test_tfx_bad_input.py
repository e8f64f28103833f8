"""Bad input to `keras-au pipeline run`: clear errors, never a half-trained pipeline."""

from __future__ import annotations

import os
import shutil

from keras_au.cli import main


def test_data_missing_a_fold_fails_in_preprocess_naming_the_fold(tiny_raw, tmp_path, capsys):
    data = shutil.copytree(tiny_raw["bp4d"], tmp_path / "BP4D")
    shutil.rmtree(data / "F007")  # the only fold-2 subject (its label CSV stays: reported, not fatal)
    root = tmp_path / "root"
    rc = main(["pipeline", "run", "--data", str(data), "--root", str(root), "--preset", "ci", "--no-flow"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "wrote no examples for fold 2" in err and "full log:" in err
    log = err.rsplit("full log: ", 1)[1].split(")")[0]
    assert os.path.isfile(log) and "Traceback" in open(log).read()
    assert not (root / "Trainer_fold0").exists()  # nothing after Preprocess ran


def test_missing_data_dir_and_bad_bar_are_user_errors(tmp_path, capsys):
    assert main(["pipeline", "run", "--data", str(tmp_path / "nope")]) == 2
    assert "not a directory" in capsys.readouterr().err
    assert main(["pipeline", "run", "--data", str(tmp_path), "--min-f1", "64.6"]) == 2
    assert "fraction in [0, 1]" in capsys.readouterr().err
    assert main(["pipeline", "run", "--data", str(tmp_path), "--min-auc", "60"]) == 2
    assert "min_auc is a fraction in [0, 1], got 60.0" in capsys.readouterr().err
    assert main(["pipeline", "run", "--data", str(tmp_path), "--max-f1-drop", "2"]) == 2
    assert "max_f1_drop" in capsys.readouterr().err
