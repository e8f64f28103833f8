"""Named split protocols of the in-the-wild model: which records train, validate (model selection) and test.

* ``folds`` (default): train on folds != k, test on fold k, in both domains; no validation split.
* ``sample``: train on folds != k; fold k's subjects shuffled (``split_seed``) and halved into validation and
  test, in both domains (target labels only validate and test).
* ``adld``: source trains on folds 0+1 (BP4D parts 1+2), part 3 splits into ADLD's validation and test
  subjects; target trains on its unlabeled records, the labeled ones halved (seeded) into validation / test.

A split is a list of files plus an optional subject list and a labeled/unlabeled selection: records are
filtered while they stream (``data.domain_stream``), so a fold's shards need no re-writing. Subject lists
are drawn once per run (``split_seed``, default 0: the same test people for every training seed) and stored
in ``splits.json``, so ``evaluate`` scores exactly the records ``train`` held out.
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Sequence

import numpy as np

PROTOCOLS = ("folds", "sample", "adld")

# ADLD's published BP4D lists: part 3 (fold 2 here) split into validation and test subjects.
ADLD_BP4D_VAL = ("F004", "F012", "F014", "F017", "F021", "M003", "M015")
ADLD_BP4D_TEST = ("F006", "F007", "F015", "F019", "M006", "M009")
ADLD_BP4D_HELD_OUT_FOLD = 2


@dataclasses.dataclass
class DomainSplit:
    """Records of one split: ``files`` filtered to ``subjects`` (None: all) and ``select`` (all/labeled/unlabeled)."""

    files: list[str]
    subjects: Optional[list[str]] = None
    select: str = "all"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Optional[dict]) -> Optional["DomainSplit"]:
        return None if d is None else cls(list(d["files"]), d.get("subjects"), d.get("select", "all"))


@dataclasses.dataclass
class Splits:
    protocol: str
    fold: Optional[int]
    source: dict  # "train" / "val" / "test" -> DomainSplit or None
    target: dict
    eval_on_train: dict  # domain -> True when the test records are the training records (no folds)

    def to_dict(self) -> dict:
        return {"protocol": self.protocol, "fold": self.fold, "eval_on_train": self.eval_on_train,
                **{d: {k: None if v is None else v.to_dict() for k, v in getattr(self, d).items()}
                   for d in ("source", "target")}}

    @classmethod
    def from_dict(cls, d: dict) -> "Splits":
        return cls(d["protocol"], d.get("fold"), *({k: DomainSplit.from_dict(v) for k, v in d[dom].items()}
                                                   for dom in ("source", "target")), d.get("eval_on_train", {}))

    @property
    def has_validation(self) -> bool:
        return self.target.get("val") is not None


def scan_subjects(files: Sequence[str], positions: Sequence[int]) -> dict[str, int]:
    """subject -> number of its records with at least one known label among the model's AUs (no decoding)."""
    from keras_au.data.record_scan import parse_keys
    from keras_au.models.wild import data as wild_data

    out: dict[str, int] = {}
    for b in parse_keys(files, ("subject", "au_labels"), batch_size=4096):
        labeled = np.any(wild_data.select_aus(b["au_labels"], positions).numpy() >= 0, axis=1)
        for s, lab in zip(b["subject"].tolist(), labeled.tolist()):
            key = s.decode()
            out[key] = out.get(key, 0) + int(lab)
    return out


def halves(subjects: Sequence[str], seed: int) -> tuple[list[str], list[str]]:
    """Sorted subjects shuffled with ``seed`` and cut in two: (first half, second half); the first gets the
    smaller half when the count is odd."""
    order = sorted(subjects)
    np.random.default_rng(seed).shuffle(order)
    cut = len(order) // 2
    return sorted(order[:cut]), sorted(order[cut:])


def make_splits(protocol: str, source: str, target: str, fold: Optional[int], source_positions_fn,
                target_positions_fn, split_seed: int = 0) -> Splits:
    """The protocol's splits. ``*_positions_fn(files)`` gives the model-AU positions of a record set."""
    from keras_au.data.input_pipeline import list_files
    from keras_au.models.wild import data as wild_data

    if protocol not in PROTOCOLS:
        raise ValueError(f"--protocol must be one of {PROTOCOLS}, got {protocol!r}")
    if protocol == "folds":
        doms, flags = {}, {}
        for name, path in (("source", source), ("target", target)):
            train, test, self_eval = wild_data.split_files(path, fold)
            doms[name] = {"train": DomainSplit(train), "val": None, "test": DomainSplit(test)}
            flags[name] = self_eval
        return Splits(protocol, fold, doms["source"], doms["target"], flags)

    def by_subject_halves(path: str, k: Optional[int], positions_fn, what: str) -> dict:
        folds = wild_data.fold_dirs(path)
        if len(folds) < 2:
            raise ValueError(f"--protocol {protocol}: {what} {path} needs fold-<k>/ shards (preprocessing output)")
        k = min(folds) if k is None else int(k)
        train, held, _ = wild_data.split_files(path, k)
        subjects = sorted(scan_subjects(held, positions_fn(held)))
        if len(subjects) < 2:
            raise ValueError(f"--protocol {protocol}: {what} fold {k} of {path} holds {len(subjects)} subject(s); "
                             "validation and test need one each")
        val, test = halves(subjects, split_seed)
        return {"train": DomainSplit(train), "val": DomainSplit(held, val), "test": DomainSplit(held, test)}

    if protocol == "sample":
        src = by_subject_halves(source, fold, source_positions_fn, "--source")
        tgt = by_subject_halves(target, fold, target_positions_fn, "--target")
        return Splits(protocol, fold, src, tgt, {"source": False, "target": False})

    # adld: BP4D parts 1+2 train, part 3 -> ADLD's validation / test subjects; EmotioNet labeled 50/50.
    if fold not in (None, ADLD_BP4D_HELD_OUT_FOLD):
        raise ValueError(f"--protocol adld holds out BP4D part 3 (fold {ADLD_BP4D_HELD_OUT_FOLD}); got --fold {fold}")
    train, held, self_eval = wild_data.split_files(source, ADLD_BP4D_HELD_OUT_FOLD)
    if self_eval:
        raise ValueError(f"--protocol adld: --source {source} needs the three BP4D fold-<k>/ folders")
    src = {"train": DomainSplit(train), "val": DomainSplit(held, list(ADLD_BP4D_VAL)),
           "test": DomainSplit(held, list(ADLD_BP4D_TEST))}
    files = list_files(target)
    labeled = sorted(s for s, n in scan_subjects(files, target_positions_fn(files)).items() if n > 0)
    if len(labeled) < 2:
        raise ValueError(f"--protocol adld: --target {target} holds {len(labeled)} labeled image(s); its labeled "
                         "subset is split 50/50 into validation and test (EmotioNet: 21,088 labeled images)")
    val, test = halves(labeled, split_seed)
    tgt = {"train": DomainSplit(files, select="unlabeled"), "val": DomainSplit(files, val, "labeled"),
           "test": DomainSplit(files, test, "labeled")}
    return Splits(protocol, ADLD_BP4D_HELD_OUT_FOLD, src, tgt, {"source": False, "target": False})


def check_labeled_splits(splits, positions) -> None:
    """Validation and test splits must hold labeled faces of the model's AUs: an F1 over no labels would read
    as a silent 0. (The ``folds`` protocol's unlabeled target stays allowed: evaluate reports its F1 as n/a.)"""
    if not splits.has_validation:
        return
    for domain in ("source", "target"):
        for part, name in (("val", "validation"), ("test", "test")):
            sp = getattr(splits, domain)[part]
            counts = scan_subjects(sp.files, positions(sp.files))
            keep = counts if sp.subjects is None else {k: v for k, v in counts.items() if k in set(sp.subjects)}
            if sum(keep.values()) == 0:
                raise ValueError(
                    f"protocol {splits.protocol}: the {domain} {name} split ({len(keep)} subject(s) in "
                    f"{len(sp.files)} file(s)) holds no labeled faces for the model's AUs; model selection and "
                    f"testing need {domain} labels there (they are never used to train)")
