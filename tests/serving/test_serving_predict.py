"""`keras-au predict` on real-face images, folders (with faceless/corrupt files) and a video."""

from __future__ import annotations

import csv
import json
import os

import numpy as np
import pytest

from keras_au.cli import main
from keras_au.inference.predict import columns

AU_NAMES = [f"AU{a:02d}" for a in (1, 2, 4, 6, 7, 10, 12, 14, 15, 17, 23, 24)]
EXPECTED_COLUMNS = (["frame", "timestamp", "face_id", "success", "confidence", "bbox_x0", "bbox_y0", "bbox_x1",
                     "bbox_y1"] + [f"{a}_p" for a in AU_NAMES] + [f"{a}_c" for a in AU_NAMES] + ["source", "reason"])


def _read(path: str) -> tuple[list[str], list[dict]]:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        return reader.fieldnames, list(reader)


def _predict(capsys, *args) -> dict:
    assert main(["predict", *args, "--quiet", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_folder_of_images_with_faceless_and_corrupt_files(version_dir, media, tmp_path, capsys):
    out = str(tmp_path / "images.csv")
    summary = _predict(capsys, media["images"], "--model", os.path.dirname(os.path.dirname(version_dir)),
                       "--out", out, "--plot", str(tmp_path / "images.png"), "--batch", "2")
    header, rows = _read(out)
    assert header == EXPECTED_COLUMNS == columns(AU_NAMES)
    by_file = {os.path.basename(r["source"]): r for r in rows}
    assert set(by_file) == {"astronaut.png", "hopper.jpg", "coffee.jpg", "corrupt.jpg", "empty.png"}
    assert summary["skipped_files"] == [os.path.join(media["images"], "notes.txt")]  # reported, not silent
    for name in ("astronaut.png", "hopper.jpg"):
        r = by_file[name]
        assert r["success"] == "1" and r["frame"] == "0" and float(r["timestamp"]) == 0.0 and r["face_id"] == "0"
        assert float(r["bbox_x1"]) > float(r["bbox_x0"]) and float(r["confidence"]) > 0
        probs = np.array([float(r[f"{a}_p"]) for a in AU_NAMES])
        assert np.all((probs >= 0) & (probs <= 1))
        assert [int(r[f"{a}_c"]) for a in AU_NAMES] == (probs >= 0.5).astype(int).tolist()
    assert (by_file["coffee.jpg"]["success"], by_file["coffee.jpg"]["reason"]) == ("0", "no_face")
    assert (by_file["corrupt.jpg"]["success"], by_file["corrupt.jpg"]["reason"]) == ("0", "undecodable")
    assert (by_file["empty.png"]["success"], by_file["empty.png"]["reason"]) == ("0", "empty")
    assert by_file["coffee.jpg"]["AU01_p"] == "" and by_file["corrupt.jpg"]["bbox_x0"] == ""
    assert summary["failures"] == {"no_face": 1, "undecodable": 1, "empty": 1}
    assert open(tmp_path / "images.png", "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_all_backends_agree_on_the_same_faces(version_dir, stand_in_export, media, tmp_path, capsys):
    """Export dir (Keras), serving version dir (SavedModel) and the fp32 TFLite give the same rows."""
    from keras_au.inference.tflite import FaceArrays, export_tflite
    from serving.faces import packaged_faces

    images = [os.path.join(media["images"], n) for n in ("astronaut.png", "hopper.jpg")]
    tfl = export_tflite(version_dir, str(tmp_path / "tfl"), ["fp32"], FaceArrays(*packaged_faces(copies=1)))
    results = []
    for model in (stand_in_export, version_dir, tfl["variants"]["fp32"]["path"]):
        out = str(tmp_path / f"{len(results)}.csv")
        _predict(capsys, *images, "--model", model, "--out", out)
        results.append(np.array([[float(r[f"{a}_p"]) for a in AU_NAMES] for r in _read(out)[1]]))
    np.testing.assert_allclose(results[0], results[1], atol=2e-4)  # 4-decimal CSV rounding
    np.testing.assert_allclose(results[2], results[1], atol=2e-4)


def test_all_faces_gives_a_row_per_face(version_dir, astronaut, grace_hopper, tmp_path, capsys):
    import cv2

    hop = cv2.resize(grace_hopper, (427, 500))[:, :, ::-1]
    both = np.full((512, 512 + 427, 3), 128, np.uint8)
    both[:, :512] = astronaut[:, :, ::-1]
    both[6:506, 512:] = hop
    path = str(tmp_path / "two.png")
    cv2.imwrite(path, both)
    _predict(capsys, path, "--model", version_dir, "--out", str(tmp_path / "one.csv"))
    _predict(capsys, path, "--model", version_dir, "--out", str(tmp_path / "all.csv"), "--all-faces")
    one, every = _read(str(tmp_path / "one.csv"))[1], _read(str(tmp_path / "all.csv"))[1]
    assert len(one) == 1 and len(every) == 2
    assert sorted(r["face_id"] for r in every) == ["0", "1"]
    assert one[0]["bbox_x0"] == every[0]["bbox_x0"]  # the default row is the largest face
    assert float(every[0]["bbox_x0"]) > 512  # Grace Hopper's face is larger than the astronaut's


def test_video_rows_track_faces_and_mark_the_faceless_stretch(version_dir, media, tmp_path, capsys):
    from serving_media import VIDEO_FPS, VIDEO_SEGMENTS

    out = str(tmp_path / "video.csv")
    summary = _predict(capsys, media["video"], media["bad_video"], media["truncated"], "--model", version_dir,
                       "--out", out,
                       "--plot", str(tmp_path / "video.png"), "--batch", "8")
    header, rows = _read(out)
    assert header == EXPECTED_COLUMNS
    video = [r for r in rows if r["source"] == media["video"]]
    n = sum(k for _, k in VIDEO_SEGMENTS)
    assert [int(r["frame"]) for r in video] == list(range(n))  # one row per frame, in order
    t = np.array([float(r["timestamp"]) for r in video])
    assert np.all(np.diff(t) > 0) and t[-1] == pytest.approx((n - 1) / VIDEO_FPS, abs=1e-3)
    ok = np.array([r["success"] == "1" for r in video])
    a, f, _ = (k for _, k in VIDEO_SEGMENTS)
    assert ok[:a].all() and ok[a + f :].all(), ok  # faces in both face segments, every frame
    assert not ok[a : a + f].any() and {r["reason"] for r in video[a : a + f]} == {"no_face"}
    # tracking: far fewer detector runs than frames with a face
    assert summary["detector_runs"] < n
    bad = [r for r in rows if r["source"] == media["bad_video"]]
    assert len(bad) == 1 and bad[0]["success"] == "0" and bad[0]["reason"] == "video_read_error"
    cut = [r for r in rows if r["source"] == media["truncated"]]  # half the file: some frames, then a note
    assert 0 < len(cut) - 1 < n and cut[-1]["reason"] == "video_ended_early" and cut[0]["success"] == "1"
    assert [int(r["frame"]) for r in cut] == list(range(len(cut)))
    assert os.path.getsize(tmp_path / "video.png") > 10_000


def test_missing_inputs_and_models_are_user_errors(version_dir, tmp_path, capsys):
    assert main(["predict", str(tmp_path / "nothing.jpg"), "--model", version_dir, "--out",
                 str(tmp_path / "x.csv"), "--quiet"]) == 0  # a missing file is a success=0 row, not a crash
    rows = _read(str(tmp_path / "x.csv"))[1]
    assert rows[0]["success"] == "0" and rows[0]["reason"] == "missing"
    capsys.readouterr()
    assert main(["predict", str(tmp_path), "--model", str(tmp_path / "no_model"), "--out", "x.csv"]) == 2
    assert "no such model" in capsys.readouterr().err
    empty = tmp_path / "empty_dir"
    empty.mkdir()
    assert main(["predict", str(empty), "--model", version_dir, "--out", str(tmp_path / "y.csv")]) == 2
