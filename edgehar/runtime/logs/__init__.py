"""Sensor log readers, chunked so a 24-hour log is never held whole.

Every reader yields ``LogChunk``s of 50 Hz samples [ax ay az (g), gx gy gz (rad/s)] plus,
where the log carries them, per-sample activity labels (1..6, -1 unknown). ``open_log``
picks the reader from the file name.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import EdgeharError
from ..spec import SAMPLE_RATE
from .chunk import DataQuality, LogChunk, ReadCounter
from .csvlog import (
    READERS,
    ArrowCsvRows,
    CsvRows,
    LabelVocabulary,
    check_reader,
    csv_rows,
    read_csv_log,
    read_sensor_pair,
)
from .hapt import (
    HAPT_NAME,
    hapt_experiment,
    labels_for,
    read_hapt_labels,
    read_hapt_log,
    read_label_segments,
)
from .resample import DEFAULT_MAX_GAP_S
from .units import ACC_UNITS, GYRO_UNITS, checked, units_factor

__all__ = ["ACC_UNITS", "DEFAULT_MAX_GAP_S", "GYRO_UNITS", "HAPT_NAME", "READERS",
           "ArrowCsvRows", "CsvRows", "DataQuality", "LabelVocabulary", "LogChunk", "LogSource",
           "check_options", "csv_rows", "hapt_experiment", "labels_for", "open_log",
           "read_csv_log", "read_hapt_labels", "read_hapt_log", "read_label_segments",
           "read_sensor_pair"]


@dataclass
class LogSource:
    """The chunks of one log, and what the readers learn about its data on the way."""

    chunks: Iterator[LogChunk]
    quality: DataQuality = field(default_factory=DataQuality)
    read: ReadCounter = field(default_factory=ReadCounter)   # progress through the file

    def __iter__(self) -> Iterator[LogChunk]:
        return iter(self.chunks)


def check_options(acc_units: str, gyro_units: str, max_gap: float, acc_path=None,
                  gyro_path=None, reader: str = "auto") -> None:
    """The options every reader takes, checked before a file is read (a fleet checks them
    once for all its logs)."""
    units_factor(ACC_UNITS, acc_units, "accelerometer", acc_path)
    units_factor(GYRO_UNITS, gyro_units, "gyroscope", gyro_path)
    if not max_gap >= 2 / SAMPLE_RATE:   # also refuses NaN
        raise EdgeharError(None, f"--max-gap must be at least {2 / SAMPLE_RATE:g} s (two "
                                 f"{SAMPLE_RATE} Hz samples), got {max_gap}")
    check_reader(reader)


def open_log(path: Path, acc_units: str = "g", labels_path: Path | None = None,
             gyro_units: str = "rad/s", max_gap: float = DEFAULT_MAX_GAP_S,
             gyro_path: Path | None = None, vocab: LabelVocabulary | None = None,
             reader: str = "auto") -> LogSource:
    """Pick the reader: HAPT acc_expXX_userYY.txt by its name, separate acc + gyro CSVs when
    ``gyro_path`` is given, else one CSV. Units are checked on the first 30 s. A CSV's label
    names map to ids through ``vocab`` (default: the built-in six activities); HAPT labels.txt
    carries ids (1-12, the HAPT names). ``reader`` picks a CSV's row parser (``READERS``)."""
    path = Path(path)
    for p, what in ((path, "log file"), (gyro_path, "gyroscope file")):
        if p is not None and not Path(p).is_file():
            raise EdgeharError(p, f"{what} not found" if not Path(p).is_dir()
                                  else f"is a directory, not a {what}")
    check_options(acc_units, gyro_units, max_gap, path, gyro_path or path, reader)
    quality = DataQuality()
    counter = ReadCounter(total=path.stat().st_size)
    if gyro_path is not None:
        if labels_path is not None:
            raise EdgeharError(labels_path, "--labels applies to HAPT logs")
        chunks = read_sensor_pair(path, Path(gyro_path), acc_units, gyro_units, max_gap, quality,
                                  vocab=vocab, counter=counter, reader=reader)
    elif HAPT_NAME.search(path.name):
        if {acc_units, gyro_units} - {"g", "rad/s", "auto"}:
            raise EdgeharError(path, "HAPT raw files are in g and rad/s; --acc-units and "
                                     "--gyro-units apply to CSV logs")
        labels = None
        if labels_path is not None:   # HAPT ids -> the vocabulary's (the model's) ids, by name
            ids = read_hapt_labels(labels_path, hapt_experiment(path))
            lut = (vocab or LabelVocabulary()).hapt_lut()
            labels = lut[np.clip(ids, 0, len(lut) - 1)]
        quality.input_rate_hz = 50.0
        chunks = _pad_labels(read_hapt_log(path, labels, counter=counter))
    else:
        if labels_path is not None:
            raise EdgeharError(labels_path, "--labels applies to HAPT logs; a CSV log carries a "
                                            "'label' column instead")
        chunks = read_csv_log(path, acc_units, gyro_units, max_gap, quality, vocab=vocab,
                              counter=counter, reader=reader)
    if vocab is not None:
        quality.unknown_labels = vocab.unknown    # filled while reading
    return LogSource(checked(chunks, quality, acc_units, gyro_units, path), quality, counter)


def _pad_labels(chunks: Iterator[LogChunk]) -> Iterator[LogChunk]:
    """labels.txt ends at the last labelled sample; pad the rest of the stream with -1."""
    for c in chunks:
        if c.labels is not None and len(c.labels) < len(c.samples):
            c.labels = np.concatenate([c.labels, np.full(len(c.samples) - len(c.labels), -1,
                                                         np.int16)])
        yield c
