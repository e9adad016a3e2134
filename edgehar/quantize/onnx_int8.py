"""ONNX FP32 -> ONNX INT8 with ONNX Runtime static quantization (QDQ, per-channel weights)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from ..runtime.files import atomic_path
from .calibration import CalibrationSet


def quantize_onnx(fp32: Path, out: Path, calib: CalibrationSet, input_name: str) -> None:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with atomic_path(out) as tmp, tempfile.TemporaryDirectory() as d:
        pre = Path(d) / "pre.onnx"
        # Shape inference + BN folding first, as ONNX Runtime's docs recommend.
        quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
        quantize_static(
            str(pre), str(tmp), calib.onnx_reader(input_name),
            quant_format=QuantFormat.QDQ, per_channel=True,
            # U8S8: ONNX Runtime's recommended CPU pairing. Percentile ranges: MinMax followed
            # the rare extreme window and cost 0.6-0.9 pp on the default model, 99.999 % ~0.4.
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.Percentile,
            extra_options={"CalibPercentile": 99.999, "WeightSymmetric": True},
        )
