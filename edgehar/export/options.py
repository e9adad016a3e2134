"""What one export is asked to do (``edgehar export``'s options as a record)."""

from __future__ import annotations

from dataclasses import dataclass

from .formats import Format

FLOAT_ATOL = 1e-3   # max |logit diff| a float conversion may add (DESIGN: < 1e-3)


@dataclass
class ExportOptions:
    int8: bool = False
    max_drop_pp: float = 1.0
    calib_windows: int = 512
    calib_seed: int = 0
    # Layers left in float inside the INT8 models: a diagnosis tool (which layer loses the
    # accuracy?). Any makes the INT8 files hybrids, not integer-only; none by default.
    float_modules: tuple[str, ...] = ()
    # Per-channel input clips folded into the normalization and the stem (train/input_clips):
    # what makes an integer-only input tensor lossless. Off only to measure what it buys.
    input_scaling: bool = True
    mcu: bool = False                  # the microcontroller kit and a TFLM row in the chain
    float_atol: float = FLOAT_ATOL     # max |logit diff| of a float step against torch
    chain_split: str = "test"          # "val" to make quantization choices without test data
    formats: frozenset[Format] = frozenset({Format.ONNX, Format.TFLITE})
    source: str | None = None          # data source; default: the run's own
    max_test_windows: int | None = None  # tests only: score the chain on a slice
