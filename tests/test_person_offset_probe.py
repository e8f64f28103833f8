"""probes/person_offset_probe.person_rows: the per-person table behind docs/rtatl.md "Whose faces refuse the gate"."""

import importlib.util
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def _probe():
    path = os.path.join(HERE, "..", "probes", "person_offset_probe.py")
    spec = importlib.util.spec_from_file_location("person_offset_probe", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_scores_that_detect_the_au_inside_each_face_but_sit_at_the_face_s_level():
    rng = np.random.default_rng(0)
    subjects = np.repeat(["A", "B", "C"], 40)
    labels = np.stack([rng.random(120) < 0.5, np.zeros(120, bool)], 1).astype(np.int64)
    labels[subjects == "C", 0] = -1  # C's still shows the AU: unknown
    level = {"A": 0.1, "B": 0.7, "C": 0.5}
    probs = np.array([level[s] for s in subjects])[:, None] + 0.05 * labels.clip(0)[:, :1] + np.zeros((1, 2))
    rows = {r["subject"]: r for r in _probe().person_rows(0, probs, labels, subjects)}
    assert rows["A"]["within_person_auc"] == 1.0 and rows["B"]["within_person_auc"] == 1.0
    assert rows["A"]["known_frames"] == 40 and rows["C"]["known_frames"] == 0
    assert rows["C"]["label_rate"] is None and rows["C"]["within_person_auc"] is None
    assert abs(rows["A"]["median_score"] - 0.1) < 0.06 and abs(rows["B"]["median_score"] - 0.7) < 0.06
    assert abs(rows["A"]["label_rate"] - labels[subjects == "A", 0].mean()) < 1e-12
