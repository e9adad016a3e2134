"""Recordings -> labelled windows through the runtime's preprocessing, and the subject split."""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..runtime.errors import EdgeharError
from ..runtime.preprocess import window_labels, windows_of
from ..runtime.spec import HOP, LABELS, WINDOW, WindowSpec
from .dataset import (
    HAPT_LABELS,
    TASKS,
    UCI_TEST_SUBJECTS,
    UCI_VAL_SUBJECTS,
    Dataset,
    DataSpec,
    choose_classes,
    make_split,
    relabel,
    window_length,
)
from .sources import Recording, WindowSet, load_hapt_dir, load_package, load_uci_dir

TEST_SUBJECTS = UCI_TEST_SUBJECTS
VAL_SUBJECTS = UCI_VAL_SUBJECTS
TRAIN_SUBJECTS = tuple(s for s in range(1, 31) if s not in TEST_SUBJECTS + VAL_SUBJECTS)
SPLITS = {"train": TRAIN_SUBJECTS, "val": VAL_SUBJECTS, "test": TEST_SUBJECTS}


def windows_from_recordings(recordings: list[Recording], spec: WindowSpec | None = None
                            ) -> WindowSet:
    """Each recording streams through the runtime Preprocessor; pure-label windows are kept."""
    spec = spec or WindowSpec()
    xs, ys, subj, exp, starts = [], [], [], [], []
    for rec in recordings:
        batch = windows_of(rec.raw, spec)
        y = window_labels(rec.labels, batch.starts, spec.window, len(spec.labels))
        keep = y >= 0
        xs.append(batch.windows[keep])
        ys.append(y[keep])
        starts.append(batch.starts[keep])
        subj.append(np.full(keep.sum(), rec.user))
        exp.append(np.full(keep.sum(), rec.experiment))
    if not xs:
        return WindowSet(np.empty((0, spec.window, len(spec.channels)), np.float32),
                         np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int64),
                         np.empty(0, np.int64))
    return WindowSet(np.concatenate(xs), np.concatenate(ys), np.concatenate(subj),
                     np.concatenate(exp), np.concatenate(starts))


def subset(ws: WindowSet, mask: np.ndarray) -> WindowSet:
    return WindowSet(ws.x[mask], ws.y[mask], ws.subject[mask], ws.experiment[mask],
                     ws.start[mask])


def concat(sets: list[WindowSet]) -> WindowSet:
    return WindowSet(*(np.concatenate([getattr(w, f) for w in sets])
                       for f in ("x", "y", "subject", "experiment", "start")))


def cap_windows(ws: WindowSet, n: int | None, seed: int) -> WindowSet:
    """A stratification-free, seeded subsample (tests and demos only)."""
    if n is None or len(ws.y) <= n:
        return ws
    idx = np.sort(np.random.default_rng(seed).choice(len(ws.y), n, replace=False))
    mask = np.zeros(len(ws.y), bool)
    mask[idx] = True
    return subset(ws, mask)


def split(ws: WindowSet, subjects: dict = SPLITS) -> dict[str, WindowSet]:
    """Windows per split by subject (default: the UCI-HAR split)."""
    return {name: subset(ws, np.isin(ws.subject, list(subs))) for name, subs in subjects.items()}


@dataclass(frozen=True)
class Source:
    """``package`` (embedded default), an official HAPT / UCI HAR directory, or a directory of
    the user's own labelled recordings."""

    spec: str = "package"

    @property
    def kind(self) -> str:
        if self.spec == "package":
            return "package"
        path = Path(self.spec)
        if not path.exists():
            raise EdgeharError(path, "data source not found")
        if not path.is_dir():
            raise EdgeharError(path, "a data source is 'package' or a directory")
        if (path / "Inertial Signals").exists() or (path / "train" / "Inertial Signals").is_dir() \
                or (path / "UCI HAR Dataset").is_dir():
            return "uci"
        if ((path / "labels.txt").is_file() or (path / "RawData" / "labels.txt").is_file()) \
                and not any(path.rglob("*.csv")):   # CSVs beside it: the user's own directory
            return "hapt"
        return "labelled"

    def recordings(self) -> list[Recording]:
        if self.kind == "package":
            return load_package()
        if self.kind == "hapt":
            return load_hapt_dir(Path(self.spec))
        raise EdgeharError(self.spec, "not a source of HAPT recordings")


def load_dataset(spec: DataSpec | None = None) -> Dataset:
    """Windows per split, the class names and the subject split of a data spec."""
    spec = spec or DataSpec()
    if spec.task not in TASKS:
        raise EdgeharError(None, f"unknown task {spec.task!r} (use one of: {', '.join(TASKS)})")
    if spec.source == "package":   # immutable and read often in one process (train, then export)
        return _package_dataset(spec)
    return _load(spec)


@functools.lru_cache(maxsize=4)
def _package_dataset(spec: DataSpec) -> Dataset:
    return _load(spec)


def _load(spec: DataSpec) -> Dataset:
    src = Source(spec.source)
    kind, notes = src.kind, {}
    if spec.hop < 1 or spec.window < 2:
        raise EdgeharError(None, f"--window must be >= 2 and --hop >= 1 samples, got window "
                                 f"{spec.window}, hop {spec.hop}")
    if kind == "uci":
        if (spec.window, spec.hop) != (WINDOW, HOP):
            raise EdgeharError(spec.source, f"a UCI HAR directory is windowed already ({WINDOW} "
                                            f"samples, hop {HOP}): it cannot be cut to another "
                                            "--window or --hop")
        if spec.task != "uci6":
            raise EdgeharError(spec.source, "a UCI HAR directory holds the six activities only "
                                            "(its windows carry no transitions)")
        ws = load_uci_dir(Path(spec.source))
        classes = choose_classes(spec, LABELS, spec.source)
        lut = np.array([classes.index(n) if n in classes else -1 for n in LABELS], np.int64)
        ws = subset(WindowSet(ws.x, lut[ws.y], ws.subject, ws.experiment, ws.start), lut[ws.y] >= 0)
    else:
        if kind == "labelled":
            from .labelled import load_labelled_dir

            recs, names, notes = load_labelled_dir(Path(spec.source))
            seen = set(np.unique(np.concatenate([r.labels for r in recs])).tolist())
            available = tuple(sorted(n for i, n in enumerate(names) if i + 1 in seen))
        else:
            recs, names = src.recordings(), HAPT_LABELS
            available = TASKS[spec.task]
        classes = choose_classes(spec, available, spec.source)
        ws = windows_from_recordings(relabel(recs, names, classes), spec.window_spec(classes))
        if not len(ws.y):
            raise EdgeharError(spec.source, f"no window carries one class for all its "
                                            f"{window_length(spec)}: label longer stretches")
    subjects = make_split(spec, ws, kind, classes)
    return Dataset(spec, classes, split(ws, subjects), {k: list(v) for k, v in subjects.items()},
                   kind, notes)


def dataset_of_run(data: DataSpec, source: str | None = None, overrides: dict | None = None
                   ) -> Dataset:
    """The data a run (or a bundle) was trained on, from its run config's ``data`` (labels in
    the model's order, its window grid and its resolved split); ``source`` points the same spec
    at another copy of the data and ``overrides`` replaces fields (a list of test subjects drops
    the stored validation list unless one is given too)."""
    overrides = dict(overrides or {})
    if "test_subjects" in overrides or "test_fraction" in overrides or "split_seed" in overrides:
        overrides.setdefault("val_subjects", None)
        overrides.setdefault("test_subjects", None)
    for fixed in ("classes", "window", "hop"):   # the model's own label order and window grid
        overrides.pop(fixed, None)
    return load_dataset(replace(data, source=source or data.source, **overrides))
