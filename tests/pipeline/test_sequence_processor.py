"""The per-item processor without Beam: frame selection, flow partners across gaps and broken partners."""

import pytest

from keras_au.datasets.records import FrameRef, WorkItem
from keras_au.flow import TVL1Params
from pipeline.beam.sequence import PreprocessOptions, SequenceProcessor


@pytest.fixture(scope="module")
def sequence_dir(tmp_path_factory, talking_frames, write_rgb):
    root = tmp_path_factory.mktemp("seq")
    # frame numbers 10..15 and 17 (16 is missing): 13 -> 16 has no partner file
    paths = {}
    for i, frame in zip([10, 11, 12, 13, 14, 15, 17], talking_frames(7)):
        paths[i] = write_rgb(str(root / f"{i:04d}.jpg"), frame)
    return paths


def _item(paths, **kw):
    frames = tuple(FrameRef(p, i) for i, p in sorted(paths.items()))
    return WorkItem("bp4d", "F001", "F001/T1", "frames", (1, 2), fold=0, frames=frames, **kw)


def _run(item, **opts):
    out = list(SequenceProcessor(PreprocessOptions(tvl1=TVL1Params.preset("test"), **opts)).process(item))
    stats = out[-1][1]
    examples = [o for o in out if o[0] == "example"]
    return out, stats, examples


def test_frame_step_and_max_frames_limit_what_is_read(sequence_dir):
    _, stats, examples = _run(_item(sequence_dir), flow=False, frame_step=2, max_frames_per_sequence=2)
    assert stats["frames_read"] == 2 == stats["examples_written"] == len(examples)  # positions 0 and 2: 10, 12
    assert stats["seconds"]["decode"] > 0 and "flow" not in stats["seconds"]


def test_flow_partner_is_frame_number_plus_three(sequence_dir, tmp_path):
    paths = dict(sequence_dir)
    broken = tmp_path / "0014.jpg"
    broken.write_bytes(b"\xff\xd8 truncated")
    paths[14] = str(broken)
    out, stats, examples = _run(_item(paths), flow=True)
    # 10->13 ok; 11->14 partner undecodable; 12->15 ok; 13->16 missing; 15, 17 at the end
    assert stats["flow_pairs"] == 2
    assert stats["notes"]["flow_partner_unreadable"] == 1
    assert stats["notes"]["no_flow_partner"] == 3  # 13 (gap), 15 and 17 (end)
    assert stats["skipped"] == {"undecodable": 1}  # frame 14 itself
    assert stats["frames_read"] == 7 == stats["examples_written"] + 1
    skip = next(o[1] for o in out if o[0] == "skip")
    assert skip["frame"] == 14 and skip["path"] == str(broken)


def test_unlabeled_items_do_not_count_missing_labels(sequence_dir):
    _, stats, _ = _run(_item({10: sequence_dir[10]}), flow=False)
    assert "label_missing" not in stats["notes"]
    _, stats, _ = _run(_item({10: sequence_dir[10]}, labeled=True, labels={99: (1, 0)}), flow=False)
    assert stats["notes"]["label_missing"] == 1 and stats["notes"]["label_without_frame"] == 1


def test_options_are_validated():
    with pytest.raises(ValueError):
        PreprocessOptions(frame_step=0)
    with pytest.raises(ValueError):
        PreprocessOptions(max_frames_per_sequence=0)
