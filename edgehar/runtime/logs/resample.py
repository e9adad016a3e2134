"""Streaming linear resampling of timestamped samples onto the 50 Hz grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import EdgeharError
from ..spec import SAMPLE_RATE


class Resampler:
    """Streaming linear interpolation onto a 50 Hz grid starting at the first timestamp."""

    def __init__(self, path: Path, rate: int = SAMPLE_RATE):
        self.path, self.step = path, 1.0 / rate
        self._t_last: float | None = None
        self._v_last: np.ndarray | None = None
        self._k = 0
        self._t0 = 0.0

    def push(self, t: np.ndarray, v: np.ndarray, first_line: int) -> np.ndarray:
        if self._t_last is not None:
            t = np.concatenate([[self._t_last], t])
            v = np.concatenate([self._v_last[None], v])
            first_line -= 1
        else:
            self._t0 = float(t[0])
        d = np.diff(t)
        if (d <= 0).any():
            i = int(np.argmax(d <= 0))
            kind = "duplicate" if d[i] == 0 else "non-monotonic"
            raise EdgeharError(self.path, f"{kind} timestamp at line {first_line + i + 1}")
        k_end = int(np.floor((t[-1] - self._t0) / self.step + 1e-9)) + 1
        grid = self._t0 + self.step * np.arange(self._k, k_end)
        self._k = max(self._k, k_end)
        self._t_last, self._v_last = float(t[-1]), v[-1].copy()
        return np.stack([np.interp(grid, t, v[:, j]) for j in range(v.shape[1])], 1)
