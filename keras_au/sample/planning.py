"""Sample planning: the identities used, the synthetic subjects made from them, every clip's AU schedule.

``select_identities`` prepares the stills of each catalogue identity (face found, not tiny) and
assigns identity i of the used ones to fold part i % 3; ``make_subjects`` gives each identity's
variants (``variants.Variant``) BP4D and/or DISFA names from that part only, so no face crosses
folds; ``plan_clips`` draws every clip's schedule (BP4D occurrence rates and episodes plus unlabeled
talking and blinking; DISFA events) from ``numpy.random.default_rng([seed, identity number,
variant])`` and checks that each scheduled AU has a motion model before anything is rendered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from keras_au.au import dataset_aus
from keras_au.datasets.folds import STANDARD_PARTS
from keras_au.geometry import FaceDetector, ImageError, load_image
from keras_au.sample import bp4d_schedule, schedule
from keras_au.sample.catalog import BASE_AUS, LOCAL_SOURCE, Identity
from keras_au.sample.facs_motion import MOTION_AUS
from keras_au.sample.fetch import MediaSet
from keras_au.sample.settings import SampleSettings
from keras_au.sample.synth import PreparedStill, SkipStill, prepare_still
from keras_au.sample.variants import Variant

BP4D_TASKS = tuple(f"T{i}" for i in range(1, 9))
FRAMES_PER_EVENT = 8  # one primary AU event per this many frames (companions come on top)


@dataclass
class BaseIdentity:
    """A catalogue identity with its usable (prepared) stills and its fold part."""

    number: int  # position in catalog.IDENTITIES (seeds its random stream)
    identity: Identity
    stills: list[PreparedStill]
    files: list[str]
    part: int = 0


@dataclass
class Subject:
    """One synthetic identity (a variant of a base identity) with its BP4D and/or DISFA name."""

    base: BaseIdentity
    variant: Variant
    bp4d: Optional[str] = None
    disfa: Optional[str] = None

    @property
    def stills(self) -> list[PreparedStill]:
        return [st.with_variant(self.variant) for st in self.base.stills]

    def rng(self, seed: int) -> np.random.Generator:
        return np.random.default_rng([seed, self.base.number, self.variant.number])


def select_identities(
    settings: SampleSettings, media: MediaSet, skipped: list[dict], catalogue: Sequence[Identity]
) -> list[BaseIdentity]:
    """Usable identities of ``catalogue`` in its order, each with its usable stills; identity i -> part i % 3."""
    detector = FaceDetector()
    found: list[BaseIdentity] = []
    for number, ident in enumerate(catalogue):
        if settings.identities is not None and len(found) >= settings.identities:
            break
        if settings.local_only and any(src != LOCAL_SOURCE for src, _ in ident.stills):
            continue
        stills, files = [], []
        for source, name in ident.stills:
            entry = {"identity": ident.key, "source": source, "file": name}
            path = media.path(source, name)
            if path is None:
                skipped.append({**entry, "reason": "not_fetched"})
                continue
            try:
                prepared = prepare_still(load_image(path), detector, path, settings.frame_size)
            except ImageError as e:
                skipped.append({**entry, "reason": e.reason, "detail": str(e)})
                continue
            except SkipStill as e:
                skipped.append({**entry, "reason": e.reason, "detail": e.detail})
                continue
            stills.append(prepared)
            files.append(f"{source}/{name}")
        if stills:
            found.append(BaseIdentity(number, ident, stills, files, part=len(found) % len(STANDARD_PARTS["bp4d"])))
        else:
            skipped.append({"identity": ident.key, "reason": "no_usable_still"})
    return found


def _variant_counts(names: int, identities: int, variants: Optional[int], dataset: str, part: int) -> list[int]:
    """Subjects per identity of one part: ``variants`` each, or the part's names spread over its identities."""
    if identities == 0:
        return []
    if variants is None:
        return [names // identities + (i < names % identities) for i in range(identities)]
    if variants * identities > names:
        raise ValueError(
            f"--variants {variants}: {identities} identities x {variants} variants = {variants * identities} "
            f"{dataset} subjects in fold part {part + 1}, but its standard partition holds {names} names"
        )
    return [variants] * identities


def make_subjects(identities: list[BaseIdentity], settings: SampleSettings) -> list[Subject]:
    """Variants of every identity with names from its own fold part (so no face crosses folds); BP4D names of
    the identity's sex first."""
    if settings.variants is not None and settings.variants < 1:
        raise ValueError(f"--variants must be >= 1, got {settings.variants}")
    subjects: list[Subject] = []
    for part in range(len(STANDARD_PARTS["bp4d"])):
        members = [i for i in identities if i.part == part]
        bp4d_names, disfa_names = list(STANDARD_PARTS["bp4d"][part]), list(STANDARD_PARTS["disfa"][part])
        n_bp4d = _variant_counts(len(bp4d_names), len(members), settings.variants, "BP4D", part)
        n_disfa = _variant_counts(len(disfa_names), len(members), settings.variants, "DISFA", part)
        for v in range(max(n_bp4d + n_disfa, default=0)):  # variant 0 of every identity first, then 1, ...
            for ident, nb, nd in zip(members, n_bp4d, n_disfa):
                if v >= max(nb, nd):
                    continue
                sub = Subject(ident, Variant.draw(np.random.default_rng([settings.seed, ident.number, v, 1]), v))
                if v < nb:
                    same = [n for n in bp4d_names if n[0] == ident.identity.sex]
                    sub.bp4d = (same or bp4d_names)[0]
                    bp4d_names.remove(sub.bp4d)
                if v < nd:
                    sub.disfa = disfa_names.pop(0)
                subjects.append(sub)
    return subjects


@dataclass
class Clip:
    """A planned clip: who, from which still, and the AU events (labeled and motion-only)."""

    dataset: str
    subject: Subject
    still: int  # index into the identity's stills
    events: list[schedule.AUEvent]
    extra: list[schedule.AUEvent]  # unlabeled motion (talking, blinking)
    num_frames: int
    task: str = ""
    first_frame: int = 0
    rng: Optional[np.random.Generator] = None  # for jitter and unknown marks, continues the plan's stream
    first_of_subject: bool = False  # BP4D: the subject's first task also gets two whole unknown frames


def plan_clips(subjects: list[Subject], settings: SampleSettings) -> list[Clip]:
    """Every clip's schedule, drawn per subject; checked before anything is rendered."""
    clips: list[Clip] = []
    for sub in subjects:
        rng = sub.rng(settings.seed)
        if sub.bp4d:
            aus, n = dataset_aus("bp4d"), settings.bp4d_frames
            tasks = sorted(rng.choice(BP4D_TASKS, size=min(settings.bp4d_tasks, len(BP4D_TASKS)),
                                      replace=False).tolist())
            for j, task in enumerate(tasks):
                first = int(rng.integers(1000, 3000))
                events = bp4d_schedule.make_bp4d_events(rng, aus, n)
                extra = bp4d_schedule.make_talk_blink_events(rng, n, events)
                clips.append(Clip("bp4d", sub, j % len(sub.base.stills), events, extra, n, task, first, rng, j == 0))
        if sub.disfa:
            aus, n = dataset_aus("disfa"), settings.disfa_frames
            events = schedule.make_events(rng, aus, n, max(1, n // FRAMES_PER_EVENT), [])
            clips.append(Clip("disfa", sub, _most_neutral_still(sub.base, settings), events, [], n, rng=rng))
    for clip in clips:
        unknown = sorted({e.au for e in clip.events + clip.extra} - set(MOTION_AUS))
        if unknown:
            raise ValueError(f"AU schedule of {clip.dataset} subject {clip.subject.bp4d or clip.subject.disfa} "
                             f"names AU(s) {unknown} with no motion model (known: {list(MOTION_AUS)})")
    return clips


def _most_neutral_still(ident: BaseIdentity, settings: SampleSettings) -> int:
    """The still showing the fewest DISFA AUs by itself; among equals the one the BP4D tasks used least."""
    aus = dataset_aus("disfa")
    first = settings.bp4d_tasks % len(ident.stills)
    order = [(first + i) % len(ident.stills) for i in range(len(ident.stills))]
    return min(order, key=lambda k: len(base_au_columns(ident.files[k], aus)))


def base_au_columns(still_file: str, aus) -> list[int]:
    """Columns of ``aus`` that the still (manifest form ``source/name``) already shows (catalog.BASE_AUS)."""
    source, name = still_file.split("/", 1)
    shown = set(BASE_AUS.get((source, name), ()))
    return [i for i, a in enumerate(aus) if int(a) in shown]

