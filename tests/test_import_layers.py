"""The import contracts in pyproject.toml ([tool.importlinter]), checked by import-linter's ``lint-imports``.

Layers: pipeline above serving above the keras_au library (only keras_au.cli imports upward); no import
cycles between sibling modules or subpackages anywhere in the three packages.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import tomli

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("keras_au", "pipeline", "serving")


def lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("lint-imports")  # the venv's, next to this Python
    return subprocess.run([str(exe), "--no-cache", "--no-logo"], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def test_the_import_contracts_hold():
    res = lint_imports(ROOT)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Contracts: 2 kept, 0 broken." in res.stdout


def test_the_contracts_cover_the_three_packages():
    config = tomli.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    assert set(config["root_packages"]) == set(PACKAGES)
    contracts = {c["id"]: c for c in config["contracts"]}
    assert contracts["layers"]["type"] == "layers"
    assert contracts["layers"]["layers"] == ["pipeline", "serving", "keras_au"]
    assert all(rule.startswith("keras_au.cli.** -> ") for rule in contracts["layers"]["ignore_imports"])
    assert contracts["acyclic"]["type"] == "acyclic_siblings"
    assert set(contracts["acyclic"]["ancestors"]) == set(PACKAGES)
    assert "depth" not in contracts["acyclic"]  # import-linter's default (10) reaches every package here


def test_an_upward_import_and_a_cycle_break_the_contracts(tmp_path):
    """The same contracts on a copy of the tree with one library module importing serving and one cycle."""
    for name in PACKAGES:
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    (tmp_path / "keras_au" / "geometry" / "upward.py").write_text("import serving.results\n")
    (tmp_path / "keras_au" / "data" / "loop_a.py").write_text("from keras_au.data import loop_b\n")
    (tmp_path / "keras_au" / "data" / "loop_b.py").write_text("from keras_au.data import loop_a\n")
    res = lint_imports(tmp_path)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "Contracts: 0 kept, 2 broken." in res.stdout
    assert "keras_au.geometry.upward -> serving.results" in res.stdout
    assert "keras_au.data" in res.stdout and "loop_" in res.stdout
