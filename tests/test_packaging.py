"""The wheel ships the keras_au library only: ``pipeline`` and ``serving`` are generic top-level names that would
shadow (or be shadowed by) other distributions, so they run from the checkout (README, "Packaging")."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from keras_au.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_holds_keras_au_and_nothing_else_at_the_top(tmp_path):
    src = tmp_path / "src"  # a copy: building writes build/ and *.egg-info next to pyproject.toml
    src.mkdir()
    for name in ("keras_au", "pipeline", "serving"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src)
    code = f"from setuptools import build_meta; print(build_meta.build_wheel({str(tmp_path)!r}))"
    res = subprocess.run([sys.executable, "-c", code], cwd=src, capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stderr[-3000:]
    with zipfile.ZipFile(tmp_path / res.stdout.strip().splitlines()[-1]) as whl:
        names = whl.namelist()
        entry_points = whl.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    assert {n.split("/")[0] for n in names} == {"keras_au", "keras_au-0.1.0.dist-info"}
    assert "keras_au/inference/detector.py" in names  # keras_au.Detector works from the wheel
    assert "keras_au/experiments/grids/table1.json" in names
    assert "keras-au = keras_au.cli:main" in entry_points


def test_a_command_that_needs_the_checkout_says_so(monkeypatch, tmp_path, capsys):
    """What `keras-au view` does when installed from the wheel: no traceback, exit status 2."""
    for name in [m for m in sys.modules if m == "serving" or m.startswith("serving.")] + ["serving"]:
        monkeypatch.setitem(sys.modules, name, None)  # None: `import serving...` raises ModuleNotFoundError
    assert main(["view", str(tmp_path / "results.csv"), "--out", str(tmp_path / "page.html")]) == 2
    assert "needs serving/ from a keras-au checkout" in capsys.readouterr().err
