"""torch FP32 -> TFLite INT8 with litert-torch PT2E (per-channel symmetric weights)."""

from __future__ import annotations

from pathlib import Path

from ..runtime.files import atomic_path
from .calibration import CalibrationSet


def _in_modules(node, modules: tuple[str, ...]) -> bool:
    paths = [str(v[0]) for v in node.meta.get("nn_module_stack", {}).values()]
    return any(p == m or p.startswith(m + ".") for p in paths for m in modules)


def _strip_dropout(graph) -> None:
    """In place: every inference-mode dropout node of an exported graph replaced by its input.

    ``torch.export`` keeps ``nn.Dropout`` of an eval module as ``aten.dropout(x, p, False)``,
    an identity that the PT2E quantizer leaves unannotated. Before a Linear it broke the INT8
    head: the MEAN before it shares the ReLU's observer (litert-torch propagates it), the Linear
    observes its own input (the pooled range, 2.4-3x finer), so the graph held
    q/dq(ReLU scale) -> dropout -> q/dq(Linear scale) -> linear. The converter drops the dropout
    and that requantization but derives the int32 bias from the second scale, so the file's
    FULLY_CONNECTED bias scale was 0.41 x (input x weight scale). TFLite's integer kernels (LiteRT,
    XNNPACK, TFLM) ignore the bias tensor's scale and use input x weight scale, so they added
    2.4 x the trained bias to the logits; OpenVINO, honouring the stored scale, disagreed with
    them by a per-class offset. Without the identity the Linear reads the MEAN's quantized output
    directly and the bias is quantized at the scale the kernels assume
    (``tflite_file.bias_scale_mismatches`` checks every export)."""
    import torch

    ops = {getattr(torch.ops.aten, name).default
           for name in ("dropout", "feature_dropout", "alpha_dropout", "feature_alpha_dropout")
           if hasattr(torch.ops.aten, name)}
    for node in list(graph.graph.nodes):
        train = node.args[2] if len(node.args) > 2 else node.kwargs.get("train", True)
        if node.op == "call_function" and node.target in ops and train is False:
            node.replace_all_uses_with(node.args[0])
            graph.graph.erase_node(node)
    graph.graph.lint()
    graph.recompile()


def quantized_network(model, calib: CalibrationSet, float_modules: tuple[str, ...] = ()):
    """(graph, quantizer): ``model`` PT2E-quantized (per-channel symmetric weights, int8
    activations calibrated on ``calib``) as a torch GraphModule with its q/dq ops, and the
    quantizer that ``litert_torch.convert`` needs to lower them to integer ops. The stream
    file embeds the same graph, so its network has the INT8 file's quantization."""
    import torch
    from litert_torch.quantize import pt2e_quantizer
    from torchao.quantization.pt2e import quantize_pt2e

    class Quantizer(pt2e_quantizer.PT2EQuantizer):
        """PT2E quantizer that leaves the ops of ``float_modules`` in float (the stock one
        accepts no 'None' config per module)."""

        def annotate(self, graph):
            graph = super().annotate(graph)
            for node in graph.graph.nodes:
                if _in_modules(node, float_modules):
                    node.meta.pop("quantization_annotation", None)
            return graph

    sample = (torch.from_numpy(calib.windows[:1]),)
    quantizer = Quantizer().set_global(
        pt2e_quantizer.get_symmetric_quantization_config(is_per_channel=True))
    graph = torch.export.export(model.eval(), sample).module()
    _strip_dropout(graph)
    graph = quantize_pt2e.prepare_pt2e(graph, quantizer)
    with torch.no_grad():
        for (w,) in calib.representative_dataset():
            graph(torch.from_numpy(w))
    return quantize_pt2e.convert_pt2e(graph, fold_quantize=False), quantizer


def quantize_tflite(model, out: Path, calib: CalibrationSet,
                    float_modules: tuple[str, ...] = (), quantized=None):
    """Write the INT8 .tflite; returns ``quantized_network``'s (graph, quantizer) (the stream
    file embeds the same graph), or uses the one given."""
    import litert_torch
    import torch
    from litert_torch.quantize import quant_config

    graph, quantizer = quantized or quantized_network(model, calib, float_modules)
    sample = (torch.from_numpy(calib.windows[:1]),)
    edge = litert_torch.convert(graph, sample,
                                quant_config=quant_config.QuantConfig(pt2e_quantizer=quantizer))
    with atomic_path(out) as tmp:
        edge.export(str(tmp))
    return graph, quantizer
