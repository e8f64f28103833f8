"""Dataset readers on tiny hand-made layouts: they list files and parse labels, never decode pixels."""

import os

import pytest

from keras_au.au import dataset_aus
from keras_au.datasets import list_bp4d, list_dataset, list_disfa, list_emotionet, list_folder
from keras_au.datasets.bp4d import read_occurrence_csv
from keras_au.datasets.disfa import read_subject_labels
from keras_au.datasets.records import au_number, occurrence, read_au_csv

BP4D_HEADER = "0,1,2,3,4,5,6,7,9,10,11,12,13,14,15,16,17,18,19,20,22,23,24,27\n"


def touch(path, text=""):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    return path


def bp4d_row(frame, au_values: dict, default="0"):
    cols = BP4D_HEADER.strip().split(",")[1:]
    return ",".join([str(frame)] + [str(au_values.get(int(c), default)) for c in cols]) + "\n"


@pytest.mark.parametrize("prefix", ["", "2DFaces"])
def test_bp4d_layout_labels_and_folds(tmp_path, prefix):
    root = str(tmp_path)
    for n in (5, 6, 7):
        touch(os.path.join(root, prefix, "F001", "T1", f"{n:04d}.jpg"))
    touch(os.path.join(root, prefix, "F001", "T1", "Thumbs.db"))
    touch(os.path.join(root, prefix, "M011", "T8", "0001.jpg"))
    rows = bp4d_row(5, {1: 1, 2: 9, 27: 1}) + bp4d_row(6, {4: 1}) + bp4d_row(9, {})
    touch(os.path.join(root, "AUCoding", "AU_OCC", "F001_T1.csv"), BP4D_HEADER + rows)
    touch(os.path.join(root, "AUCoding", "AU_OCC", "F002_T3.csv"), BP4D_HEADER + bp4d_row(1, {}) + bp4d_row(2, {}))
    listing = list_bp4d(root)
    items = {i.sequence: i for i in listing.items}
    assert set(items) == {"F001/T1", "M011/T8"}
    f001 = items["F001/T1"]
    assert [f.index for f in f001.frames] == [5, 6, 7] and f001.kind == "frames"
    assert f001.au_ids == dataset_aus("bp4d") and f001.fold == 0 and items["M011/T8"].fold == 1
    lab5 = dict(zip(f001.au_ids, f001.labels[5]))
    assert lab5[1] == 1 and lab5[2] == -1 and lab5[4] == 0  # 9 -> -1; AU27 is not kept
    assert len(f001.labels[5]) == 12 and dict(zip(f001.au_ids, f001.labels[6]))[4] == 1
    assert 7 not in f001.labels and 9 in f001.labels  # missing row / row without frame: the pipeline counts them
    assert items["M011/T8"].labels == {} and items["M011/T8"].labeled
    assert listing.notes["sequences_without_labels"] == 1
    assert listing.label_without_frame == 2 and listing.orphans[0]["label_file"].endswith("F002_T3.csv")


def test_bp4d_bad_label_file_is_reported_not_fatal(tmp_path):
    root = str(tmp_path)
    touch(os.path.join(root, "F001", "T1", "0001.jpg"))
    touch(os.path.join(root, "AUCoding", "AU_OCC", "F001_T1.csv"), "frame,AU1\n1,1\n")
    listing = list_bp4d(root)
    assert listing.items[0].labels == {} and listing.notes["unreadable_label_files"] == 1
    with pytest.raises(ValueError, match="first header cell"):
        read_occurrence_csv(os.path.join(root, "AUCoding", "AU_OCC", "F001_T1.csv"), (1,))
    with pytest.raises(FileNotFoundError):
        list_bp4d(str(tmp_path / "missing"))


def test_bp4d_unnumbered_frames_fall_back_to_positions(tmp_path):
    root = str(tmp_path)
    for name in ("a.jpg", "b.jpg"):
        touch(os.path.join(root, "F001", "T2", name))
    listing = list_bp4d(root)
    assert [f.index for f in listing.items[0].frames] == [0, 1]
    assert listing.notes["unnumbered_sequences"] == 1


def test_disfa_one_based_intensities(tmp_path):
    root = str(tmp_path)
    touch(os.path.join(root, "Videos_LeftCamera", "LeftVideoSN001_comp.avi"))
    touch(os.path.join(root, "Videos_RightCamera", "RightVideoSN001_comp.avi"))
    touch(os.path.join(root, "Videos_LeftCamera", "LeftVideoSN005_comp.avi"))
    ldir = os.path.join(root, "ActionUnit_Labels", "SN001")
    touch(os.path.join(ldir, "SN001_au1.txt"), "1,0\n2,1\n3,2\n4,5\n5,9\n")
    touch(os.path.join(ldir, "SN001_au12.txt"), "1,3\n2,3\nbad line\n")
    touch(os.path.join(ldir, "SN001_au5.txt"), "1,5\n")  # AU5 is not a DISFA-8 AU: ignored
    touch(os.path.join(root, "ActionUnit_Labels", "SN030", "SN030_au1.txt"), "1,0\n2,0\n")
    listing = list_disfa(root)
    items = {i.subject: i for i in listing.items}
    assert set(items) == {"SN001", "SN005"}
    sn1 = items["SN001"]
    assert sn1.kind == "video" and "Left" in sn1.video and sn1.fold == 0 and items["SN005"].fold == 2
    aus = dataset_aus("disfa")
    au1 = {fr: dict(zip(aus, v))[1] for fr, v in sn1.labels.items()}
    assert au1 == {0: 0, 1: 0, 2: 1, 3: 1, 4: -1}  # 1-based -> 0-based; >= 2 positive; 9 unknown
    au12 = {fr: dict(zip(aus, v))[12] for fr, v in sn1.labels.items()}
    assert au12 == {0: 1, 1: 1, 2: -1, 3: -1, 4: -1}
    assert listing.notes["bad_label_rows"] == 1 and listing.notes["sequences_without_labels"] == 1
    assert listing.label_without_frame == 2  # SN030 has labels but no video


def test_disfa_zero_based_files_are_kept(tmp_path):
    touch(str(tmp_path / "SN002_au1.txt"), "0,3\n1,0\n")
    labels, bad, files = read_subject_labels(str(tmp_path), (1, 2))
    assert labels == {0: (1, -1), 1: (0, -1)} and bad == 0 and len(files) == 1


def test_emotionet_csv_999_unknown_and_unlabeled(tmp_path):
    root = str(tmp_path / "emo")
    for name in ("a.jpg", "sub/b.png", "c.jpg"):
        touch(os.path.join(root, name))
    touch(os.path.join(root, "clip.mp4"))
    rows = ["URL,AU1,AU2,AU4,AU6,AU12,AU17,AU25", "a.jpg,1,999,0,0,1,0,1", "sub/b.png,0,0,999,1,0,0,0", "gone.jpg,1,1,1,1,1,1,1"]
    touch(os.path.join(root, "labels.csv"), "\n".join(rows) + "\n")
    listing = list_emotionet(root)  # the root's only CSV is used
    items = {i.sequence: i for i in listing.items}
    assert set(items) == {"a.jpg", "sub/b.png", "c.jpg"}  # the video is ignored (and counted)
    assert listing.notes["ignored_files"] == 1 and listing.labels_file.endswith("labels.csv")
    assert items["a.jpg"].au_ids == dataset_aus("emotionet")
    assert items["a.jpg"].labels == {0: (1, -1, 0, 0, 1, 0)}
    assert items["sub/b.png"].labels == {0: (0, 0, -1, 1, 0, 0)}
    assert items["c.jpg"].labels == {} and items["c.jpg"].labeled
    assert items["sub/b.png"].subject == "sub/b"  # each image is its own subject
    assert listing.label_without_frame == 1
    os.remove(os.path.join(root, "labels.csv"))
    unlabeled = list_emotionet(root)
    assert not any(i.labeled for i in unlabeled.items) and unlabeled.labels_file == ""


def test_folder_subjects_videos_and_frame_labels(tmp_path):
    root = str(tmp_path / "mine")
    touch(os.path.join(root, "alice", "day1", "x.jpg"))
    touch(os.path.join(root, "alice", "talk.mp4"))
    touch(os.path.join(root, "bob.png"))
    touch(os.path.join(root, "readme.md"))
    listing = list_folder(root)
    items = {i.sequence: i for i in listing.items}
    assert {k: (v.subject, v.kind) for k, v in items.items()} == {
        "alice/day1/x.jpg": ("alice", "image"),
        "alice/talk.mp4": ("alice", "video"),
        "bob.png": ("bob", "image"),
    }
    assert items["alice/talk.mp4"].video.endswith("talk.mp4") and not items["bob.png"].labeled
    assert items["bob.png"].au_ids == dataset_aus("bp4d") and listing.notes["ignored_files"] == 1
    rows = ["file,frame,1,12", "talk.mp4,0,1,0", "talk.mp4,5,0,1", "bob.png,0,1,1", "bob.png,3,1,1"]
    labels = touch(str(tmp_path / "labels.csv"), "\n".join(rows) + "\n")
    listing = list_folder(root, labels=labels, aus=(1, 2, 12))
    items = {i.sequence: i for i in listing.items}
    assert items["alice/talk.mp4"].labels == {0: (1, -1, 0), 5: (0, -1, 1)}
    assert items["bob.png"].labels == {0: (1, -1, 1)}
    assert listing.label_without_frame == 1  # bob.png is a still: its frame-3 row has no frame


def test_csv_helpers():
    assert [au_number(c) for c in ("AU1", "au01", "12", " AU 6 ", "file", "AU")] == [1, 1, 12, 6, None, None]
    assert [occurrence(v) for v in ("1", "0", "9", "999", "", "x", "1.0", "2")] == [1, 0, -1, -1, -1, -1, 1, -1]


def test_au_csv_requires_columns(tmp_path):
    with pytest.raises(ValueError, match="no AU columns"):
        read_au_csv(touch(str(tmp_path / "a.csv"), "file,comment\nx.jpg,hello\n"))
    with pytest.raises(ValueError, match="empty"):
        read_au_csv(touch(str(tmp_path / "b.csv"), ""))


def test_list_dataset_dispatch_and_errors(tmp_path):
    touch(str(tmp_path / "face.jpg"))
    assert len(list_dataset("folder", str(tmp_path)).items) == 1
    with pytest.raises(ValueError, match="unknown dataset"):
        list_dataset("affwild", str(tmp_path))
    with pytest.raises(ValueError, match="--labels"):
        list_dataset("bp4d", str(tmp_path), labels="x.csv")
    with pytest.raises(ValueError, match="no bp4d media found.*AU_OCC"):
        list_dataset("bp4d", str(tmp_path))  # a folder of images is not a BP4D layout
