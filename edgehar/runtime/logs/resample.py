"""Timestamped rows as phones write them -> one 50 Hz grid, streamed in bounded memory.

``TimedStream`` cleans one sensor's rows: repeated timestamps (a sensor HAL delivering a batch)
are merged into the first, a step back in time within ``BACKWARD_TOLERANCE_S`` is treated the
same way, a larger one is an error naming the line. ``GridAligner`` linearly interpolates one
or more cleaned streams (one CSV with six columns, or separate accelerometer and gyroscope
files) onto the common grid ``t0 + k / 50`` where every stream has data. A gap longer than
``max_gap`` in any stream splits the output: no grid sample inside it is produced, and the
next chunk is flagged as a new segment (the filters restart there, no window spans the gap).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import EdgeharError
from ..spec import SAMPLE_RATE
from .chunk import DataQuality, LogChunk

BACKWARD_TOLERANCE_S = 0.010   # clock jitter: a row this much earlier than the last is merged
GAP_MIN_S = 0.1                # an interval longer than this is counted as a (bridged) gap
DEFAULT_MAX_GAP_S = 1.0        # longer gaps split the stream


class TimedStream:
    """One sensor's rows, cleaned chunk by chunk; keeps what interpolation still needs."""

    def __init__(self, path: Path, quality: DataQuality, max_gap: float):
        self.path, self.quality, self.max_gap = path, quality, max_gap
        self.t = np.empty(0)
        self.v: np.ndarray | None = None
        self.first: float | None = None
        self.last: float | None = None
        self.rows = 0
        self.done = False

    def push(self, t: np.ndarray, v: np.ndarray, first_line: int) -> None:
        if not len(t):
            return
        prev = -np.inf if self.last is None else self.last
        runmax = np.maximum.accumulate(np.concatenate([[prev], t]))[:-1]
        keep = t > runmax
        back = runmax - t
        bad = np.flatnonzero(back > BACKWARD_TOLERANCE_S)
        if len(bad):
            i = int(bad[0])
            raise EdgeharError(self.path, f"time runs backwards at line {first_line + i} "
                                          f"({back[i]:.3f} s before the row before it)")
        self.quality.duplicates += int((~keep).sum())
        t, v = t[keep], v[keep]
        if not len(t):
            return
        dt = np.diff(np.concatenate([[prev], t]))[int(self.last is None):]
        long = dt > self.max_gap
        short = (dt > GAP_MIN_S) & ~long
        q = self.quality
        q.gaps += int(long.sum())
        q.gap_seconds += float(dt[long].sum())
        q.interpolated_gaps += int(short.sum())
        q.interpolated_seconds += float(dt[short].sum())
        if self.first is None:
            self.first = float(t[0])
        self.last = float(t[-1])
        self.rows += len(t)
        self.t = np.concatenate([self.t, t])
        self.v = v if self.v is None else np.concatenate([self.v, v])

    def rate_hz(self) -> float | None:
        if self.first is None or self.last is None or self.last <= self.first:
            return None
        return (self.rows - 1) / (self.last - self.first)

    def sample(self, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Values at ``grid`` (inside [t[0], t[-1]]) and a mask of points inside a long gap."""
        if len(self.t) == 1:
            return np.repeat(self.v, len(grid), axis=0), np.zeros(len(grid), bool)
        i = np.clip(np.searchsorted(self.t, grid, side="right"), 1, len(self.t) - 1)
        t0, t1 = self.t[i - 1], self.t[i]
        w = ((grid - t0) / np.where(t1 > t0, t1 - t0, 1.0))[:, None]
        values = self.v[i - 1] * (1 - w) + self.v[i] * w
        in_gap = (t1 - t0 > self.max_gap) & (grid > t0) & (grid < t1)
        return values, in_gap

    def trim(self, before: float) -> None:
        """Forget rows no longer needed to interpolate at times >= ``before``."""
        k = max(int(np.searchsorted(self.t, before, side="right")) - 1, 0)
        if k:
            self.t, self.v = self.t[k:], self.v[k:]


class GridAligner:
    """Streams -> LogChunks on one 50 Hz grid (columns: the streams' columns side by side)."""

    def __init__(self, streams: list[TimedStream], rate: int = SAMPLE_RATE):
        self.streams = streams
        self.step = 1.0 / rate
        self.t0: float | None = None
        self.k = 0                    # next grid index to produce
        self.last_emitted = -2        # grid index of the last sample produced

    def ready_until(self) -> float | None:
        if any(s.first is None for s in self.streams):
            return None
        return min(s.last for s in self.streams)

    def emit(self) -> list[LogChunk]:
        """Every grid sample that all streams cover so far, split at long gaps."""
        until = self.ready_until()
        if until is None:
            return []
        if self.t0 is None:
            self.t0 = max(s.first for s in self.streams)
        k_end = int(np.floor((until - self.t0) / self.step + 1e-9)) + 1
        if k_end <= self.k:
            return []
        ks = np.arange(self.k, k_end)
        grid = self.t0 + ks * self.step
        parts, gap = [], np.zeros(len(ks), bool)
        for s in self.streams:
            values, in_gap = s.sample(grid)
            parts.append(values)
            gap |= in_gap
        values = np.concatenate(parts, axis=1)
        self.k = k_end
        for s in self.streams:
            s.trim(grid[-1])
        keep = np.flatnonzero(~gap)
        chunks = []
        if len(keep):
            # runs of consecutive grid indices; a run that does not continue the last one
            # starts a new segment
            breaks = np.flatnonzero(np.diff(ks[keep]) > 1) + 1
            for run in np.split(keep, breaks):
                start = int(ks[run[0]])
                chunks.append(LogChunk(values[run], None, start, start != self.last_emitted + 1))
                self.last_emitted = int(ks[run[-1]])
        return chunks
