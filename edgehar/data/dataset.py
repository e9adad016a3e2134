"""What a run trains on: a source, a label set and a subject split, as one typed spec.

Sources: ``package`` (the embedded HAPT recordings), an official HAPT or UCI HAR directory, or a
directory of the user's own labelled recordings (``labelled.py``). Label sets: the six UCI-HAR
activities (task ``uci6``), the twelve HAPT classes with the postural transitions (``hapt12``),
or whatever a labelled directory holds; ``classes`` picks and orders any of them. Split: the
UCI-HAR subjects for the built-in data, given subject lists, or seeded subject fractions.
The spec record itself, ``DataSpec``, lives in ``runtime.spec`` (run configs and bundle
manifests carry it) and is importable from here as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..runtime.errors import EdgeharError
from ..runtime.spec import HAPT_LABELS, LABELS, SAMPLE_RATE, DataSpec, WindowSpec
from .sources import Recording, WindowSet

TASKS = {"uci6": LABELS, "hapt12": HAPT_LABELS}
UCI_TEST_SUBJECTS = (2, 4, 9, 10, 12, 13, 18, 20, 24)     # the official UCI-HAR test split
UCI_VAL_SUBJECTS = (3, 11, 19, 27)                         # fixed, drawn from train subjects only


def subject_key(s) -> tuple:
    """Numbers in numeric order, names after them in text order."""
    return (0, s, "") if isinstance(s, int) else (1, 0, str(s))


@dataclass
class Dataset:
    spec: DataSpec
    classes: tuple[str, ...]
    splits: dict[str, WindowSet]
    subjects: dict[str, list]                  # the split: subjects per split
    kind: str                                  # package | hapt | uci | labelled
    notes: dict = field(default_factory=dict)  # per-source facts (units found, files read)

    def window_spec(self) -> WindowSpec:
        return self.spec.window_spec(self.classes)


def window_length(spec: DataSpec) -> str:
    """A window's length for messages: ``128 samples (2.56 s)``."""
    return f"{spec.window} samples ({spec.window / SAMPLE_RATE:.2f} s)"


def relabel(recs: list[Recording], names: tuple[str, ...], classes: tuple[str, ...]
            ) -> list[Recording]:
    """Labels as ids into ``names`` -> ids into ``classes`` (1-based; -1 where not a class)."""
    lut = np.full(len(names) + 2, -1, np.int16)   # index 0 unused, last index for -1
    for i, n in enumerate(names):
        if n in classes:
            lut[i + 1] = classes.index(n) + 1
    out = []
    for r in recs:
        ids = np.where((r.labels >= 1) & (r.labels <= len(names)), r.labels, len(names) + 1)
        out.append(Recording(r.experiment, r.user, r.raw, lut[ids]))
    return out


def choose_classes(spec: DataSpec, available: tuple[str, ...], where) -> tuple[str, ...]:
    if spec.classes is None:
        return available
    unknown = [c for c in spec.classes if c not in available]
    if unknown:
        raise EdgeharError(where, f"--classes names {', '.join(unknown)}, not in the data "
                                  f"(classes there: {', '.join(available)[:300]})")
    if len(set(spec.classes)) != len(spec.classes) or len(spec.classes) < 2:
        raise EdgeharError(where, "--classes needs at least two distinct class names")
    return tuple(spec.classes)


def _as_subject_type(values, subjects: np.ndarray) -> tuple:
    """CLI subject lists are strings; match the data's subject ids (numbers or names)."""
    numeric = subjects.dtype.kind in "iu"
    out = []
    for v in values:
        if numeric:
            try:
                out.append(int(v))
            except (TypeError, ValueError):
                raise EdgeharError(None, f"subject {v!r} is not a number; this data's subjects "
                                         "are numbers") from None
        else:
            out.append(str(v))
    return tuple(out)


def make_split(spec: DataSpec, ws: WindowSet, kind: str, classes: tuple[str, ...]
               ) -> dict[str, tuple]:
    """Subjects per split: given lists, UCI-HAR's for the built-in data, else seeded fractions
    of the subjects. Refuses a subject in two splits, an unknown subject, a split without
    subjects, and a class with no test window."""
    everyone = sorted(set(ws.subject.tolist()), key=subject_key)
    builtin = kind in ("package", "hapt", "uci")
    test = (_as_subject_type(spec.test_subjects, ws.subject) if spec.test_subjects is not None
            else UCI_TEST_SUBJECTS if builtin else None)
    val = (_as_subject_type(spec.val_subjects, ws.subject) if spec.val_subjects is not None
           else UCI_VAL_SUBJECTS if builtin and test == UCI_TEST_SUBJECTS else None)
    rng = np.random.default_rng(spec.split_seed)
    rest = [s for s in everyone if test is None or s not in test]
    if test is None:
        if len(everyone) < 3:
            raise EdgeharError(spec.source, f"cannot split {len(everyone)} subject(s) into train, "
                                            "validation and test: record at least 3 subjects")
        pool = [s for s in everyone if val is None or s not in val]   # given val subjects stay
        n_test = max(1, round(spec.test_fraction * len(everyone)))
        order = list(rng.permutation(len(pool)))
        test = tuple(pool[i] for i in sorted(order[:n_test]))
        rest = [s for s in everyone if s not in test]
    if val is None:
        n_val = max(1, round(spec.val_fraction * len(everyone)))
        order = list(rng.permutation(len(rest)))
        val = tuple(rest[i] for i in sorted(order[:n_val]))
    if builtin and test == UCI_TEST_SUBJECTS and val == UCI_VAL_SUBJECTS:
        # the published split; a partial copy of the data keeps whichever subjects it has
        test = tuple(x for x in test if x in everyone)
        val = tuple(x for x in val if x in everyone)
        train = tuple(x for x in everyone if x not in test and x not in val)
        return {"train": train, "val": val, "test": test}
    both = set(test) & set(val)
    if both:
        raise EdgeharError(spec.source, f"subject(s) {', '.join(map(str, sorted(both, key=subject_key)))} "
                                        "in both the test and the validation split")
    unknown = (set(test) | set(val)) - set(everyone)
    if unknown:
        raise EdgeharError(spec.source, f"subject(s) {', '.join(map(str, sorted(unknown, key=subject_key)))}"
                                        f" not in the data (subjects: "
                                        f"{', '.join(map(str, everyone))[:200]})")
    train = tuple(s for s in everyone if s not in test and s not in val)
    for name, subjects in (("train", train), ("validation", val), ("test", test)):
        if not subjects:
            raise EdgeharError(spec.source, f"the {name} split has no subject")
    nowhere = [c for i, c in enumerate(classes) if not (ws.y == i).any()]
    if nowhere:
        raise EdgeharError(spec.source, f"class(es) {', '.join(nowhere)} have no window at all: a "
                                        f"window needs {window_length(spec)} of one label; label "
                                        "longer stretches, or leave them out with --classes")
    test_y = ws.y[np.isin(ws.subject, list(test))]
    missing = [c for i, c in enumerate(classes) if not (test_y == i).any()]
    if missing:
        raise EdgeharError(spec.source, f"class(es) {', '.join(missing)} have no window from the "
                                        f"test subjects ({', '.join(map(str, test))}): record "
                                        "them for a test subject or choose other test subjects")
    return {"train": tuple(train), "val": tuple(val), "test": tuple(test)}
