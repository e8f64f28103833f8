"""--runner dask plumbing: Beam flags, addresses, partitions, a missing dask, the TFX pipeline's runner flags."""

import argparse
import sys

import pytest

from keras_au.cli import CommandError
from keras_au.cli import main as cli_main
from keras_au.cli.pipeline import _beam_args, _preprocess_options
from pipeline.beam.dask_cluster import (
    DASK_RUNNER,
    DaskCluster,
    DaskError,
    is_dask,
    normalize_address,
    partitions,
    require_dask,
    runner_args,
)


def test_runner_names_and_addresses():
    assert all(is_dask(n) for n in ("dask", "DaskRunner", DASK_RUNNER)) and not is_dask("FlinkRunner")
    assert not is_dask(None)
    assert normalize_address("10.0.0.5:8786") == "tcp://10.0.0.5:8786"
    assert normalize_address(" tcp://sched:8786/ ") == "tcp://sched:8786"
    for bad in ("sched", "tcp://sched", "http:/x:1"):
        with pytest.raises(DaskError, match="scheduler address"):
            normalize_address(bad)


def test_partitions_spread_items_over_workers():
    assert partitions(8, 2) == 8  # one item per partition: both workers busy, uneven items balance
    assert partitions(1000, 2) == 16  # at most 64 items per partition
    assert partitions(100, 64) == 100 and partitions(0, 2) == 1


def test_runner_args_replace_the_runner_and_keep_callers_dask_flags():
    cluster = DaskCluster("tcp://h:8786", 4, local=False)
    args = runner_args(cluster, 40, ["--runner", "dask", "--job_name=x"])
    assert args == ["--job_name=x", f"--runner={DASK_RUNNER}", "--dask_client_address=tcp://h:8786",
                    "--dask_npartitions=16"]  # fmt: skip
    mine = runner_args(cluster, 40, ["--runner=dask", "--dask_partition_size=5", "--dask_client_address=tcp://o:1"])
    assert mine == ["--dask_partition_size=5", "--dask_client_address=tcp://o:1", f"--runner={DASK_RUNNER}"]


def test_missing_dask_says_how_to_install(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    with pytest.raises(DaskError, match=r"pip install 'dask\[distributed\]'"):
        require_dask()
    (tmp_path / "in").mkdir()
    code = cli_main(["preprocess", "--dataset", "folder", "--input", str(tmp_path / "in"),
                     "--output", str(tmp_path / "out"), "--runner", "dask"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "dask[distributed]" in err and "make setup" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_dask_address_needs_the_dask_runner(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    code = cli_main(["preprocess", "--dataset", "folder", "--input", str(tmp_path / "in"), "--output",
                     str(tmp_path / "out"), "--runner", "FlinkRunner", "--dask-address", "tcp://h:1"])  # fmt: skip
    assert code == 2 and "needs --runner dask" in capsys.readouterr().err


def test_pipeline_run_flags_put_only_preprocess_on_dask():
    ns = argparse.Namespace(workers=2, runner="dask", dask_address="tcp://h:8786", extra=["--x=1"])
    assert _preprocess_options(ns) == {"workers": 2, "runner": "dask", "dask_address": "tcp://h:8786"}
    assert _beam_args(ns) == ["--x=1"]  # TFX's own Beam components stay on the local runner
    flink = argparse.Namespace(workers=None, runner="FlinkRunner", dask_address=None, extra=[])
    assert _preprocess_options(flink) == {} and _beam_args(flink) == ["--runner=FlinkRunner"]
    with pytest.raises(CommandError, match="needs --runner dask"):
        _preprocess_options(argparse.Namespace(workers=None, runner=None, dask_address="tcp://h:1", extra=[]))


def test_pipeline_run_passes_detect_max_side_to_preprocess_only_when_given(capsys):
    from keras_au.cli import build_parser

    parser = build_parser()
    given = parser.parse_args(["pipeline", "run", "--data", "d", "--detect-max-side", "640"])
    assert _preprocess_options(given) == {"detect_max_side": 640}
    assert _preprocess_options(parser.parse_args(["pipeline", "run", "--data", "d"])) == {}  # cache keys kept
    with pytest.raises(SystemExit):
        parser.parse_args(["pipeline", "run", "--data", "d", "--detect-max-side", "0"])
    assert "expected a positive integer, got 0" in capsys.readouterr().err


def test_pipeline_run_passes_fixed_shards_to_preprocess_only_when_given(capsys):
    from keras_au.cli import build_parser

    parser = build_parser()
    given = parser.parse_args(["pipeline", "run", "--data", "d", "--shards", "2", "--workers", "2"])
    assert _preprocess_options(given) == {"workers": 2, "num_shards": 2}
    assert "num_shards" not in _preprocess_options(parser.parse_args(["pipeline", "run", "--data", "d"]))
    with pytest.raises(SystemExit):
        parser.parse_args(["pipeline", "run", "--data", "d", "--shards", "0"])
    assert "expected a positive integer, got 0" in capsys.readouterr().err
