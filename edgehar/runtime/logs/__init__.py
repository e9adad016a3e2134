"""Sensor log readers, chunked so a 24-hour log is never held whole.

Every reader yields ``LogChunk``s of 50 Hz samples [ax ay az (g), gx gy gz (rad/s)] plus,
where the log carries them, per-sample activity labels (1..6, -1 unknown). ``open_log``
picks the reader from the file name.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..errors import EdgeharError
from .chunk import LogChunk
from .csvlog import ACC_UNITS, read_csv_log
from .hapt import (
    HAPT_NAME,
    hapt_experiment,
    labels_for,
    read_hapt_labels,
    read_hapt_log,
    read_label_segments,
)
from .resample import Resampler

__all__ = ["ACC_UNITS", "HAPT_NAME", "LogChunk", "Resampler", "hapt_experiment", "labels_for",
           "open_log", "read_csv_log", "read_hapt_labels", "read_hapt_log", "read_label_segments"]


def open_log(path: Path, acc_units: str = "g", labels_path: Path | None = None
             ) -> Iterator[LogChunk]:
    """Pick the reader by file name: HAPT acc_expXX_userYY.txt, else CSV."""
    path = Path(path)
    if not path.exists():
        raise EdgeharError(path, "log file not found")
    if HAPT_NAME.search(path.name):
        labels = None
        if labels_path is not None:
            labels = read_hapt_labels(labels_path, hapt_experiment(path))
        return _pad_labels(read_hapt_log(path, labels))
    if labels_path is not None:
        raise EdgeharError(labels_path, "--labels applies to HAPT logs; a CSV log carries a "
                                        "'label' column instead")
    return read_csv_log(path, acc_units)


def _pad_labels(chunks: Iterator[LogChunk]) -> Iterator[LogChunk]:
    """labels.txt ends at the last labelled sample; pad the rest of the stream with -1."""
    for c in chunks:
        if c.labels is not None and len(c.labels) < len(c.samples):
            c.labels = np.concatenate([c.labels, np.full(len(c.samples) - len(c.labels), -1,
                                                         np.int16)])
        yield c
