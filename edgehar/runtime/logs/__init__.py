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
from .apps import TOTAL_ACCELERATION, LogFiles, log_files, logs_under, recording_in
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
from .formats import find_columns, is_parquet, parse_mapping
from .hapt import (
    HAPT_NAME,
    hapt_experiment,
    labels_for,
    read_hapt_labels,
    read_hapt_log,
    read_label_segments,
)
from .resample import DEFAULT_MAX_GAP_S
from .units import ACC_UNITS, GYRO_UNITS, Units, checked, units_factor

__all__ = ["ACC_UNITS", "DEFAULT_MAX_GAP_S", "GYRO_UNITS", "HAPT_NAME", "READERS",
           "ArrowCsvRows", "CsvRows", "DataQuality", "LabelVocabulary", "LogChunk", "LogFiles",
           "LogSource", "Units", "check_options", "csv_rows", "find_columns", "hapt_experiment",
           "labels_for", "log_files", "logs_under", "open_log", "parse_mapping", "recording_in",
           "read_csv_log", "read_hapt_labels", "read_hapt_log", "read_label_segments",
           "read_sensor_pair"]


@dataclass
class LogSource:
    """The chunks of one log, and what the readers learn about its data on the way."""

    chunks: Iterator[LogChunk]
    quality: DataQuality = field(default_factory=DataQuality)
    read: ReadCounter = field(default_factory=ReadCounter)   # progress through the file
    app: str | None = None       # the logger app whose export this is, when recognised

    def __iter__(self) -> Iterator[LogChunk]:
        return iter(self.chunks)


def check_options(acc_units: str, gyro_units: str, max_gap: float, acc_path=None,
                  gyro_path=None, reader: str = "auto", columns: str | None = None) -> None:
    """The options every reader takes, checked before a file is read (a fleet checks them
    once for all its logs)."""
    units_factor(ACC_UNITS, acc_units, "accelerometer", acc_path)
    units_factor(GYRO_UNITS, gyro_units, "gyroscope", gyro_path)
    if not max_gap >= 2 / SAMPLE_RATE:   # also refuses NaN
        raise EdgeharError(None, f"--max-gap must be at least {2 / SAMPLE_RATE:g} s (two "
                                 f"{SAMPLE_RATE} Hz samples), got {max_gap}")
    check_reader(reader)
    parse_mapping(columns)


def open_log(path: Path, acc_units: str = "auto", labels_path: Path | None = None,
             gyro_units: str = "auto", max_gap: float = DEFAULT_MAX_GAP_S,
             gyro_path: Path | None = None, vocab: LabelVocabulary | None = None,
             reader: str = "auto", columns: str | None = None) -> LogSource:
    """Pick the reader: HAPT acc_expXX_userYY.txt by its name, an app's export folder (or one
    file of its pair) as an accelerometer + gyroscope pair, separate CSVs when ``gyro_path``
    is given, else one CSV (``apps.log_files``). Headers are read here, so a file that is not a
    log fails before any output. Units: forced by ``acc_units``/``gyro_units``, else as the
    header states, else decided on the first 30 s (``units.checked``). A CSV's label names map
    to ids through ``vocab`` (default: the built-in six activities); HAPT labels.txt carries
    ids (1-12, the HAPT names). ``reader`` picks a CSV's row parser (``READERS``);
    ``columns`` maps other header names (``--columns``, ``formats.parse_mapping``)."""
    path = Path(path)
    if not path.exists():
        raise EdgeharError(path, "log file not found")
    if gyro_path is not None and not Path(gyro_path).is_file():
        raise EdgeharError(gyro_path, "gyroscope file not found" if not Path(gyro_path).is_dir()
                           else "is a directory, not a gyroscope file")
    check_options(acc_units, gyro_units, max_gap, path, gyro_path or path, reader, columns)
    mapping = parse_mapping(columns)
    files = log_files(path, gyro_path, mapped=bool(mapping))
    path, gyro_path = files.path, files.gyro
    quality = DataQuality()
    counter = ReadCounter(total=path.stat().st_size)
    hint = TOTAL_ACCELERATION.get(files.app or "")
    if gyro_path is not None:
        if labels_path is not None:
            raise EdgeharError(labels_path, "--labels applies to HAPT logs")
        acc_rows = csv_rows(path, "acc", reader, vocab=vocab, counter=counter, mapping=mapping)
        opened = [acc_rows]
        try:
            gyro_rows = csv_rows(gyro_path, "gyro", reader, mapping=mapping)
            opened.append(gyro_rows)
            gravity_rows = (csv_rows(files.gravity, "acc", reader, mapping=mapping)
                            if files.gravity is not None else None)
        except EdgeharError:
            for r in opened:
                r.f.close()
            raise
        cols = acc_rows.columns, gyro_rows.columns
        units = Units.resolve(acc_units, gyro_units, cols[0].acc_units, cols[1].gyro_units,
                              hint)
        chunks = read_sensor_pair(acc_rows, gyro_rows, units.scale(), max_gap, quality,
                                  gravity_rows)
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
        units = Units("g", "rad/s", "format", "format")
        chunks = _pad_labels(read_hapt_log(path, labels, counter=counter))
    else:
        if labels_path is not None:
            raise EdgeharError(labels_path, "--labels applies to HAPT logs; a CSV log carries a "
                                            "'label' column instead")
        if is_parquet(path):   # the CSV's columns in a Parquet file (pyarrow, imported here)
            from .parquetlog import ParquetRows

            rows = ParquetRows(path, "both", vocab=vocab, counter=counter, mapping=mapping)
        else:
            rows = csv_rows(path, "both", reader, vocab=vocab, counter=counter, mapping=mapping)
        c = rows.columns
        units = Units.resolve(acc_units, gyro_units, c.acc_units, c.gyro_units,
                              TOTAL_ACCELERATION.get(c.app or "", hint))
        chunks = read_csv_log(rows, units.scale(), max_gap, quality)
    if vocab is not None:
        quality.unknown_labels = vocab.unknown    # filled while reading
    return LogSource(checked(chunks, quality, units, path), quality, counter, files.app)


def _pad_labels(chunks: Iterator[LogChunk]) -> Iterator[LogChunk]:
    """labels.txt ends at the last labelled sample; pad the rest of the stream with -1."""
    for c in chunks:
        if c.labels is not None and len(c.labels) < len(c.samples):
            c.labels = np.concatenate([c.labels, np.full(len(c.samples) - len(c.labels), -1,
                                                         np.int16)])
        yield c
