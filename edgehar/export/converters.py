"""One small function per conversion, each writing its file atomically, and the validation
every converted file goes through. The step functions at the bottom are what the step table
(``steps.STEPS``) carries."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..runtime.files import atomic_path

if TYPE_CHECKING:
    from ..quantize.calibration import CalibrationSet

INPUT_NAME, OUTPUT_NAME = "window", "logits"
OPSET = 18


class ValidationError(Exception):
    """A converted model whose names, shapes or values do not match its source."""


@dataclass
class ConvertContext:
    """What the converters of one export share."""

    model: object                      # the trained torch module (eval mode)
    bundle: Path
    calib: CalibrationSet
    onnx_metadata: dict[str, str]
    float_modules: tuple[str, ...]
    tflite_metadata: object = None     # tflite_metadata.ModelDescription, embedded when given
    # the INT8 .tflite's PT2E (graph, quantizer): the stream file embeds the same network
    # (calibrating again would cost ~2 minutes for the same observers)
    quantized: tuple | None = None


def export_onnx(model, out: Path, metadata: dict[str, str]) -> None:
    """torch -> ONNX FP32 with a dynamic batch axis (one window or many per call)."""
    import onnx
    import torch
    from torch.export import Dim

    from ..train.registry import io_of

    io = io_of(model)
    x = torch.zeros(2, io.window, io.channels)
    with atomic_path(out) as tmp, tempfile.TemporaryDirectory() as d:
        # The exporter may write weights as external data beside its file; load them back
        # so the shipped .onnx is one self-contained file.
        raw = Path(d) / "raw.onnx"
        torch.onnx.export(model.eval(), (x,), str(raw), dynamo=True, opset_version=OPSET,
                          input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                          dynamic_shapes={"x": {0: Dim("batch")}}, verbose=False)
        proto = onnx.load(str(raw))
        add_metadata(proto, metadata)
        onnx.checker.check_model(proto, full_check=True)
        onnx.save(proto, str(tmp))


KEEP_NODE_PROPS = ("pkg.torch.onnx.name_scopes",)  # module paths: INT8 float-module exclusion


def add_metadata(proto, metadata: dict[str, str]) -> None:
    """Model-level manifest essentials; per-node exporter metadata (stack traces, FX dumps)
    is dropped except module scopes, which keeps the files small."""
    for node in proto.graph.node:
        keep = [(p.key, p.value) for p in node.metadata_props if p.key in KEEP_NODE_PROPS]
        del node.metadata_props[:]
        for k, v in keep:
            entry = node.metadata_props.add()
            entry.key, entry.value = k, v
    del proto.metadata_props[:]
    for k, v in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v


def onnx_metadata(essentials: dict) -> dict[str, str]:
    """The manifest essentials as one JSON prop (what the runtime reads) plus flat props for
    tools that show metadata_props (Netron, onnx.load)."""
    return {
        "edgehar": json.dumps(essentials),
        "labels": ",".join(essentials["labels"]),
        "channels": ",".join(essentials["channels"]),
        "sample_rate": str(essentials["sample_rate"]),
        "window": str(essentials["window"]),
        "hop": str(essentials["hop"]),
    }


def export_tflite(model, out: Path) -> None:
    """torch -> TFLite FP32 (signature ``serving_default``) with litert-torch."""
    import litert_torch
    import torch

    from ..train.registry import io_of

    io = io_of(model)
    sample = (torch.zeros(1, io.window, io.channels),)
    edge = litert_torch.convert(model.eval(), sample)
    with atomic_path(out) as tmp:
        edge.export(str(tmp))


def validate(name: str, runner, x: np.ndarray, reference: np.ndarray, atol: float | None) -> None:
    """Check the output shape, then (float steps) the values against the torch reference."""
    y = runner(x)
    if y.shape != reference.shape:
        raise ValidationError(f"{name}: output shape {y.shape} != reference {reference.shape}")
    if not np.isfinite(y).all():
        raise ValidationError(f"{name}: non-finite outputs")
    if atol is not None:
        err = float(np.abs(y - reference).max())
        if err > atol:
            raise ValidationError(f"{name}: max |logit diff| {err:.2e} exceeds {atol:.0e}")


# --- the steps: ctx + output path -> a written model file


def onnx_fp32(ctx: ConvertContext, out: Path) -> None:
    export_onnx(ctx.model, out, ctx.onnx_metadata)


def onnx_int8(ctx: ConvertContext, out: Path) -> None:
    import onnx

    from ..quantize.onnx_int8 import quantize_onnx

    quantize_onnx(ctx.bundle / "model_fp32.onnx", out, ctx.calib, INPUT_NAME, ctx.float_modules)
    proto = onnx.load(str(out))
    add_metadata(proto, ctx.onnx_metadata)
    with atomic_path(out) as tmp:
        onnx.save(proto, str(tmp))


def _finish_tflite(ctx: ConvertContext, out: Path, compact: bool = False) -> None:
    """The converter's .tflite made Android-ready (labels, tensor descriptions and the
    normalization as metadata), and for INT8 compacted first; written back once."""
    if ctx.tflite_metadata is None and not compact:
        return
    data = out.read_bytes()
    if compact:
        from ..quantize.tflite_file import bias_scale_mismatches
        from ..quantize.tflite_file import compact as compacted

        # TFLite's integer kernels read a bias at input x weight scale, whatever it stores
        wrong = bias_scale_mismatches(data)
        if wrong:
            raise ValidationError(f"{out.name}: int32 bias scales the kernels would not use: "
                                  + "; ".join(wrong))
        data = compacted(data)
    if ctx.tflite_metadata is not None:
        from .tflite_metadata import with_metadata

        data = with_metadata(data, ctx.tflite_metadata)
    with atomic_path(out) as tmp:
        tmp.write_bytes(data)


def tflite_fp32(ctx: ConvertContext, out: Path) -> None:
    from ..train.models import tflite_view

    export_tflite(tflite_view(ctx.model), out)
    _finish_tflite(ctx, out)


def tflite_int8(ctx: ConvertContext, out: Path) -> None:
    from ..quantize.tflite_int8 import quantize_tflite
    from ..train.models import tflite_view

    ctx.quantized = quantize_tflite(tflite_view(ctx.model), out, ctx.calib, ctx.float_modules)
    _finish_tflite(ctx, out, compact=True)
