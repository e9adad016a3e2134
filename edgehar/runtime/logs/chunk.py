"""What every log reader yields."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class LogChunk:
    samples: np.ndarray            # (n, 6) float64 at 50 Hz: ax ay az (g), gx gy gz (rad/s)
    labels: np.ndarray | None      # (n,) int16 activity ids (-1 unknown) or None
