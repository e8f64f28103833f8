"""Beam flags: local multi-process defaults from --workers, the caller's flags always win."""

from pipeline.beam.preprocess import pipeline_args


def test_workers_choose_the_direct_running_mode():
    assert pipeline_args(1) == ["--direct_num_workers=1", "--direct_running_mode=in_memory"]
    assert pipeline_args(2) == ["--direct_num_workers=2", "--direct_running_mode=multi_processing"]


def test_callers_flags_win_and_remote_runners_are_untouched():
    four = pipeline_args(1, ["--direct_num_workers=4"])
    assert four == ["--direct_num_workers=4", "--direct_running_mode=multi_processing"]
    assert pipeline_args(2, ["--direct_running_mode=multi_threading"])[0] == "--direct_running_mode=multi_threading"
    flink = ["--runner", "FlinkRunner", "--flink_master=localhost:8081"]
    assert pipeline_args(2, flink) == flink
