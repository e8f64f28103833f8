"""DISFA end to end: MJPG videos of a real face, 1-based intensity files, >= 2 positive, frame step, flow on."""

import json
import os

import pytest

from keras_au.au import dataset_aus
from keras_au.data.schema import read_examples
from pipeline.beam.preprocess import run_preprocess

pytestmark = pytest.mark.slow

AU1 = [(1, 0), (2, 1), (3, 2), (4, 3), (5, 5), (6, 0), (7, 0), (9, 4)]  # frame 9 does not exist (7 frames)
AU4 = [(fr, 0) for fr in (1, 2, 4, 5, 6, 7)]  # no line for frame 3
AU6 = [(fr, 1) for fr in range(1, 8)] + [("x", "y")]  # one unparsable line


@pytest.fixture(scope="module")
def disfa_run(tmp_path_factory, disfa_layout):
    tmp = tmp_path_factory.mktemp("disfa")
    root = disfa_layout(
        tmp / "DISFA",
        {"SN001": 7, "SN003": 4},
        labels={"SN001": {1: AU1, 4: AU4, 6: AU6}, "SN099": {1: [(1, 3), (2, 3), (3, 0)]}},
    )
    (tmp / "DISFA" / "Videos_LeftCamera" / "LeftVideoSN002_comp.avi").write_text("not a video")
    out = str(tmp / "out")
    report = run_preprocess("disfa", root, out, flow=True, frame_step=2, tvl1="test", progress=False)
    records = read_examples(os.path.join(out, "fold-*", "disfa-*.tfrecord.gz"))
    return out, report, {(r["subject"].decode(), r["frame"][0]): r for r in records}


def test_accounting_frame_step_and_flow_pairs(disfa_run):
    out, report, by_key = disfa_run
    # SN001: frames 0 2 4 6; SN003: 0 2; SN002 cannot be opened
    assert sorted(by_key) == [("SN001", 0), ("SN001", 2), ("SN001", 4), ("SN001", 6), ("SN003", 0), ("SN003", 2)]
    assert report["frames_read"] == 7 and report["examples_written"] == 6
    assert report["skipped"] == {"video_read_error": 1} and report["accounting_ok"]
    assert report["flow_pairs"] == 3  # SN001 0->3, 2->5; SN003 0->3
    assert [by_key[("SN001", f)]["has_flow"][0] for f in (0, 2, 4, 6)] == [1, 1, 0, 0]
    assert [by_key[("SN003", f)]["has_flow"][0] for f in (0, 2)] == [1, 0]
    dead = [json.loads(x) for x in open(os.path.join(out, "dead_letter.jsonl"))]
    assert [(os.path.basename(d["path"]), d["reason"]) for d in dead] == [
        ("LeftVideoSN002_comp.avi", "video_read_error")
    ]


def test_intensity_two_or_more_is_positive_with_one_based_frames(disfa_run):
    _, _, by_key = disfa_run
    aus = list(dataset_aus("disfa"))
    labels = {f: dict(zip(aus, by_key[("SN001", f)]["au_labels"])) for f in (0, 2, 4, 6)}
    # video frame f <- label line f+1: intensities 0, 2, 5, 0 for AU1
    assert [labels[f][1] for f in (0, 2, 4, 6)] == [0, 1, 1, 0]
    assert all(labels[f][2] == -1 for f in labels)  # no AU2 file
    assert [labels[f][4] for f in (0, 2, 4, 6)] == [0, -1, 0, 0]  # no AU4 line for label frame 3
    assert all(labels[f][6] == 0 for f in labels)  # intensity 1 < 2
    assert by_key[("SN003", 0)]["au_labels"] == [-1] * 8 and by_key[("SN003", 0)]["labeled"] == [0]


def test_label_issues_and_folds(disfa_run):
    out, report, by_key = disfa_run
    # SN001's line for frame 9 (video has 7) + SN099's 3 lines without a video
    assert report["labels"]["label_without_frame"] == 4
    assert report["labels"]["label_missing"] == 2  # SN003 has no labels
    assert report["notes"]["listing_bad_label_rows"] == 1
    assert by_key[("SN001", 0)]["fold"] == [0] and by_key[("SN003", 0)]["fold"] == [2]
    assert read_examples(os.path.join(out, "fold-1", "disfa-*.tfrecord.gz")) == []
    issues = [json.loads(x) for x in open(os.path.join(out, "label_issues.jsonl"))]
    assert any(i.get("reason") == "no_video_for_labels" and i["rows"] == 3 for i in issues)
    assert next(i for i in issues if i.get("subject") == "SN001")["label_without_frame"] == [8]
