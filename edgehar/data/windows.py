"""Recordings -> labelled windows through the runtime's preprocessing, and the subject split."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..runtime.errors import EdgeharError
from ..runtime.preprocess import window_label, windows_of
from ..runtime.spec import LABELS, WindowSpec
from .sources import Recording, WindowSet, load_hapt_dir, load_package, load_uci_dir

TEST_SUBJECTS = (2, 4, 9, 10, 12, 13, 18, 20, 24)          # the official UCI-HAR test split
VAL_SUBJECTS = (3, 11, 19, 27)                             # fixed, drawn from train subjects only
TRAIN_SUBJECTS = tuple(s for s in range(1, 31) if s not in TEST_SUBJECTS + VAL_SUBJECTS)
SPLITS = {"train": TRAIN_SUBJECTS, "val": VAL_SUBJECTS, "test": TEST_SUBJECTS}


def window_labels(labels: np.ndarray, starts: np.ndarray, window: int) -> np.ndarray:
    """Class index 0..5 for windows whose samples all carry one activity 1..6, else -1."""
    return np.array([window_label(labels[s:s + window], window, len(LABELS)) for s in starts],
                    np.int64)


def windows_from_recordings(recordings: list[Recording], spec: WindowSpec | None = None
                            ) -> WindowSet:
    """Each recording streams through the runtime Preprocessor; pure-label windows are kept."""
    spec = spec or WindowSpec()
    xs, ys, subj, exp, starts = [], [], [], [], []
    for rec in recordings:
        batch = windows_of(rec.raw, spec)
        y = window_labels(rec.labels, batch.starts, spec.window)
        keep = y >= 0
        xs.append(batch.windows[keep])
        ys.append(y[keep])
        starts.append(batch.starts[keep])
        subj.append(np.full(keep.sum(), rec.user))
        exp.append(np.full(keep.sum(), rec.experiment))
    return WindowSet(np.concatenate(xs), np.concatenate(ys), np.concatenate(subj),
                     np.concatenate(exp), np.concatenate(starts))


def subset(ws: WindowSet, mask: np.ndarray) -> WindowSet:
    return WindowSet(ws.x[mask], ws.y[mask], ws.subject[mask], ws.experiment[mask],
                     ws.start[mask])


def cap_windows(ws: WindowSet, n: int | None, seed: int) -> WindowSet:
    """A stratification-free, seeded subsample (tests and demos only)."""
    if n is None or len(ws.y) <= n:
        return ws
    idx = np.sort(np.random.default_rng(seed).choice(len(ws.y), n, replace=False))
    mask = np.zeros(len(ws.y), bool)
    mask[idx] = True
    return subset(ws, mask)


def split(ws: WindowSet) -> dict[str, WindowSet]:
    return {name: subset(ws, np.isin(ws.subject, subjects)) for name, subjects in SPLITS.items()}


@dataclass(frozen=True)
class Source:
    """``package`` (embedded default), or a path to an official HAPT / UCI HAR directory."""

    spec: str = "package"

    @property
    def kind(self) -> str:
        if self.spec == "package":
            return "package"
        path = Path(self.spec)
        if not path.exists():
            raise EdgeharError(path, "data source not found")
        if (path / "Inertial Signals").exists() or (path / "train" / "Inertial Signals").is_dir() \
                or (path / "UCI HAR Dataset").is_dir():
            return "uci"
        return "hapt"

    def recordings(self) -> list[Recording]:
        if self.kind == "package":
            return load_package()
        if self.kind == "hapt":
            return load_hapt_dir(Path(self.spec))
        raise EdgeharError(self.spec, "a UCI HAR directory holds windows, not recordings")

    def windows(self, spec: WindowSpec | None = None) -> WindowSet:
        if self.kind == "uci":
            return load_uci_dir(Path(self.spec))
        return windows_from_recordings(self.recordings(), spec)


def load_splits(source: str = "package", spec: WindowSpec | None = None) -> dict[str, WindowSet]:
    if source == "package":   # immutable and read often in one process (train, then export)
        return dict(_package_splits(spec or WindowSpec()))
    return split(Source(source).windows(spec))


@functools.lru_cache(maxsize=2)
def _package_splits(spec: WindowSpec) -> dict[str, WindowSet]:
    return split(Source("package").windows(spec))
