"""Video frame reader: clear errors for missing/empty/non-video files, lazy RGB conversion, truncation flag."""

import cv2
import numpy as np
import pytest

from keras_au.media import MediaError, VideoReader, is_image, is_video


@pytest.fixture(scope="module")
def clip(tmp_path_factory, astronaut):
    path = str(tmp_path_factory.mktemp("clip") / "clip.avi")
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), 10, (256, 256))
    small = cv2.resize(astronaut, (256, 256))
    for i in range(5):
        writer.write(np.ascontiguousarray(np.roll(small, 4 * i, axis=1)[:, :, ::-1]))
    writer.release()
    return path, small


def test_reads_every_frame_and_converts_only_needed_ones(clip):
    path, first = clip
    reader = VideoReader(path)
    frames = list(reader.frames(need=lambda i: i % 2 == 0))
    assert [i for i, _ in frames] == [0, 1, 2, 3, 4]
    assert [f is None for _, f in frames] == [False, True, False, True, False]
    assert frames[0][1].shape == (256, 256, 3)
    assert np.abs(frames[0][1].astype(int) - first).mean() < 8  # RGB order, MJPG loss only
    assert reader.reached_end and not reader.ended_early and reader.frames_seen == 5


def test_truncated_video_is_flagged(clip, tmp_path):
    data = open(clip[0], "rb").read()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    reader = VideoReader(str(cut))
    n = len(list(reader.frames()))
    assert 1 <= n < 5 and reader.ended_early


@pytest.mark.parametrize(
    "content, reason", [(None, "missing"), (b"", "empty"), (b"not a video at all", "video_read_error")]
)
def test_unreadable_videos_raise_media_errors(tmp_path, content, reason):
    path = tmp_path / "v.avi"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(MediaError) as err:
        list(VideoReader(str(path)).frames())
    assert err.value.reason == reason and str(path) in str(err.value)


def test_extensions():
    assert is_image("a/B.JPG") and is_video("x.MP4") and not is_image("x.avi") and not is_video("notes.txt")


def test_imageio_ffmpeg_starts_ffmpeg_without_a_fork_hook(monkeypatch):
    """With a preexec_fn Python forks, and gRPC's fork handlers (TF, TFX) can end the child before ffmpeg runs."""
    from imageio_ffmpeg import _utils

    from keras_au.media import imageio_ffmpeg

    monkeypatch.delenv("IMAGEIO_FFMPEG_NO_PREVENT_SIGINT", raising=False)
    assert _utils._popen_kwargs(prevent_sigint=True)["preexec_fn"] is not None  # imageio-ffmpeg's default
    module = imageio_ffmpeg()
    assert module.read_frames and _utils._popen_kwargs(prevent_sigint=True)["preexec_fn"] is None
