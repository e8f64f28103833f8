"""A tiny sample from local faces only (astronaut + Grace Hopper, two synthetic identities each): layouts, labels,
folds, determinism, skips."""

from __future__ import annotations

import csv
import filecmp
import json
import os

import numpy as np
import pytest

from keras_au.au import dataset_aus
from keras_au.sample import SampleSettings, bp4d_schedule, builder, ensure_sample, fetch_media, schedule
from keras_au.sample.catalog import LOCAL_SOURCE, Identity
from keras_au.sample.fetch import MediaSet

TINY = dict(local_only=True, bp4d_tasks=2, bp4d_frames=12, disfa_frames=16, variants=2)


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    return fetch_media(str(tmp_path_factory.mktemp("cache")), archives=())


@pytest.fixture(scope="module")
def sample(tmp_path_factory, media):
    out = tmp_path_factory.mktemp("s") / "sample"
    return ensure_sample(str(out), settings=SampleSettings(seed=5, **TINY), media=media, preview=True, progress=False)


def _manifest(paths) -> dict:
    return json.load(open(paths.manifest))


def _bp4d_labels(root: str) -> dict[str, list[list[str]]]:
    folder = os.path.join(root, "AUCoding", "AU_OCC")
    return {n: list(csv.reader(open(os.path.join(folder, n), newline=""))) for n in sorted(os.listdir(folder))}


def _subjects(m: dict) -> dict[str, tuple[str, int]]:
    """Subject name -> (identity, fold part) over both datasets."""
    return {s[k]: (i["identity"], i["fold_part"]) for i in m["identities"] for s in i["subjects"]
            for k in ("bp4d_subject", "disfa_subject") if s[k]}


def test_subjects_follow_the_standard_folds(sample):
    from keras_au.datasets.folds import STANDARD_PARTS

    m = _manifest(sample)
    ids = {i["identity"]: i for i in m["identities"]}
    assert set(ids) == {"astronaut", "grace_hopper"} and m["skipped"] == []

    def names(key):
        return [(s["bp4d_subject"], s["disfa_subject"]) for s in ids[key]["subjects"]], ids[key]["fold_part"]

    assert names("astronaut") == ([("F001", "SN002"), ("F018", "SN010")], 1)
    assert names("grace_hopper") == ([("F003", "SN013"), ("F005", "SN018")], 2)
    # Variant 0 is the photo as it is; the others change its resting shape and camera.
    assert ids["astronaut"]["subjects"][0]["variant"]["brow_height"] == 0
    assert ids["astronaut"]["subjects"][1]["variant"]["brow_height"] != 0
    # No face crosses folds: every subject of an identity sits in its identity's standard part.
    for subject, (_, part) in _subjects(m).items():
        dataset = "disfa" if subject.startswith("SN") else "bp4d"
        assert subject in STANDARD_PARTS[dataset][part - 1]
    assert m["seed"] == 5 and m["generation_seconds"] > 0
    assert "SYNTHETIC" in open(sample.readme).read()
    assert {os.path.basename(p) for p in sample.stills} == {"local__astronaut.png", "local__grace_hopper.jpg"}


def test_bp4d_csvs_match_the_schedules(sample):
    m = _manifest(sample)
    aus = dataset_aus("bp4d")
    labels = _bp4d_labels(sample.bp4d)
    clips = [c for c in m["clips"] if c["dataset"] == "bp4d"]
    assert len(clips) == 8 and len(labels) == 8
    nines = 0
    for c in clips:
        rows = labels[f"{c['subject']}_{c['task']}.csv"]
        assert rows[0] == ["0"] + [str(a) for a in aus]
        frames = [int(r[0]) for r in rows[1:]]
        assert frames == list(range(c["first_frame"], c["first_frame"] + c["frames"]))
        files = sorted(os.listdir(os.path.join(sample.bp4d, c["subject"], c["task"])))
        assert files == [f"{f:04d}.jpg" for f in frames]
        got = np.array([[int(v) for v in r[1:]] for r in rows[1:]])
        events = [schedule.AUEvent(**e) for e in c["events"]]
        scheduled = schedule.label_intensity(schedule.intensity_track(events, c["frames"], aus))
        levels = np.array(c["levels"])  # what each frame shows after the border taper and closure limit
        assert np.all(levels <= scheduled) and (levels < scheduled).sum() == c["label_below_schedule"]
        want = schedule.bp4d_occurrence(levels)
        for mark in c["unknown"]:
            for t in mark["frames"]:
                want[t, mark["au_columns"]] = 9
        # a base photo that already smiles: its AUs are unknown in every frame (catalog.BASE_AUS)
        shown = builder.BASE_AUS.get(tuple(c["still"].split("/", 1)), ())
        assert c["base_aus_unknown"] == [a for a in aus if a in shown]
        want[:, [aus.index(a) for a in shown if a in aus]] = 9
        np.testing.assert_array_equal(got, want)
        assert set(np.unique(got)) <= {0, 1, 9}
        nines += int((got == 9).sum())
    assert nines > 0 and any(r[1:].count("1") for rows in labels.values() for r in rows[1:])
    astronaut = [c for c in clips if c["still"] == "local/astronaut.png"]
    assert astronaut and all(c["base_aus_unknown"] == [6, 12] for c in astronaut)  # her photo smiles


def test_disfa_files_match_the_schedules(sample):
    import cv2

    m = _manifest(sample)
    aus = dataset_aus("disfa")
    for c in (c for c in m["clips"] if c["dataset"] == "disfa"):
        want = np.array(c["levels"])
        # The still's own AUs (Grace Hopper smiles slightly: B) are labeled in every frame, never a plain 0.
        for au, level in c["base_au_levels"].items():
            assert want[:, aus.index(int(au))].min() >= level
        for j, au in enumerate(aus):
            path = os.path.join(sample.disfa, "ActionUnit_Labels", c["subject"], f"{c['subject']}_au{au}.txt")
            rows = [line.split(",") for line in open(path).read().splitlines()]
            assert [int(r[0]) for r in rows] == list(range(1, c["frames"] + 1))
            assert [int(r[1]) for r in rows] == want[:, j].tolist()
        cap = cv2.VideoCapture(os.path.join(sample.root, c["video"]))
        count = 0
        while cap.read()[0]:
            count += 1
        assert count == c["frames"]
    assert any(e["peak"] >= schedule.DISFA_POSITIVE_MIN for c in m["clips"] for e in c["events"])


def test_frames_show_the_scheduled_motion(sample):
    """Frames with an AU at apex differ from the clip's AU-free frames far more than AU-free frames differ."""
    from keras_au.geometry import load_image

    m = _manifest(sample)
    c = next(c for c in m["clips"] if c["dataset"] == "bp4d" and any(e["peak"] >= 3 for e in c["events"]))
    aus = dataset_aus("bp4d")
    track = schedule.intensity_track([schedule.AUEvent(**e) for e in c["events"]], c["frames"], aus)
    folder = os.path.join(sample.bp4d, c["subject"], c["task"])
    frames = [load_image(os.path.join(folder, f"{c['first_frame'] + t:04d}.jpg")) for t in range(c["frames"])]
    quiet = [t for t in range(c["frames"]) if track[t].max() == 0]
    peak = int(np.argmax(track.max(axis=1)))
    assert track[peak].max() >= 3
    if quiet:
        ref = frames[quiet[0]].astype(float)
        assert np.abs(frames[peak] - ref).mean() > 1.5


def test_preview_is_written(sample):
    from keras_au.geometry import load_image
    from keras_au.sample.preview import COMBINATIONS, TILE
    from keras_au.sample.facs_motion import MOTION_AUS

    img = load_image(sample.preview)
    assert img.shape[0] == 28 + TILE * (len(MOTION_AUS) + len(COMBINATIONS))
    assert img.shape[1] > 4 * TILE


def test_same_seed_same_sample_and_reuse(tmp_path, sample, media):
    # ``sample`` rendered its clips in 2 processes (the default), ``again`` in one: the same bytes
    again = ensure_sample(str(tmp_path / "b"), settings=SampleSettings(seed=5, **TINY), media=media, progress=False,
                          workers=1)
    with open(sample.manifest) as f, open(again.manifest) as g:
        assert json.load(f)["clips"] == json.load(g)["clips"]
    assert _bp4d_labels(sample.bp4d) == _bp4d_labels(again.bp4d)
    cmp = filecmp.dircmp(sample.bp4d, again.bp4d)
    for sub in ("F001", "F003", "F018", "F005"):
        for task in os.listdir(os.path.join(sample.bp4d, sub)):
            a, b = os.path.join(sample.bp4d, sub, task), os.path.join(again.bp4d, sub, task)
            match, mismatch, errors = filecmp.cmpfiles(a, b, os.listdir(a), shallow=False)
            assert not mismatch and not errors and len(match) == len(os.listdir(a))
    assert not cmp.left_only and not cmp.right_only
    video = os.path.join("Videos_LeftCamera", "LeftVideoSN002_comp.avi")
    assert filecmp.cmp(os.path.join(sample.disfa, video), os.path.join(again.disfa, video), shallow=False)
    # Same settings: reused without rebuilding.
    stamp = os.path.getmtime(again.manifest)
    reused = ensure_sample(str(tmp_path / "b"), settings=SampleSettings(seed=5, **TINY), media=media, progress=False)
    assert os.path.getmtime(reused.manifest) == stamp
    # Another seed: other schedules.
    other = ensure_sample(str(tmp_path / "c"), settings=SampleSettings(seed=6, **TINY), media=media, progress=False)
    assert _bp4d_labels(other.bp4d) != _bp4d_labels(sample.bp4d)


def test_refuses_to_overwrite_a_foreign_folder(tmp_path, media):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError):
        ensure_sample(str(tmp_path / "mine"), settings=SampleSettings(**TINY), media=media, progress=False)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_bad_identity_images_are_skipped_with_reasons(tmp_path, media, astronaut, monkeypatch):
    import cv2

    files = {
        "tiny.png": cv2.resize(astronaut, (256, 256), interpolation=cv2.INTER_AREA),  # found, eyes ~21 px apart
        "blank.png": np.full((300, 300, 3), 128, np.uint8),
    }
    records = [f for f in media.files if f["file"] == "astronaut.png"]
    for name, img in files.items():
        path = str(tmp_path / name)
        cv2.imwrite(path, img[:, :, ::-1])
        records.append({"source": LOCAL_SOURCE, "file": name, "path": path, "sha256": "", "role": "identity:bad"})
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 this is not a JPEG")
    broken = str(tmp_path / "broken.jpg")
    records.append({"source": LOCAL_SOURCE, "file": "broken.jpg", "path": broken, "sha256": "", "role": "identity:bad"})
    fake = MediaSet(root=media.root, files=records)
    monkeypatch.setattr(builder, "IDENTITIES", (
        Identity("bad", "M", tuple((LOCAL_SOURCE, n) for n in ("tiny.png", "blank.png", "broken.jpg", "missing.jpg"))),
        Identity("astronaut", "F", ((LOCAL_SOURCE, "astronaut.png"),)),
    ))  # fmt: skip
    paths = ensure_sample(str(tmp_path / "out"), settings=SampleSettings(**TINY), media=fake, progress=False)
    m = _manifest(paths)
    reasons = {s.get("file"): s["reason"] for s in m["skipped"]}
    assert reasons == {"tiny.png": "tiny_face", "blank.png": "no_face", "broken.jpg": "undecodable",
                       "missing.jpg": "not_fetched", None: "no_usable_still"}  # fmt: skip
    assert [i["identity"] for i in m["identities"]] == ["astronaut"]
    assert m["identities"][0]["subjects"][0]["bp4d_subject"] == "F001"


def test_cli_local_only(tmp_path, capsys):
    from keras_au.cli import main

    out = tmp_path / "cli-sample"
    cache = str(tmp_path / "cache")
    assert main(["sample-data", "--local-only", "--cache", cache, "--out", str(out), "--seed", "1", "--json",
                 "--bp4d-tasks", "1", "--bp4d-frames", "8", "--disfa-frames", "8"]) == 0
    info = json.loads(capsys.readouterr().out)
    # By default the variants fill the two identities' partitions: 14 BP4D and 9 DISFA names each.
    assert info["counts"]["subjects"] == 28 and info["counts"]["bp4d_subjects"] == 28
    assert info["counts"]["disfa_subjects"] == 18 and info["bp4d"] == str(out / "BP4D")
    assert main(["sample-data", "--local-only", "--cache", cache, "--out", str(tmp_path)]) == 2
    assert "not a keras-au sample" in capsys.readouterr().err
    # bigger clips for held-out-identity studies: 3 sequences of 8 frames per subject
    more = tmp_path / "more"
    assert main(["sample-data", "--local-only", "--cache", cache, "--out", str(more), "--bp4d-tasks", "3",
                 "--bp4d-frames", "8", "--disfa-frames", "8", "--variants", "1", "--json"]) == 0
    counts = json.loads(capsys.readouterr().out)["counts"]
    assert counts["bp4d_sequences"] == 6 and counts["bp4d_frames"] == 48 and counts["disfa_frames"] == 16
    assert main(["sample-data", "--local-only", "--cache", cache, "--out", str(more), "--bp4d-tasks", "0"]) == 2
    assert "--bp4d-tasks must be >= 1" in capsys.readouterr().err
    assert main(["sample-data", "--local-only", "--cache", cache, "--out", str(more), "--variants", "0"]) == 2
    assert "--variants must be >= 1" in capsys.readouterr().err


def test_still_whose_frame_is_not_redetected_is_skipped(detector, astronaut):
    from keras_au.geometry.faces import Detection
    from keras_au.sample.synth import SkipStill, prepare_still

    class FindsOnce:
        """A detector that finds the face in the photo but not in the synthesised frame."""

        calls = 0

        def detect(self, image):
            self.calls += 1
            if self.calls == 1:
                return detector.detect(image)
            return Detection(faces=(), image_size=image.shape[:2], reason="no_face")

    with pytest.raises(SkipStill) as err:
        prepare_still(astronaut, FindsOnce())
    assert err.value.reason == "not_redetected"
    assert prepare_still(astronaut, detector).eye_distance > 40


def test_label_files_parse_back_through_the_dataset_readers(sample):
    """The preprocessing readers see exactly the generated schedules (BP4D 9 -> -1, DISFA >= 2)."""
    from keras_au.datasets import list_dataset
    from keras_au.datasets.folds import fold_of

    m = _manifest(sample)
    parts = {name: part for name, (_, part) in _subjects(m).items()}
    for dataset in ("bp4d", "disfa"):
        aus = dataset_aus(dataset)
        listing = list_dataset(dataset, sample.bp4d if dataset == "bp4d" else sample.disfa)
        clips = {(c["subject"], c.get("task", "")): c for c in m["clips"] if c["dataset"] == dataset}
        assert len(listing.items) == len(clips) and listing.label_without_frame == 0
        for item in listing.items:
            c = clips[(item.subject, item.sequence.split("/")[-1] if dataset == "bp4d" else "")]
            assert item.au_ids == aus and item.fold == parts[item.subject] - 1 == fold_of(dataset, item.subject)
            track = np.array(c["levels"])
            if dataset == "bp4d":
                want = schedule.bp4d_occurrence(track)
                for mark in c["unknown"]:
                    for t in mark["frames"]:
                        want[t, mark["au_columns"]] = -1
                want[:, [aus.index(a) for a in c["base_aus_unknown"]]] = -1
                got = np.array([item.labels_for(f.index) for f in item.frames])
            else:  # label line k is video frame k - 1
                want = (track >= 2).astype(int)
                got = np.array([item.labels_for(t) for t in range(c["frames"])])
            np.testing.assert_array_equal(got, want)


def test_labels_follow_the_rendered_motion_at_the_image_border(detector, astronaut):
    """A tight photo puts the chin at the frame border, where motion fades out: the label says what is drawn."""
    from keras_au.sample.synth import prepare_still

    roomy = prepare_still(astronaut, detector)
    det = detector.detect(astronaut).largest.landmarks
    y1 = int(det[8, 1]) + 4  # cut just below the chin
    x0, x1 = int(det[:, 0].min()) - 30, int(det[:, 0].max()) + 30
    tight = prepare_still(np.ascontiguousarray(astronaut[max(0, y1 - 260):y1, x0:x1]), detector)
    _, free = roomy.render_labeled({17: 5.0, 1: 5.0})
    _, cut = tight.render_labeled({17: 5.0, 1: 5.0})
    assert free[17] == pytest.approx(5.0, abs=0.05) and cut[17] < 4.4  # the chin raise is tapered off
    assert cut[1] == pytest.approx(5.0, abs=0.05)  # the brows, far from the border, are not
    assert schedule.label_intensity(np.array([cut[17]]))[0] < 5


def test_too_many_variants_fail_before_anything_is_written(tmp_path, media):
    out = tmp_path / "s"
    with pytest.raises(ValueError, match=r"--variants 15: .*BP4D subjects in fold part 1.* holds 14 names"):
        ensure_sample(str(out), settings=SampleSettings(**{**TINY, "variants": 15}), media=media, progress=False)
    assert not out.exists() and not list(tmp_path.glob("s.tmp-*"))


def test_unknown_au_in_a_schedule_fails_before_anything_is_written(tmp_path, media, monkeypatch):
    real = bp4d_schedule.make_bp4d_events
    monkeypatch.setattr(bp4d_schedule, "make_bp4d_events",
                        lambda rng, aus, n: real(rng, aus, n) + [schedule.AUEvent(99, 1, 2, 3, 4, 3)])
    out = tmp_path / "s"
    with pytest.raises(ValueError, match=r"AU\(s\) \[99\] with no motion model"):
        ensure_sample(str(out), settings=SampleSettings(**TINY), media=media, progress=False)
    assert not out.exists()
