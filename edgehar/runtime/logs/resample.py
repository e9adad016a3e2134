"""Timestamped rows as phones write them -> one 50 Hz grid, streamed in bounded memory.

``TimedStream`` cleans one sensor's rows: repeated timestamps (a sensor HAL delivering a batch)
are merged into the first, a step back in time within ``BACKWARD_TOLERANCE_S`` is treated the
same way, a larger one is an error naming the line. ``GridAligner`` linearly interpolates one
or more cleaned streams (one CSV with six columns, or separate accelerometer and gyroscope
files) onto the common grid ``t0 + k / 50`` where every stream has data. A gap longer than
``max_gap`` in any stream splits the output: no grid sample inside it is produced (none is
even built: a night without data costs nothing), and the next chunk is flagged as a new
segment (the filters restart there, no window spans the gap). Gaps are counted once, on the
grid, whichever stream they are in.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..errors import EdgeharError
from ..spec import SAMPLE_RATE
from .chunk import DataQuality, LogChunk

BACKWARD_TOLERANCE_S = 0.010   # clock jitter: a row this much earlier than the last is merged
GAP_MIN_S = 0.1                # an interval longer than this is counted as a (bridged) gap
DEFAULT_MAX_GAP_S = 1.0        # longer gaps split the stream
MAX_JUMP_S = 1e6               # ~12 days between two rows: a broken clock, not a pause
GRID_PIECE = 1 << 16           # grid samples built at a time
ON_ROW_S = 1e-6                # a grid point this close to a row's time is on it


class TimedStream:
    """One sensor's rows, cleaned chunk by chunk; keeps what interpolation still needs."""

    def __init__(self, path: Path, quality: DataQuality, max_gap: float):
        self.path, self.quality, self.max_gap = path, quality, max_gap
        self.t = np.empty(0)
        self.v: np.ndarray | None = None
        self.first: float | None = None
        self.last: float | None = None
        self.rows = 0
        self.gap_time = 0.0            # time inside this stream's long gaps (not sampled)
        self.done = False

    def push(self, t: np.ndarray, v: np.ndarray, first_line: int) -> None:
        if not len(t):
            return
        bad = np.flatnonzero(~np.isfinite(t))
        if len(bad):
            raise EdgeharError(self.path, f"time value out of range at line {first_line + bad[0]}")
        prev = -np.inf if self.last is None else self.last
        runmax = np.maximum.accumulate(np.concatenate([[prev], t]))[:-1]
        jump = np.flatnonzero((t - runmax > MAX_JUMP_S) & np.isfinite(runmax))
        if len(jump):
            i = int(jump[0])
            raise EdgeharError(self.path, f"time jumps by {t[i] - runmax[i]:.3g} s at line "
                                          f"{first_line + i} (a broken clock?)")
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
        self.gap_time += float(dt[dt > self.max_gap].sum())
        if self.first is None:
            self.first = float(t[0])
        self.last = float(t[-1])
        self.rows += len(t)
        self.t = np.concatenate([self.t, t])
        self.v = v if self.v is None else np.concatenate([self.v, v])

    def rate_hz(self) -> float | None:
        """Rows per second while the sensor was delivering (long gaps left out)."""
        if self.first is None or self.last is None:
            return None
        span = self.last - self.first - self.gap_time
        return (self.rows - 1) / span if span > 0 else None

    def long_gaps(self) -> np.ndarray:
        """(k, 2) start and end times of the buffered intervals longer than max_gap."""
        d = np.diff(self.t)
        i = np.flatnonzero(d > self.max_gap)
        return np.stack([self.t[i], self.t[i + 1]], 1)

    def sample(self, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Values at ``grid`` (inside the buffered rows) and the length of the interval each
        point was interpolated across."""
        if len(self.t) == 1:
            return np.repeat(self.v, len(grid), axis=0), np.zeros(len(grid))
        # a grid point within ON_ROW_S of a row takes the interval that starts there, so a log
        # written on the 50 Hz grid maps one row to one point whatever its time rounding
        i = np.clip(np.searchsorted(self.t, grid + ON_ROW_S, side="right"), 1, len(self.t) - 1)
        t0, t1 = self.t[i - 1], self.t[i]
        span = t1 - t0
        w = ((grid - t0) / np.where(span > 0, span, 1.0))[:, None]
        # v0 + (v1 - v0) w. Rows are sliced, not gathered, over the leading run of points
        # that take consecutive rows (all of them for a log on the grid, but the last point,
        # which sits on the last row)
        n = len(i)
        k = n - 1 if n > 1 and i[-1] == i[-2] else n
        a = int(i[0])
        if not (i[k - 1] - a == k - 1 and (np.diff(i[:k]) == 1).all()):
            k, a = 0, 0
        v0 = self.v[a - 1:a - 1 + k]   # empty when k == 0
        rest = i[k:]
        r0 = self.v[rest - 1]
        out = np.empty((n, self.v.shape[1]))
        np.subtract(self.v[a:a + k], v0, out=out[:k])
        np.subtract(self.v[rest], r0, out=out[k:])
        out *= w
        out[:k] += v0
        out[k:] += r0
        return out, span

    def trim(self, before: float) -> None:
        """Forget rows no longer needed to interpolate at times >= ``before``."""
        k = max(int(np.searchsorted(self.t, before, side="right")) - 1, 0)
        if k:
            self.t, self.v = self.t[k:], self.v[k:]


class GridAligner:
    """Streams -> LogChunks on one 50 Hz grid (columns: the streams' columns side by side)."""

    def __init__(self, streams: list[TimedStream], quality: DataQuality, rate: int = SAMPLE_RATE):
        self.streams, self.quality = streams, quality
        self.step = 1.0 / rate
        self.t0: float | None = None
        self.k = 0                    # next grid index to produce
        self.last_emitted = -2        # grid index of the last sample produced
        self._bridged = False         # the last produced sample was interpolated across a gap

    def ready_until(self) -> float | None:
        if any(s.first is None for s in self.streams):
            return None
        return min(s.last for s in self.streams)

    def _k_at(self, t: float, up: bool) -> int:
        x = (t - self.t0) / self.step
        return math.ceil(x - 1e-9) if up else math.floor(x + 1e-9)

    def emit(self) -> Iterator[LogChunk]:
        """Every grid sample that all streams cover so far, split at long gaps."""
        until = self.ready_until()
        if until is None:
            return
        if self.t0 is None:
            self.t0 = max(s.first for s in self.streams)
            for s in self.streams:   # rows before the common start are never needed
                s.trim(self.t0)
        k_end = self._k_at(until, up=False) + 1
        if k_end <= self.k:
            return
        # grid ranges between the long gaps of any stream (gap ends themselves are sampled)
        gaps = sorted((float(a), float(b)) for s in self.streams for a, b in s.long_gaps())
        ranges, lo = [], self.k
        for a, b in gaps:
            hi = min(self._k_at(a, up=False), k_end - 1)
            if hi >= lo:
                ranges.append((lo, hi + 1))
            lo = max(lo, self._k_at(b, up=True))
        if lo < k_end:
            ranges.append((lo, k_end))
        for r0, r1 in ranges:
            for p0 in range(r0, r1, GRID_PIECE):
                yield from self._piece(np.arange(p0, min(p0 + GRID_PIECE, r1)))
        self.k = k_end
        last = self.t0 + (k_end - 1) * self.step
        for s in self.streams:
            s.trim(last)

    def _piece(self, ks: np.ndarray) -> Iterator[LogChunk]:
        grid = self.t0 + ks * self.step
        parts, span = [], np.zeros(len(ks))
        for s in self.streams:
            values, interval = s.sample(grid)
            parts.append(values)
            span = np.maximum(span, interval)
        start = int(ks[0])
        new_segment = start != self.last_emitted + 1
        q = self.quality
        if new_segment and self.last_emitted >= 0:
            q.gaps += 1
            q.gap_seconds += (start - self.last_emitted) * self.step
        # bridged gaps: runs of samples interpolated across an interval longer than GAP_MIN_S
        bridged = span > GAP_MIN_S
        if bridged.any():
            starts = bridged & ~np.r_[self._bridged and not new_segment, bridged[:-1]]
            q.interpolated_gaps += int(starts.sum())
            q.interpolated_seconds += float(bridged.sum()) * self.step
        self._bridged = bool(bridged[-1])
        self.last_emitted = int(ks[-1])
        yield LogChunk(np.concatenate(parts, axis=1), None, start, new_segment)
