"""OpenVINO on the INT8 .tflite, measured against LiteRT's reference kernels on the test windows.

OpenVINO is no dependency of edgehar, so this runs in two environments:

    # edgehar's environment: the test windows as the file's int8 input, and the reference's
    # int8 outputs
    python bench/parity_openvino.py save --model edgehar/assets/pretrained --npz /tmp/ov_test.npz
    # a throwaway one: python3 -m venv /tmp/ov && /tmp/ov/bin/pip install openvino numpy
    /tmp/ov/bin/python bench/parity_openvino.py measure --model edgehar/assets/pretrained \\
        --npz /tmp/ov_test.npz --json docs/results/parity_openvino.json

``measure`` imports numpy and openvino only. It runs the file through OpenVINO's TFLite frontend
on the CPU plugin with its default inference precision and with f32 forced, and reports the
output steps from the reference per window and per class (the mean signed difference shows a
bias, not noise).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def save(model: Path, npz: Path) -> None:
    from edgehar.data.windows import dataset_of_run
    from edgehar.runtime.backends import open_runner
    from edgehar.train.checkpoint import load_run

    _, norm, config = load_run(model)
    test = dataset_of_run(config.data).splits["test"]
    ref = open_runner(model / "model_int8.tflite", kernels="reference")
    q = ref.input.quantize(norm.apply(test.x).astype(np.float32))
    ratios, shift = bias_scales(model / "model_int8.tflite")
    np.savez_compressed(npz, q=q, ref=ref.run_raw(q), y=test.y, labels=np.array(config.spec.labels),
                        bias_scale_ratios=ratios, fc_bias_shift_steps=shift)
    print(f"wrote {npz}: {len(q)} test windows")


def bias_scales(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Per CONV_2D / FULLY_CONNECTED op, its bias tensor's stored scale over input scale x weight
    scale (TFLite's integer kernels assume 1 and ignore the stored one), and the shift in output
    steps of a reader that dequantizes the head's bias with its stored scale instead."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_path=str(path), experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    it.allocate_tensors()
    td = {t["index"]: t for t in it.get_tensor_details()}
    ratios, shift = [], np.zeros(0)
    for o in it._get_ops_details():
        if o["op_name"] not in ("CONV_2D", "FULLY_CONNECTED"):
            continue
        x, w, b = (int(i) for i in o["inputs"])
        s_in, s_w = td[x]["quantization"][0], td[w]["quantization_parameters"]["scales"]
        s_b = td[b]["quantization_parameters"]["scales"]
        ratios.append([o["index"], float(np.max(np.abs(s_b / (s_in * s_w) - 1)))])
        if o["op_name"] == "FULLY_CONNECTED":
            s_out = td[int(o["outputs"][0])]["quantization"][0]
            shift = it.get_tensor(b).astype(np.float64) * (s_b - s_in * s_w) / s_out
            ratios[-1].append(float(np.mean(s_b / (s_in * s_w))))
    return np.array([r + [1.0] * (3 - len(r)) for r in ratios]), shift


def measure(model: Path, npz: Path, out: Path | None) -> None:
    import openvino as ov

    d = np.load(npz)
    q, ref = d["q"], d["ref"].astype(np.int64)
    core = ov.Core()
    graph = core.read_model(str(model / "model_int8.tflite"))
    ops: dict[str, int] = {}
    for op in graph.get_ops():
        ops[op.get_type_name()] = ops.get(op.get_type_name(), 0) + 1
    result = {"openvino": ov.__version__, "windows": int(len(q)),
              "cpu": core.get_property("CPU", "FULL_DEVICE_NAME"),
              "graph_ops": dict(sorted(ops.items())),
              # |stored bias scale / (input scale x weight scale) - 1| per op; the head's ratio
              "bias_scale_off": {int(r[0]): round(float(r[1]), 4) for r in d["bias_scale_ratios"]},
              "fc_bias_scale_ratio": float(d["bias_scale_ratios"][-1][2]),
              "fc_bias_shift_steps_predicted": dict(zip(d["labels"].tolist(), np.round(
                  d["fc_bias_shift_steps"], 2).tolist())),
              "runs": {}}
    for hint in (None, "f32"):
        config = {} if hint is None else {"INFERENCE_PRECISION_HINT": hint}
        compiled = core.compile_model(graph, "CPU", config)
        precision = str(compiled.get_property("INFERENCE_PRECISION_HINT"))
        y = np.concatenate([compiled(w[None])[0] for w in q]).astype(np.int64)
        diff = y - ref
        steps = np.abs(diff).max(1)
        run = {"inference_precision": precision, "max_output_steps": int(steps.max()),
               "min_window_steps": int(steps.min()),
               "windows_off": int((steps > 0).sum()),
               "mean_signed_steps_per_class": dict(zip(d["labels"].tolist(),
                                                       np.round(diff.mean(0), 2).tolist())),
               "top1_agreement": float((y.argmax(1) == ref.argmax(1)).mean()),
               "accuracy": float((y.argmax(1) == d["y"]).mean()),
               "reference_accuracy": float((ref.argmax(1) == d["y"]).mean())}
        result["runs"]["default" if hint is None else f"hint {hint}"] = run
        print(f"OpenVINO {ov.__version__} CPU, inference precision {precision}: {run}")
    if out:
        out.write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {out}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=["save", "measure"])
    ap.add_argument("--model", type=Path, default=Path("edgehar/assets/pretrained"))
    ap.add_argument("--npz", type=Path, required=True)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    save(a.model, a.npz) if a.mode == "save" else measure(a.model, a.npz, a.json)


if __name__ == "__main__":
    main()
