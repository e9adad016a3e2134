"""The one preprocessing: raw accelerometer (g) + gyroscope (rad/s) -> UCI-HAR's nine channels,
then sliding windows. Training runs recordings through this exact code (edgehar.data)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from .filters import BlockIIR
from .spec import WindowSpec


class Preprocessor:
    """Streaming: feed (n, 6) chunks [ax ay az gx gy gz] of any size; returns (n, 9) float32.

    State is carried between calls and starts in steady state at the first sample, so the
    filters do not ring at the start of a recording."""

    def __init__(self, spec: WindowSpec | None = None):
        self.spec = spec or WindowSpec()
        self._noise = BlockIIR(self.spec.noise_filter, 6)
        self._gravity = BlockIIR(self.spec.gravity_filter, 3)

    def reset(self) -> None:
        self._noise.reset()
        self._gravity.reset()

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        raw = np.asarray(raw, dtype=np.float64)
        if raw.ndim != 2 or raw.shape[1] != 6:
            raise ValueError(f"expected (n, 6) samples, got {raw.shape}")
        smooth = self._noise(raw)
        total = smooth[:, :3]
        out = np.empty((len(raw), 9), np.float32)   # [body_acc, gyro, total_acc], cast once
        np.subtract(total, self._gravity(total), out=out[:, :3])
        out[:, 3:6] = smooth[:, 3:]
        out[:, 6:9] = total
        return out


def window_label(labels: np.ndarray, window: int, classes: int = 6) -> int:
    """Class index 0..classes-1 when all ``window`` samples carry one activity 1..classes,
    else -1 (short, unlabelled, or spanning a change): the UCI-HAR rule for a window."""
    if len(labels) == window and 1 <= labels[0] <= classes and (labels == labels[0]).all():
        return int(labels[0]) - 1
    return -1


def window_labels(labels: np.ndarray, starts: np.ndarray, window: int, classes: int = 6
                  ) -> np.ndarray:
    """``window_label`` of the windows starting at ``starts`` (indices into ``labels``),
    vectorized: a window keeps its first label when no label changes inside it."""
    labels = np.asarray(labels)
    starts = np.asarray(starts, np.int64)
    out = np.full(len(starts), -1, np.int64)
    whole = (starts >= 0) & (starts + window <= len(labels))
    if not whole.any() or len(labels) == 0:
        return out
    # changes[i]: how many label changes among labels[0..i]
    changes = np.concatenate([[0], np.cumsum(labels[1:] != labels[:-1])])
    s = starts[whole]
    first = labels[s].astype(np.int64)
    same = changes[s + window - 1] == changes[s]
    out[whole] = np.where(same & (first >= 1) & (first <= classes), first - 1, -1)
    return out


@dataclass
class WindowBatch:
    starts: np.ndarray   # (k,) sample index of each window's first sample in the stream
    windows: np.ndarray  # (k, window, channels)


class Windower:
    """Sliding windows over a stream pushed in chunks of any size.

    Holds at most ``window - 1`` samples between pushes (plus the chunk being cut), so memory
    does not grow with stream length. Windows start at sample 0 and every ``hop`` after."""

    def __init__(self, window: int, hop: int, channels: int):
        self.window, self.hop, self.channels = window, hop, channels
        self.reset()

    def reset(self, start: int = 0) -> None:
        """Forget buffered samples; the next sample pushed has stream index ``start`` and the
        next window starts at the first multiple of ``hop`` from there (windows stay on the
        stream's hop grid after a gap; the samples before it warm the filters up)."""
        self._buf = np.empty((0, self.channels), np.float32)
        self._buf_start = start                           # stream index of _buf[0]
        self._next = -(-start // self.hop) * self.hop     # where the next window starts

    @property
    def next_start(self) -> int:
        """Stream index where the next window will start: nothing before it is needed again."""
        return self._next

    def push(self, x: np.ndarray) -> WindowBatch:
        buf = np.concatenate([self._buf, x]) if len(self._buf) else np.asarray(x)
        offset = self._next - self._buf_start
        n = 0 if len(buf) - offset < self.window else (len(buf) - offset - self.window) // self.hop + 1
        if n:
            view = np.lib.stride_tricks.sliding_window_view(buf[offset:], self.window, axis=0)
            wins = np.ascontiguousarray(view[:: self.hop][:n].transpose(0, 2, 1))
        else:
            wins = np.empty((0, self.window, self.channels), np.float32)
        starts = self._next + self.hop * np.arange(n)
        self._next += self.hop * n
        keep_from = min(max(self._next - self._buf_start, 0), len(buf))
        self._buf = buf[keep_from:].copy()
        self._buf_start += keep_from
        return WindowBatch(starts, wins.astype(np.float32, copy=False))


def iter_windows(chunks: Iterator[np.ndarray], spec: WindowSpec | None = None
                 ) -> Iterator[WindowBatch]:
    """Raw (n, 6) chunks -> preprocessed window batches: the streaming path end to end."""
    spec = spec or WindowSpec()
    pre = Preprocessor(spec)
    win = Windower(spec.window, spec.hop, len(spec.channels))
    for chunk in chunks:
        batch = win.push(pre(chunk))
        if len(batch.starts):
            yield batch


def windows_of(raw: np.ndarray, spec: WindowSpec | None = None) -> WindowBatch:
    """All windows of one whole recording (the batch path: a single chunk)."""
    spec = spec or WindowSpec()
    batches = list(iter_windows(iter([raw]), spec))
    if not batches:
        return WindowBatch(np.empty(0, np.int64),
                           np.empty((0, spec.window, len(spec.channels)), np.float32))
    return batches[0]
