"""Calibration data: one seeded draw of real training windows, served as ONNX Runtime's
``CalibrationDataReader`` and as a TFLite-style representative dataset."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np


@dataclass
class CalibrationSet:
    windows: np.ndarray  # (n, 128, 9) normalized float32, drawn class-balanced from train
    seed: int

    @classmethod
    def draw(cls, x_norm: np.ndarray, y: np.ndarray, n: int, seed: int) -> CalibrationSet:
        """Class-balanced so rare classes still shape the activation ranges."""
        rng = np.random.default_rng(seed)
        classes = np.unique(y)
        per = int(np.ceil(n / len(classes)))
        idx = np.concatenate([rng.permutation(np.flatnonzero(y == c))[:per] for c in classes])
        idx = rng.permutation(idx)[:n]
        return cls(np.ascontiguousarray(x_norm[idx], np.float32), seed)

    def __len__(self) -> int:
        return len(self.windows)

    def representative_dataset(self) -> Iterator[tuple[np.ndarray]]:
        for w in self.windows:
            yield (w[None],)

    def onnx_reader(self, input_name: str, batch: int = 32):
        from onnxruntime.quantization import CalibrationDataReader

        windows = self.windows
        # equal batches: ONNX Runtime's percentile calibrator stacks the batches' outputs, and a
        # short last batch breaks it (a rare class leaves fewer than 512 windows to draw from)
        batch = math.gcd(len(windows), batch) or 1

        class Reader(CalibrationDataReader):
            def __init__(self):
                self._it = iter(range(0, len(windows), batch))

            def get_next(self):
                i = next(self._it, None)
                return None if i is None else {input_name: windows[i:i + batch]}

            def rewind(self):
                self._it = iter(range(0, len(windows), batch))

        return Reader()
