"""A model's input or output tensor and its affine INT8 quantization (real = scale * (q - zp))."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

_BOUNDS = {"int8": (-128, 127), "uint8": (0, 255)}


def _clipped(q: np.ndarray, dtype: str) -> np.ndarray:
    """Rounded float values -> the integer type, clipped to its range (in place, then cast)."""
    lo, hi = _BOUNDS[dtype]   # np.iinfo costs ~7 us a call, as much as the math
    np.clip(q, lo, hi, out=q)
    return q.astype(dtype)


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
        q = np.divide(x, self.scale)   # == round(x / scale) + zp, clipped; in place
        np.rint(q, out=q)
        q += self.zero_point
        return _clipped(q, self.dtype)

    def dequantize(self, q: np.ndarray) -> np.ndarray:
        # Python scalars keep the float32 array float32: no trailing astype copy.
        return (q.astype(np.float32) - self.zero_point) * self.scale


def folded_quantizer(info: TensorInfo, mean: np.ndarray, std: np.ndarray
                     ) -> Callable[[np.ndarray], np.ndarray]:
    """``info.quantize((x - mean) / std)`` in one pass (x * a + b, rounded and clipped): the
    normalization folded into an int8 input's quantization, for raw windows."""
    a = 1.0 / (np.asarray(std, np.float64) * info.scale)
    b = (info.zero_point - np.asarray(mean, np.float64) * a).astype(np.float32)
    a = a.astype(np.float32)

    def quantize(x: np.ndarray) -> np.ndarray:
        q = np.multiply(x, a, dtype=np.float32)
        q += b
        np.rint(q, out=q)
        return _clipped(q, info.dtype)

    return quantize
