"""Bad input is counted and reported, never fatal: the accounting identity holds with broken files mixed in."""

import json
import os

import cv2
import numpy as np
import pytest

from keras_au.data.schema import read_examples
from pipeline.beam.preprocess import run_preprocess

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def messy_folder(tmp_path_factory, astronaut, grace_hopper, talking_frames, write_rgb):
    root = tmp_path_factory.mktemp("messy") / "media"
    good = str(root / "good")
    write_rgb(os.path.join(good, "astronaut.jpg"), astronaut)
    grey = cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY)
    assert cv2.imwrite(os.path.join(good, "grey.png"), grey)
    rgba = np.dstack([astronaut[:, :, ::-1], np.full(astronaut.shape[:2], 255, np.uint8)])
    assert cv2.imwrite(os.path.join(good, "rgba.png"), rgba)
    h = 400
    grace = cv2.resize(grace_hopper, (int(grace_hopper.shape[1] * h / grace_hopper.shape[0]), h))
    both = np.hstack([cv2.resize(astronaut, (h, h)), grace])
    write_rgb(str(root / "pair.jpg"), both)  # two faces: the largest is kept
    bad = root / "bad"
    bad.mkdir()
    (bad / "text.jpg").write_text("this is not a JPEG")
    ok, jpg = cv2.imencode(".jpg", astronaut)
    (bad / "truncated.jpg").write_bytes(jpg.tobytes()[: len(jpg) // 2])
    (bad / "empty.jpg").write_bytes(b"")
    write_rgb(str(bad / "noface.png"), np.full((240, 320, 3), 128, np.uint8))
    write_rgb(str(bad / "tiny.jpg"), cv2.resize(astronaut, (200, 200), interpolation=cv2.INTER_AREA))  # face < 40 px
    (bad / "broken.avi").write_text("not a video")
    video = str(root / "clip" / "truncated.avi")
    os.makedirs(os.path.dirname(video))
    writer = cv2.VideoWriter(video, cv2.VideoWriter_fourcc(*"MJPG"), 20, (512, 512))
    for f in talking_frames(6):
        writer.write(np.ascontiguousarray(f[:, :, ::-1]))
    writer.release()
    data = open(video, "rb").read()
    open(video, "wb").write(data[: int(len(data) * 0.55)])  # the container still announces 6 frames
    (root / "notes.txt").write_text("not media: ignored and counted")
    labels = root / "labels.csv"
    labels.write_text("file,AU1,AU2,AU12\ngood/astronaut.jpg,1,999,0\npair.jpg,0,1,1\nmissing.jpg,1,1,1\n")
    return str(root), str(labels)


@pytest.fixture(scope="module")
def messy_run(tmp_path_factory, messy_folder):
    root, labels = messy_folder
    out = str(tmp_path_factory.mktemp("messy_out"))
    report = run_preprocess("folder", root, out, flow=False, labels=labels, progress=False)
    return root, out, report


def test_accounting_identity_and_reasons(messy_run):
    root, out, report = messy_run
    skipped = report["skipped"]
    assert report["frames_read"] == report["examples_written"] + sum(skipped.values())
    assert report["accounting_ok"]
    assert skipped == {
        "undecodable": 2,  # text named .jpg, truncated JPEG
        "empty": 1,
        "no_face": 1,
        "tiny_face": 1,
        "video_read_error": 1,
    }
    video_frames = report["examples_written"] - 4  # astronaut, grey, rgba, pair
    assert 1 <= video_frames < 6  # the truncated clip decodes up to the damage
    assert report["notes"]["several_faces"] == 1
    assert report["notes"]["video_ended_early"] == 1
    assert report["notes"]["listing_ignored_files"] == 1  # notes.txt


def test_dead_letter_names_each_skip(messy_run):
    root, out, report = messy_run
    lines = [json.loads(x) for x in open(os.path.join(out, "dead_letter.jsonl"))]
    assert len(lines) == sum(report["skipped"].values())
    by_file = {os.path.relpath(x["path"], root): x["reason"] for x in lines}
    assert by_file == {
        "bad/text.jpg": "undecodable",
        "bad/truncated.jpg": "undecodable",
        "bad/empty.jpg": "empty",
        "bad/noface.png": "no_face",
        "bad/tiny.jpg": "tiny_face",
        "bad/broken.avi": "video_read_error",
    }
    assert all(x["message"] and "frame" in x for x in lines)


def test_grey_rgba_and_two_face_images_become_rgb_records(messy_run):
    root, out, report = messy_run
    records = read_examples(os.path.join(out, "fold-*", "folder-*.tfrecord.gz"))
    assert len(records) == report["examples_written"]
    stills = {r["sequence"].decode(): r for r in records if not r["sequence"].startswith(b"clip/")}
    assert set(stills) == {"good/astronaut.jpg", "good/grey.png", "good/rgba.png", "pair.jpg"}
    for rec in stills.values():
        img = cv2.imdecode(np.frombuffer(rec["image"], np.uint8), cv2.IMREAD_UNCHANGED)
        assert img.shape == (200, 200, 3) and rec["has_flow"] == [0]
    grey = cv2.imdecode(np.frombuffer(stills["good/grey.png"]["image"], np.uint8), cv2.IMREAD_COLOR)
    assert np.abs(grey[:, :, 0].astype(int) - grey[:, :, 2]).max() <= 3  # still grey after RGB conversion
    # subjects: first-level folder, or the stem of top-level files
    assert stills["good/grey.png"]["subject"] == b"good" and stills["pair.jpg"]["subject"] == b"pair"


def test_labels_csv_for_a_folder(messy_run):
    root, out, report = messy_run
    records = read_examples(os.path.join(out, "fold-*", "folder-*.tfrecord.gz"))
    by_seq = {r["sequence"].decode(): r for r in records}
    assert by_seq["good/astronaut.jpg"]["au_ids"] == [1, 2, 12]
    assert by_seq["good/astronaut.jpg"]["au_labels"] == [1, -1, 0]  # 999 -> -1
    assert by_seq["pair.jpg"]["au_labels"] == [0, 1, 1]
    assert by_seq["good/grey.png"]["au_labels"] == [-1, -1, -1] and by_seq["good/grey.png"]["labeled"] == [0]
    # grey, rgba and every video frame written had no row; missing.jpg's row has no file
    assert report["labels"]["label_missing"] == report["examples_written"] - 2
    assert report["labels"]["label_without_frame"] == 1
