"""The exported artifacts as a table: format, precision, file name, what it is converted from,
and the converter that writes it. ``bundle.run_step`` runs every row the same way."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from . import converters


class Format(str, Enum):
    TORCH = "torch"
    ONNX = "onnx"
    TFLITE = "tflite"


class Precision(str, Enum):
    FP32 = "fp32"
    INT8 = "int8"


@dataclass(frozen=True)
class Step:
    name: str           # chain step, e.g. "onnx_int8"
    format: Format
    precision: Precision
    filename: str
    parent: str         # step whose file this one is converted from
    previous: str       # step it is compared against for "drop vs previous"
    convert: Callable[[converters.ConvertContext, object], None] | None = None

    @property
    def is_float(self) -> bool:
        return self.precision is Precision.FP32


TORCH_FP32 = Step("torch_fp32", Format.TORCH, Precision.FP32, "weights.pt", "", "")
STEPS: tuple[Step, ...] = (
    Step("onnx_fp32", Format.ONNX, Precision.FP32, "model_fp32.onnx", "torch_fp32", "torch_fp32",
         converters.onnx_fp32),
    Step("onnx_int8", Format.ONNX, Precision.INT8, "model_int8.onnx", "onnx_fp32", "onnx_fp32",
         converters.onnx_int8),
    Step("tflite_fp32", Format.TFLITE, Precision.FP32, "model_fp32.tflite", "torch_fp32",
         "torch_fp32", converters.tflite_fp32),
    # PT2E quantizes the torch graph, so the INT8 .tflite's parent file is the torch weights;
    # in the chain it is compared against TFLite FP32, the step before it.
    Step("tflite_int8", Format.TFLITE, Precision.INT8, "model_int8.tflite", "torch_fp32",
         "tflite_fp32", converters.tflite_int8),
)


FILENAMES = {s.name: s.filename for s in (TORCH_FP32, *STEPS)}
# Offline (fleet) replay's file: the INT8 .tflite for a fixed batch of this many windows, made by
# rewriting the batch-1 graph's shapes (same weights and quantization, same outputs per window).
OFFLINE_BATCH = 64
BATCHED_FILENAME = f"model_int8_b{OFFLINE_BATCH}.tflite"


def steps_for(formats: set[Format], int8: bool) -> list[Step]:
    return [s for s in STEPS if s.format in formats and (int8 or s.precision is Precision.FP32)]
