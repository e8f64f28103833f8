"""``predict --overlay/--calibrate/--html`` and ``keras-au view`` on a real two-face clip: what the overlay video
shows (H.264, every frame, boxes, landmarks, AU bars that match the CSV, no-face frames marked), the results page's
contents, and bad inputs (another tool's CSV, missing AU columns, another video, unwritable outputs)."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from serving_media import TWO_FACE_SEGMENTS, TWO_FACE_SIZE

from keras_au.cli import main


def _decode(path: str) -> tuple[dict, list[np.ndarray]]:
    import imageio_ffmpeg

    gen = imageio_ffmpeg.read_frames(path)
    meta = next(gen)
    w, h = meta["size"]
    return meta, [np.frombuffer(b, np.uint8).reshape(h, w, 3) for b in gen]


def _bar_width(frame: np.ndarray, face_slot: int, au_index: int, n_aus: int, width: int = TWO_FACE_SIZE[0]) -> int:
    """Filled pixels of one AU bar in the overlay panel beside a ``width`` px video (keras_au.inference.overlay's layout)."""
    from keras_au.inference.overlay import HEAD_H, PANEL_W, ROW_H

    x0 = width + 8 + 42
    y = HEAD_H + face_slot * (HEAD_H + n_aus * ROW_H) + HEAD_H + au_index * ROW_H + ROW_H // 2
    line = frame[y - 1 : y + 2, x0 : x0 + PANEL_W - 92].astype(int).mean(axis=0)
    fill = (line.max(axis=1) > 140) & (line.min(axis=1) < 200)  # green/blue fill; not the dark track, not the tick
    return int(np.flatnonzero(fill).max() + 1) if fill.any() else 0


def test_overlay_is_h264_with_every_frame_boxes_landmarks_and_bars_of_the_csv(two_face_run):
    meta, frames = _decode(two_face_run["overlay"])
    assert meta["codec"] == "h264" and meta["pix_fmt"].startswith("yuv420p") and meta["fps"] == 25.0
    data = open(two_face_run["overlay"], "rb").read()
    assert data.find(b"moov") < data.find(b"mdat")  # +faststart: plays before it is fully loaded
    n_both, n_faceless = (n for _, n in TWO_FACE_SEGMENTS)
    assert len(frames) == n_both + n_faceless
    assert frames[0].shape[1] > TWO_FACE_SIZE[0] and frames[0].shape[0] >= TWO_FACE_SIZE[1]  # the video + a panel
    cal = pd.read_csv(two_face_run["calibrated"])  # --calibrate: the overlay shows these values
    aus = [c[:-2] for c in cal.columns if c.endswith("_p")]
    for k in (0, 10, 31):
        rows = cal[(cal["frame"] == k) & (cal["success"] == 1)]
        assert rows["face_id"].tolist() == [0, 1]
        img = frames[k]
        for slot, (_, r) in enumerate(rows.iterrows()):
            x0, y0, x1, y1 = (int(r[c]) for c in ("bbox_x0", "bbox_y0", "bbox_x1", "bbox_y1"))
            face = img[y0:y1, x0:x1].astype(int)
            dots = (face[..., 0] > 200) & (face[..., 1] > 170) & (face[..., 2] < 90)  # yellow landmarks
            assert dots.sum() > 40, (k, slot)
            for j, a in enumerate(aus):
                assert abs(_bar_width(img, slot, j, len(aus)) - r[f"{a}_p"] * 158) <= 2.5, (k, a)
    for img in frames[n_both:]:  # faceless: the red "NO FACE" banner, no bars
        banner = img[2:20, 2 : TWO_FACE_SIZE[0] - 2].reshape(-1, 3).mean(axis=0)
        assert banner[0] > 180 and banner[1] < 110 and banner[2] < 110
        assert _bar_width(img, 0, 0, len(aus)) == 0


def test_draw_frame_bar_lengths_follow_the_probabilities(grace_hopper):
    from keras_au.inference.overlay import canvas_size, draw_frame

    img = np.ascontiguousarray(grace_hopper[:300])
    aus = ["AU01", "AU12"]
    row = {"frame": 0, "face_id": 0, "success": 1, "reason": "", "bbox_x0": 10, "bbox_y0": 10, "bbox_x1": 90,
           "bbox_y1": 90, "AU01_p": 0.25, "AU12_p": 0.9}
    size = canvas_size(img.shape[1], img.shape[0], len(aus), 1)
    out = draw_frame(img, [row], {}, aus, size)
    assert out.shape == (size[1], size[0], 3) and np.array_equal(out[:300, : img.shape[1]][100:], img[100:])
    # cv2 fills both end columns: p * 158 + 1 pixels
    assert [_bar_width(out, 0, j, 2, img.shape[1]) for j in range(2)] == [round(0.25 * 158) + 1, round(0.9 * 158) + 1]
    on = out[np.where(out.sum(axis=2) > 0)]
    assert ((on == (60, 200, 90)).all(axis=1)).any() and ((on == (110, 140, 200)).all(axis=1)).any()  # above/below


def test_overlay_needs_one_video_and_checks_outputs_first(stand_in_export, media, tmp_path, capsys):
    out = tmp_path / "x"
    assert main(["predict", media["images"], "--model", stand_in_export, "--out", str(out / "r.csv"),
                 "--overlay", str(out / "o.mp4"), "--quiet"]) == 2
    assert "--overlay draws one video" in capsys.readouterr().err
    blocker = tmp_path / "file"
    blocker.write_text("in the way")
    assert main(["predict", media["video"], "--model", stand_in_export, "--out", str(out / "r.csv"),
                 "--overlay", str(blocker / "o.mp4"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"cannot write {blocker / 'o.mp4'}" in err and "a file is in the way" in err
    assert not out.exists() or not os.listdir(out)  # checked before the run: no CSV, no temp files


def test_detector_predict_overlay_on_a_numpy_clip(media, stand_in_export, tmp_path):
    import keras_au
    from keras_au.inference.media import frames

    clip = np.stack([f.image for f in frames(media["video"])][:16])
    det = keras_au.Detector(stand_in_export, batch_size=8)
    df = det.predict(clip, overlay=str(tmp_path / "clip.mp4"))
    meta, decoded = _decode(str(tmp_path / "clip.mp4"))
    assert len(decoded) == len(df) == 16 and det.last_overlay["frames"] == 16 and meta["codec"] == "h264"
    assert sorted(os.listdir(tmp_path)) == ["clip.mp4"]


def _external_refs(page: str) -> list[str]:
    """src/href of the page's tags (script bodies, like Plotly's own code, are not tags), data: URIs left out."""
    from html.parser import HTMLParser

    refs = []

    class Refs(HTMLParser):
        def handle_starttag(self, tag, attrs):
            refs.extend(v for k, v in attrs if k in ("src", "href") and v and not v.startswith("data:"))

    Refs().feed(page)
    return refs


def test_results_page_is_self_contained_with_both_faces_and_values(two_face_run):
    page = open(two_face_run["html"], encoding="utf-8").read()
    assert _external_refs(page) == ["overlay.mp4"]  # Plotly inlined: only the H.264 overlay beside the page
    assert 'src="overlay.mp4"' in page  # the H.264 overlay beside the page
    assert page.count('class="au-table"') == 4  # 2 faces x raw/calibrated
    assert '<option value="1">face 1</option>' in page and "person-calibrated" in page
    assert "6 frames without a face" in page


def test_au_table_share_mean_and_longest_episode():
    from serving.results import au_table

    p = [0.6, 0.7, 0.2, 0.8, 0.9, 0.95, 0.9]
    frames = [0, 1, 2, 3, 4, 6, 7]  # frame 5 without the face: the episode 3-4 ends there
    df = pd.DataFrame({"frame": frames, "success": 1, "AU12_p": p})
    (row,) = au_table(df, ["AU12"], fps=25.0)
    assert row["share_above"] == pytest.approx(6 / 7) and row["mean"] == pytest.approx(np.mean(p))
    assert (row["longest_frames"], row["longest_s"]) == (2, pytest.approx(0.08))


def test_view_image_folder_gives_a_thumbnail_grid(stand_in_export, media, tmp_path, capsys):
    csv_path, page = str(tmp_path / "images.csv"), str(tmp_path / "images.html")
    assert main(["predict", media["images"], "--model", stand_in_export, "--out", csv_path, "--quiet"]) == 0
    assert main(["view", csv_path, "--out", page]) == 0
    text = open(page, encoding="utf-8").read()
    assert text.count('class="cell"') == 5 and text.count("data:image/jpeg;base64,") == 5
    assert "no face: no_face" in text and "no face: undecodable" in text and 'id="bars-4"' in text


def _fails(capsys, args: list[str], *needles: str) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    for needle in needles:
        assert needle in err, err


def test_view_bad_inputs_name_the_file_and_write_nothing(two_face_run, media, tmp_path, capsys):
    out = tmp_path / "pages"
    out.mkdir()
    page = str(out / "p.html")
    other = tmp_path / "openface.csv"  # another tool's CSV
    other.write_text("frame, face_id, timestamp, confidence, success, AU01_r, AU12_r\n1, 0, 0.0, 0.98, 1, 0.5, 1.2\n")
    _fails(capsys, ["view", str(other), "--out", page], str(other), "not a keras-au predict CSV")
    df = pd.read_csv(two_face_run["csv"], keep_default_na=False)
    missing = tmp_path / "missing_au.csv"
    df.drop(columns=["AU04_c"]).to_csv(missing, index=False)
    _fails(capsys, ["view", str(missing), "--out", page], str(missing), "missing AU04_c")
    no_aus = tmp_path / "no_aus.csv"
    df.drop(columns=[c for c in df.columns if c.startswith("AU")]).to_csv(no_aus, index=False)
    _fails(capsys, ["view", str(no_aus), "--out", page], str(no_aus), "no AU columns")
    # another video: the test clip has 34 frames, the CSV 38
    _fails(capsys, ["view", two_face_run["csv"], "--video", media["video"], "--out", page], media["video"],
           "34 frames", "has 38 frames")
    cal = tmp_path / "other_calibrated.csv"
    df.iloc[:-1].to_csv(cal, index=False)
    _fails(capsys, ["view", two_face_run["csv"], "--calibrated", str(cal), "--out", page], str(cal))
    assert os.listdir(out) == []  # nothing written, no temporary files left
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    _fails(capsys, ["view", two_face_run["csv"], "--overlay", two_face_run["overlay"], "--out",
                    str(blocker / "p.html")], f"cannot write {blocker / 'p.html'}")
    _fails(capsys, ["view", two_face_run["csv"], "--overlay", two_face_run["overlay"], "--out", str(out)],
           f"cannot write {out}", "it is a folder")


def test_view_reencodes_a_video_chromium_cannot_play(two_face_run, tmp_path):
    """The source .avi (MJPG) becomes an H.264 mp4 beside the page, same frame count."""
    from serving.results_page import write_page

    info = write_page(two_face_run["csv"], str(tmp_path / "src.html"), video=two_face_run["video"])
    assert info["video_src"] == "src.mp4" and info["frames"] == 38
    meta, frames = _decode(str(tmp_path / "src.mp4"))
    assert meta["codec"] == "h264" and len(frames) == 38


def test_view_finds_the_calibrated_csv_beside_the_results(two_face_run, tmp_path, capsys):
    import json

    page = str(tmp_path / "again.html")
    assert main(["view", two_face_run["csv"], "--overlay", two_face_run["overlay"], "--out", page, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["calibrated_csv"] == two_face_run["calibrated"] and info["calibrated"] and info["faces"] == [0, 1]
    assert info["video_src"] == "again.mp4"  # the overlay lives elsewhere: linked beside the page, moves with it
    assert sorted(os.listdir(tmp_path)) == ["again.html", "again.mp4"]
    assert open(tmp_path / "again.mp4", "rb").read() == open(two_face_run["overlay"], "rb").read()
