"""Records carry the TV-L1 source of their flow target; OFE refuses to train on a mix unknowingly."""

from __future__ import annotations

import json
import os

import pytest

from keras_au.data import schema
from keras_au.data.input_pipeline import check_one_flow_source, fold_files
from keras_au.data.record_scan import flow_sources
from keras_au.models.rtatl import task
from record_fixtures import aligned_real_faces, synthetic_flow

AUS = (1, 2, 4, 6, 7, 10, 12, 14, 15, 17, 23, 24)


def _write(out_dir: str, presets: dict) -> str:
    """fold-k holds two labeled real faces with flow from ``presets[k]`` = (preset, side), plus one without flow."""
    faces = aligned_real_faces()
    for fold, (preset, side) in presets.items():
        os.makedirs(os.path.join(out_dir, f"fold-{fold}"), exist_ok=True)
        recs = [schema.FaceRecord(image=img, au_ids=AUS, au_labels=[i % 2] * len(AUS), subject=f"{name}-{fold}",
                                  sequence="s0", frame=i, dataset="bp4d", landmarks=lm, fold=fold,
                                  flow=synthetic_flow() if i < 2 else None, flow_preset=preset,
                                  flow_resolution=side)
                for i, (name, img, lm) in enumerate([*faces, faces[0]])]
        schema.write_tfrecord(os.path.join(out_dir, f"fold-{fold}", "bp4d-00000-of-00001.tfrecord.gz"), recs)
    return out_dir


def test_flow_sources_are_counted_per_preset_and_side(tmp_path):
    data = _write(str(tmp_path), {0: ("model", 64), 1: ("model", 64), 2: ("fast", 200)})
    assert flow_sources(fold_files(data, [0, 1])) == {"model@64px": 4}  # the record without flow is not counted
    assert flow_sources(fold_files(data, [0, 1, 2])) == {"model@64px": 4, "fast@200px": 2}
    check_one_flow_source({"model@64px": 4})
    with pytest.raises(ValueError, match=r"2 TV-L1 settings \(fast@200px: 2 records, model@64px: 4 records\)"):
        check_one_flow_source(flow_sources(fold_files(data, [0, 1, 2])))


def test_ofe_refuses_mixed_flow_unless_allowed(tmp_path):
    data = _write(str(tmp_path / "data"), {0: ("model", 64), 1: ("model", 64), 2: ("fast", 200)})
    with pytest.raises(ValueError, match="allow_mixed_flow"):
        task.train("rtatl", data=data, fold=0, out=str(tmp_path / "refused"), preset="ci", epochs=1, steps_per_epoch=1)
    assert not os.path.exists(tmp_path / "refused" / "run.json")  # refused before anything was written
    # Backbone^T has no flow head: the mix does not concern it
    out = str(tmp_path / "bt")
    task.train("backbone_t", data=data, fold=0, out=out, preset="ci", epochs=1, steps_per_epoch=1, batch_size=2)
    with open(os.path.join(out, "run.json")) as f:
        assert json.load(f)["flow_sources"] is None
    out = str(tmp_path / "mixed")
    task.train("ofe", data=data, fold=0, out=out, preset="ci", epochs=1, steps_per_epoch=1, batch_size=2,
               overrides={"allow_mixed_flow": True})
    with open(os.path.join(out, "run.json")) as f:
        assert json.load(f)["flow_sources"] == {"model@64px": 2, "fast@200px": 2}


def test_one_scan_gives_labels_subjects_landmarks_and_flow_sources(tmp_path):
    """The pre-training scan both models share: every small key from one pass, records without landmarks excluded
    from the mean shape."""
    import numpy as np

    from keras_au.data.record_scan import scan_records

    faces = aligned_real_faces()
    recs = [schema.FaceRecord(image=img, au_ids=AUS, au_labels=[1, 0, -1] * 4, subject=name, sequence="s0", frame=i,
                              dataset="bp4d", landmarks=lm if i == 0 else None, flow=synthetic_flow() if i else None,
                              flow_preset="model" if i else "", flow_resolution=64 if i else 0)
            for i, (name, img, lm) in enumerate(faces)]
    path = str(tmp_path / "x.tfrecord.gz")
    schema.write_tfrecord(path, recs)
    scan = scan_records([path], progress=False)
    assert scan.count == len(faces) and scan.labels.shape == (len(faces), len(AUS))
    assert scan.labels[0].tolist() == [1, 0, -1] * 4
    assert scan.subjects == [name for name, _, _ in faces]
    assert scan.landmark_count == 1 and scan.flow_sources == {"model@64px": len(faces) - 1}
    np.testing.assert_allclose(scan.mean_landmarks(192), faces[0][2] - 4.0, atol=1e-4)
    assert scan_records([], num_aus=12).count == 0
