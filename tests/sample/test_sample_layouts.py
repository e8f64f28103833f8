"""Layout writers: parse what was written with plain csv/text reading."""

from __future__ import annotations

import csv
import os

import numpy as np

from keras_au.sample import layouts


def test_bp4d_sequence_frames_and_occurrence_csv(tmp_path, astronaut):
    frames = [astronaut[:64, :64].copy() for _ in range(5)]
    occ = np.array([[0, 1], [1, 1], [9, 9], [1, 0], [0, 9]])
    folder, label = layouts.write_bp4d_sequence(str(tmp_path), "F001", "T3", frames, 1200, (1, 12), occ)
    assert sorted(os.listdir(folder)) == [f"{n}.jpg" for n in range(1200, 1205)]
    assert label == os.path.join(str(tmp_path), "BP4D", "AUCoding", "AU_OCC", "F001_T3.csv")
    rows = list(csv.reader(open(label, newline="")))
    assert rows[0] == ["0", "1", "12"]
    assert [int(r[0]) for r in rows[1:]] == list(range(1200, 1205))
    np.testing.assert_array_equal(np.array([[int(v) for v in r[1:]] for r in rows[1:]]), occ)


def test_disfa_labels_and_video(tmp_path):
    levels = np.array([[0, 3], [2, 5], [1, 0]])
    paths = layouts.write_disfa_labels(str(tmp_path), "SN002", (1, 26), levels)
    assert paths[1].endswith(os.path.join("ActionUnit_Labels", "SN002", "SN002_au26.txt"))
    lines = open(paths[1]).read().splitlines()
    assert lines == ["1,3", "2,5", "3,0"]  # frames numbered from 1, as in DISFA
    import cv2

    writer = layouts.DisfaVideoWriter(str(tmp_path), "SN002", 64)
    for i in range(7):
        writer.write(np.full((64, 64, 3), 30 * i, np.uint8))
    writer.close()
    assert writer.path.endswith(os.path.join("Videos_LeftCamera", "LeftVideoSN002_comp.avi"))
    cap = cv2.VideoCapture(writer.path)
    count = 0
    while cap.read()[0]:
        count += 1
    assert count == 7
