"""torch FP32 -> TFLite INT8 with litert-torch PT2E (per-channel symmetric weights)."""

from __future__ import annotations

from pathlib import Path

from ..runtime.files import atomic_path
from .calibration import CalibrationSet


def quantize_tflite(model, out: Path, calib: CalibrationSet) -> None:
    import litert_torch
    import torch
    from litert_torch.quantize import pt2e_quantizer, quant_config
    from torchao.quantization.pt2e import quantize_pt2e

    sample = (torch.from_numpy(calib.windows[:1]),)
    quantizer = pt2e_quantizer.PT2EQuantizer().set_global(
        pt2e_quantizer.get_symmetric_quantization_config(is_per_channel=True))
    graph = torch.export.export(model.eval(), sample).module()
    graph = quantize_pt2e.prepare_pt2e(graph, quantizer)
    with torch.no_grad():
        for (w,) in calib.representative_dataset():
            graph(torch.from_numpy(w))
    graph = quantize_pt2e.convert_pt2e(graph, fold_quantize=False)
    edge = litert_torch.convert(graph, sample,
                                quant_config=quant_config.QuantConfig(pt2e_quantizer=quantizer))
    with atomic_path(out) as tmp:
        edge.export(str(tmp))
