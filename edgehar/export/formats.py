"""The exported artifacts as a table: format, precision, file name, what it is converted from."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


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


TORCH_FP32 = Step("torch_fp32", Format.TORCH, Precision.FP32, "weights.pt", "", "")
STEPS: tuple[Step, ...] = (
    Step("onnx_fp32", Format.ONNX, Precision.FP32, "model_fp32.onnx", "torch_fp32", "torch_fp32"),
    Step("onnx_int8", Format.ONNX, Precision.INT8, "model_int8.onnx", "onnx_fp32", "onnx_fp32"),
    Step("tflite_fp32", Format.TFLITE, Precision.FP32, "model_fp32.tflite", "torch_fp32",
         "torch_fp32"),
    # PT2E quantizes the torch graph, so the INT8 .tflite's parent file is the torch weights;
    # in the chain it is compared against TFLite FP32, the step before it.
    Step("tflite_int8", Format.TFLITE, Precision.INT8, "model_int8.tflite", "torch_fp32",
         "tflite_fp32"),
)


FILENAMES = {s.name: s.filename for s in (TORCH_FP32, *STEPS)}


def steps_for(formats: set[Format], int8: bool) -> list[Step]:
    return [s for s in STEPS if s.format in formats and (int8 or s.precision is Precision.FP32)]
