"""Where INT8 loses accuracy: per-tensor SQNR between the float and the QDQ ONNX graphs,
with onnxruntime's qdq_loss_debug (STYLE.md point 5)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from .calibration import CalibrationSet


def onnx_layer_sqnr(fp32: Path, int8: Path, calib: CalibrationSet, input_name: str,
                    windows: int = 64, worst: int = 8) -> list[dict]:
    """The ``worst`` activations by SQNR (dB) of the quantized graph against the float graph;
    a low SQNR is where quantization noise enters."""
    from onnxruntime.quantization.qdq_loss_debug import (
        collect_activations,
        compute_activation_error,
        create_activation_matching,
        modify_model_output_intermediate_tensors,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    sub = CalibrationSet(calib.windows[:windows], calib.seed)
    with tempfile.TemporaryDirectory() as d:
        pre, f_aug, q_aug = (str(Path(d) / n) for n in ("pre.onnx", "f.onnx", "q.onnx"))
        quant_pre_process(str(fp32), pre, skip_symbolic_shape=True)  # names match the QDQ graph
        modify_model_output_intermediate_tensors(pre, f_aug)
        modify_model_output_intermediate_tensors(str(int8), q_aug)
        f_act = collect_activations(f_aug, sub.onnx_reader(input_name))
        q_act = collect_activations(q_aug, sub.onnx_reader(input_name))
    errors = compute_activation_error(create_activation_matching(q_act, f_act))
    rows = [{"tensor": name, "sqnr_db": float(e["xmodel_err"]),
             "qdq_sqnr_db": float(e["qdq_err"])}
            for name, e in errors.items() if "xmodel_err" in e]
    rows.sort(key=lambda r: r["sqnr_db"])
    return rows[:worst]
