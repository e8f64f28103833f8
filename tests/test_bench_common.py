"""bench/_common.py (the bench scripts' shared timer, machine info, results path) and the bench/probes layout."""

from __future__ import annotations

import ast
import glob
import importlib.util
import json
import os
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def common():
    spec = importlib.util.spec_from_file_location("_common", os.path.join(ROOT, "bench", "_common.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _scripts(folder: str) -> list[str]:
    return sorted(glob.glob(os.path.join(ROOT, folder, "*.py")))


def _imported_modules(path: str) -> set[str]:
    tree = ast.parse(open(path).read(), path)
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_machine_info_has_the_documented_keys(common):
    info = common.machine_info()
    assert tuple(info) == common.MACHINE_KEYS
    assert info["cpus"] >= 1 and len(info["load_avg"]) == 3 and isinstance(info["gpus"], list)
    assert info["tensorflow"] and info["keras"] and info["python"].count(".") == 2


def test_results_go_under_bench_results(common, tmp_path):
    assert common.results_path("wild") == os.path.join(ROOT, "bench", "results", "wild.json")
    assert common.results_path("probe.jsonl").endswith(os.path.join("bench", "results", "probe.jsonl"))
    path = common.write_results(str(tmp_path / "sub" / "r.json"), {"rows": [1]}, {"cpus": 2})
    stored = json.load(open(path))
    assert stored["rows"] == [1] and stored["machine"]["cpus"] == 2 and len(stored["machine"]["load_avg_end"]) == 3


def test_timer_and_best_of(common):
    with common.Timer() as t:
        time.sleep(0.05)
    assert t.wall >= 0.05 and 0 <= t.cpu < t.wall  # sleeping costs (almost) no CPU
    calls = []
    best = common.best_of(lambda: calls.append(1), repeat=3, warmup=2)
    assert len(calls) == 5 and 0 <= best.wall < float("inf")


def test_every_bench_script_uses_the_shared_module():
    for path in _scripts("bench"):
        if os.path.basename(path) == "_common.py":
            continue
        assert "_common" in _imported_modules(path), path
        assert "sys.path.insert" not in open(path).read(), f"{path}: the import path is set in _common.py"


def test_bench_and_probes_do_not_import_tests():
    test_modules = {os.path.splitext(os.path.basename(p))[0] for p in glob.glob(os.path.join(ROOT, "tests", "**", "*.py"),
                                                                                 recursive=True)}
    for path in _scripts("bench") + _scripts("probes"):
        tops = {name.split(".")[0] for name in _imported_modules(path)}
        assert not tops & ({"tests", "conftest"} | test_modules), path
        strings = {n.value for n in ast.walk(ast.parse(open(path).read())) if isinstance(n, ast.Constant)}
        assert "tests" not in strings, f"{path} builds a path into tests/"
    assert _scripts("probes"), "probes/ holds the experiments moved out of bench/"
