"""What every log reader yields, and what it learns about the data on the way."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np


@dataclass
class LogChunk:
    samples: np.ndarray            # (n, 6) float64 at 50 Hz: ax ay az (g), gx gy gz (rad/s)
    labels: np.ndarray | None      # (n,) int16 activity ids (-1 unknown) or None
    start: int = 0                 # 50 Hz grid index of samples[0], counted from the log's start
    new_segment: bool = False      # a gap (or the log's start) precedes: filters restart here


@dataclass
class DataQuality:
    """What a replay reports about its input (summary key ``data_quality``)."""

    input_rate_hz: float | None = None      # rows per second of the (accelerometer) stream
    duplicates: int = 0                     # rows merged: repeated or slightly earlier times
    gaps: int = 0                           # gaps longer than --max-gap: the stream splits
    gap_seconds: float = 0.0
    interpolated_gaps: int = 0              # shorter gaps (> 0.1 s), bridged by interpolation
    interpolated_seconds: float = 0.0
    units_check: dict = field(default_factory=dict)
    gyro_rate_hz: float | None = None       # separate gyroscope file only
    unknown_labels: dict = field(default_factory=dict)   # label names the model has no class for
    empty_rows: int = 0                     # leading rows before the accelerometer delivered

    def to_dict(self) -> dict:
        # a shallow copy (asdict's deep copy cost 0.15 ms per log in a fleet of short logs)
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["units_check"], d["unknown_labels"] = dict(self.units_check), dict(self.unknown_labels)
        for k in ("gap_seconds", "interpolated_seconds"):
            d[k] = round(d[k], 3)
        for k in ("input_rate_hz", "gyro_rate_hz"):
            d[k] = None if d[k] is None else round(d[k], 2)
        if d["gyro_rate_hz"] is None:
            del d["gyro_rate_hz"]
        if not d["unknown_labels"]:
            del d["unknown_labels"]
        if not d["empty_rows"]:
            del d["empty_rows"]
        return d


@dataclass
class ReadCounter:
    """Characters read of a log's (first) file so far, for progress lines."""

    total: int = 0
    done: int = 0
