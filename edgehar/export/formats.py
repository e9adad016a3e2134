"""What a step of the export is: a row of the step table (``steps.STEPS``), with the file it
writes, its format and precision, its lineage and the function that runs it."""

from __future__ import annotations

from collections.abc import Callable
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
    """One row of the export. ``steps.run_step`` runs every row the same way: it times
    ``run(export, step, log)``, and turns any failure into the export's one failure, removing
    the row's files."""

    name: str                          # chain step or task, e.g. "onnx_int8", "int8_parity"
    run: Callable | None = None        # (steps.Export, Step, log) -> None
    filename: str | None = None        # the model file it writes, listed in the manifest
    format: Format | None = None
    precision: Precision | None = None
    parent: str = ""                   # step whose file this one is converted from
    previous: str = ""                 # step it is compared against for "drop vs previous"
    convert: Callable | None = None    # (converters.ConvertContext, Path) -> None
    other_files: tuple[str, ...] = ()  # files besides the model file (the MCU kit)
    # which exports run it; default: its format is asked for, and INT8 only with --int8
    when: Callable | None = None       # (ExportOptions) -> bool

    @property
    def is_float(self) -> bool:
        return self.precision is Precision.FP32

    @property
    def files(self) -> tuple[str, ...]:
        return ((self.filename,) if self.filename else ()) + self.other_files

    def wanted(self, opts) -> bool:
        if self.when is not None:
            return self.when(opts)
        return self.format in opts.formats and (opts.int8 or self.is_float)


TORCH_FP32 = Step("torch_fp32", filename="weights.pt", format=Format.TORCH,
                  precision=Precision.FP32)
# Offline (fleet) replay's file: the INT8 file for a fixed batch of this many windows, made by
# rewriting the batch-1 graph's shapes (same weights and quantization, same outputs per window).
OFFLINE_BATCH = 64
BATCHED_FILENAME = f"model_int8_b{OFFLINE_BATCH}.tflite"
