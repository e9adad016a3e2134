"""A model's input or output tensor and its affine INT8 quantization (real = scale * (q - zp))."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    dtype: str
    scale: float = 0.0
    zero_point: int = 0

    @property
    def quantized(self) -> bool:
        return self.dtype in ("int8", "uint8") and self.scale > 0

    def quantize(self, x: np.ndarray) -> np.ndarray:
        info = np.iinfo(self.dtype)
        q = np.divide(x, self.scale)   # == round(x / scale) + zp, clipped; in place
        np.rint(q, out=q)
        q += self.zero_point
        np.clip(q, info.min, info.max, out=q)
        return q.astype(self.dtype)

    def dequantize(self, q: np.ndarray) -> np.ndarray:
        # Python scalars keep the float32 array float32: no trailing astype copy.
        return (q.astype(np.float32) - self.zero_point) * self.scale
