"""Beam preprocessing end to end on a tiny BP4D layout of real-face frames (flow on, fast TV-L1)."""

import glob
import json
import os

import numpy as np
import pytest

from keras_au.au import dataset_aus
from keras_au.data.schema import decode_flow, read_examples
from keras_au.datasets import fold_of
from keras_au.geometry.alignment import TEMPLATE_5PTS, TEMPLATE_INTEROCULAR, five_points
from pipeline.beam.preprocess import run_preprocess

pytestmark = pytest.mark.slow

# AU columns of the CSV header: 0(frame),1,2,4,6,7,10,12,14,15,17,23,24,27 (27 is not a BP4D AU: dropped)
F001_ROWS = [f"{fr},1,9,0,0,0,0,1,0,0,0,0,0,1" for fr in (100, 101, 102, 103)] + ["105,0,0,0,0,0,0,0,0,0,0,0,0,0"]
M011_ROWS = [f"{fr},0,1,0,0,0,0,0,0,0,0,0,0,9" for fr in range(4)]


@pytest.fixture(scope="module")
def bp4d_run(tmp_path_factory, bp4d_layout):
    tmp = tmp_path_factory.mktemp("bp4d")
    root = bp4d_layout(
        tmp / "BP4D",
        {"F001": (5, True, 100), "M011": (4, False, 0), "F007": (1, True, 0)},
        labels={"F001": F001_ROWS, "M011": M011_ROWS},
        prefix="2DFaces",
    )
    out = str(tmp / "out")
    report = run_preprocess("bp4d", root, out, flow=True, workers=1, tvl1="test", progress=False)
    records = read_examples(os.path.join(out, "fold-*", "bp4d-*.tfrecord.gz"))
    return root, out, report, {(r["subject"].decode(), r["frame"][0]): r for r in records}, records


def test_report_accounting(bp4d_run):
    _, out, report, by_key, records = bp4d_run
    assert report["frames_read"] == 10 == report["examples_written"] == len(records) == len(by_key)
    assert report["skipped"] == {} and report["accounting_ok"]
    assert report["flow_pairs"] == 3  # F001 100->103, 101->104; M011 0->3
    # F001 frame 104 and the unlabeled F007 frame have no label row; F001's row 105 has no frame
    assert report["labels"] == {"label_missing": 2, "label_without_frame": 1}
    assert report["counters"]["keras_au:frames_read"] == 10
    assert os.path.getsize(os.path.join(out, "dead_letter.jsonl")) == 0
    saved = json.load(open(os.path.join(out, "report.json")))
    assert saved["examples_written"] == 10 and saved["timings"]["frames_per_s"] > 0
    issues = [json.loads(line) for line in open(os.path.join(out, "label_issues.jsonl"))]
    f001 = next(i for i in issues if i["subject"] == "F001")
    assert f001["label_missing"] == [104] and f001["label_without_frame"] == [105]


def test_records_labels_and_identity(bp4d_run):
    _, _, _, by_key, _ = bp4d_run
    assert sorted(k for k in by_key if k[0] == "F001") == [("F001", f) for f in range(100, 105)]
    first = by_key[("F001", 100)]
    assert first["au_ids"] == list(dataset_aus("bp4d"))
    labels = dict(zip(first["au_ids"], first["au_labels"]))
    assert labels[1] == 1 and labels[2] == -1 and labels[12] == 1 and labels[4] == 0  # 9 -> -1
    assert first["labeled"] == [1] and first["sequence"] == b"F001/T1" and first["dataset"] == b"bp4d"
    missing = by_key[("F001", 104)]
    assert missing["au_labels"] == [-1] * 12 and missing["labeled"] == [0]
    assert dict(zip(by_key[("M011", 0)]["au_ids"], by_key[("M011", 0)]["au_labels"]))[2] == 1


def test_aligned_faces_and_landmarks(bp4d_run):
    import cv2

    _, _, _, by_key, _ = bp4d_run
    for rec in by_key.values():
        img = cv2.imdecode(np.frombuffer(rec["image"], np.uint8), cv2.IMREAD_COLOR)
        assert img.shape == (200, 200, 3)
        assert rec["has_landmarks"] == [1]
        lm = np.array(rec["landmarks"], np.float32).reshape(68, 2)
        assert lm.min() > 0 and lm.max() < 200
        # aligned: eyes level, template inter-ocular distance, near the template's eye positions
        eyes = five_points(lm)[:2]
        assert abs(eyes[0, 1] - eyes[1, 1]) < 1.0
        assert abs(eyes[1, 0] - eyes[0, 0] - TEMPLATE_INTEROCULAR) < 1.5
        assert np.abs(eyes - TEMPLATE_5PTS[:2]).max() < 6.0
        # the face is where the landmarks say: the face region is brighter/more textured than the grey border
        assert img[int(lm[:, 1].min()) : int(lm[:, 1].max()), int(lm[:, 0].min()) : int(lm[:, 0].max())].std() > 20


def test_flow_moves_at_the_mouth_only(bp4d_run):
    _, _, _, by_key, _ = bp4d_run
    rec = by_key[("F001", 100)]
    assert rec["has_flow"] == [1] and rec["flow_size"] == [100]
    flow = decode_flow(rec["flow"], 100)  # grid 100x100, values in 200x200-frame pixels
    lm = np.array(rec["landmarks"]).reshape(68, 2) / 2.0  # to grid coordinates
    mx, my = lm[48:68].mean(0).astype(int)
    mouth = flow[my - 4 : my + 5, mx - 6 : mx + 7]
    brow_y = int(lm[17:27, 1].min()) - 6
    forehead = flow[max(0, brow_y - 6) : brow_y, int(lm[17, 0]) : int(lm[26, 0])]
    # 3 frames x 0.5 source px x alignment scale (~1.4): ~2 px downwards at the mouth
    assert mouth[..., 1].mean() > 1.0, mouth[..., 1].mean()
    assert np.abs(mouth[..., 0]).mean() < 0.5
    assert np.abs(forehead).mean() < 0.3, np.abs(forehead).mean()


def test_static_pair_has_near_zero_flow_and_sequence_ends_have_none(bp4d_run):
    _, _, _, by_key, _ = bp4d_run
    static = by_key[("M011", 0)]
    assert static["has_flow"] == [1]
    assert np.abs(decode_flow(static["flow"], 100)).mean() < 0.05
    for key in [("F001", 102), ("F001", 103), ("F001", 104), ("M011", 1), ("F007", 0)]:
        assert by_key[key]["has_flow"] == [0] and by_key[key]["flow"] == b"", key


def test_folds_are_the_standard_parts_and_subject_disjoint(bp4d_run):
    _, out, report, _, _ = bp4d_run
    seen = {}
    for k in range(3):
        recs = read_examples(os.path.join(out, f"fold-{k}", "bp4d-*.tfrecord.gz"))
        subjects = {r["subject"].decode() for r in recs}
        assert all(r["fold"] == [k] for r in recs)
        assert all(fold_of("bp4d", s) == k for s in subjects)
        seen[k] = subjects
        assert report["folds"][str(k)]["subject_ids"] == sorted(subjects)
    assert seen == {0: {"F001"}, 1: {"M011"}, 2: {"F007"}}


def test_rerun_replaces_instead_of_duplicating(bp4d_run):
    root, out, _, _, _ = bp4d_run
    other = os.path.join(out, "fold-0", "disfa-00000-of-00001.tfrecord.gz")  # another dataset's shard stays
    open(other, "wb").close()
    report = run_preprocess("bp4d", root, out, flow=False, workers=2, progress=False)
    assert report["accounting_ok"] and report["examples_written"] == 10
    records = read_examples(os.path.join(out, "fold-*", "bp4d-*.tfrecord.gz"))
    keys = [(r["subject"], r["frame"][0]) for r in records]
    assert len(keys) == len(set(keys)) == 10
    assert all(r["has_flow"] == [0] for r in records)  # the new run's records, not the old ones
    assert os.path.exists(other)
    assert not glob.glob(os.path.join(out, ".staging-*"))


def test_fixed_shards_are_the_same_files_in_the_same_order_on_every_run(bp4d_run, tmp_path):
    import tensorflow as tf

    root = bp4d_run[0]
    runs = []
    for name in ("a", "b"):
        out = str(tmp_path / name)
        report = run_preprocess("bp4d", root, out, flow=False, workers=2, num_shards=2, progress=False)
        assert report["examples_written"] == 10
        runs.append({os.path.relpath(f, out): [r.numpy() for r in tf.data.TFRecordDataset(f, compression_type="GZIP")]
                     for f in sorted(glob.glob(os.path.join(out, "fold-*", "bp4d-*.tfrecord.gz")))})
    assert runs[0] == runs[1] and sum(len(v) for v in runs[0].values()) == 10  # same bytes, same order
    for shard in runs[0]:
        records = read_examples(os.path.join(str(tmp_path / "a"), shard))
        keys = [f"{r['subject'].decode()}|{r['sequence'].decode()}|{r['frame'][0]}" for r in records]
        assert keys == sorted(keys)  # key order, whatever order the workers finished in
