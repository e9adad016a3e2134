"""Where each implementation of the INT8 .tflite's ops first leaves the reference kernels, and
how far its output ends up: measured per split, so that the tolerances in
``edgehar/runtime/parity.py`` are set on the VALIDATION subjects and checked on the TEST ones.

Every window goes through the file once per implementation with every intermediate tensor kept:
LiteRT's reference kernels (BUILTIN_REF, the definition), its optimized builtin kernels, its
default (XNNPACK delegate; with all tensors kept, XNNPACK takes each op as its own partition, and
the script checks that the outputs equal the ordinary, whole-graph delegate's) and TFLM's Python
interpreter (``InterpreterConfig.kPreserveAllTensors``, whose ``GetTensor`` reads any tensor).
For each window and implementation, the first op in execution order whose int8 output tensor
differs from the reference's is counted; ops after it may only inherit the difference. Per op,
``introduces`` counts the windows where the op's output differs although every input it reads
equals the reference's (the op's own kernel, not a difference it was handed).

    python bench/parity_layers.py --model edgehar/assets/pretrained \\
        --json docs/results/parity_layers.json
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import numpy as np

from edgehar.data.windows import dataset_of_run
from edgehar.runtime.assets import PRETRAINED
from edgehar.runtime.backends import open_runner
from edgehar.runtime.parity import HEADROOM, TOLERANCE_STEPS, output_steps
from edgehar.runtime.quiet import silenced_fds
from edgehar.train.checkpoint import load_run

IMPLEMENTATIONS = ("builtin", "default", "tflm")


class LiteRTTensors:
    """Every tensor of the graph for a batch of windows, one LiteRT op resolver."""

    def __init__(self, path: Path, kernels: str):
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        resolver = {"reference": OpResolverType.BUILTIN_REF,
                    "builtin": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
                    "default": OpResolverType.AUTO}[kernels]
        with silenced_fds():
            self.it = Interpreter(model_path=str(path), num_threads=1,
                                  experimental_op_resolver_type=resolver,
                                  experimental_preserve_all_tensors=True)
        self.inp = self.it.get_input_details()[0]
        self.out = self.it.get_output_details()[0]

    def __call__(self, q: np.ndarray, tensors: list[int]) -> dict[int, np.ndarray]:
        # window by window: the graph's reshapes fix batch 1
        self.it.allocate_tensors()
        per = {t: [] for t in tensors}
        for w in q:
            self.it.set_tensor(self.inp["index"], w[None])
            self.it.invoke()
            for t in tensors:
                per[t].append(self.it.get_tensor(t).reshape(1, -1))
        return {t: np.concatenate(v) for t, v in per.items()}


class TFLMTensors:
    """The same through TFLM's Python interpreter, window by window (it keeps batch 1)."""

    def __init__(self, path: Path):
        from tflite_micro.python.tflite_micro import runtime

        with silenced_fds():
            self.it = runtime.Interpreter.from_bytes(
                path.read_bytes(),
                intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors)

    def __call__(self, q: np.ndarray, tensors: list[int]) -> dict[int, np.ndarray]:
        per = {t: [] for t in tensors}
        for w in q:
            self.it.set_input(w[None], 0)
            self.it.invoke()
            for t in tensors:
                per[t].append(self.it.GetTensor(t, 0)["tensor_data"].reshape(1, -1))
        return {t: np.concatenate(v) for t, v in per.items()}


def graph_ops(path: Path) -> list[dict]:
    """The graph's ops in execution order (the reference interpreter's view, no delegate)."""
    r = LiteRTTensors(path, "reference")
    r.it.allocate_tensors()
    td = {t["index"]: t for t in r.it.get_tensor_details()}
    ops = []
    for o in r.it._get_ops_details():
        op = {"index": int(o["index"]), "op": o["op_name"],
              "inputs": [int(i) for i in o["inputs"]], "outputs": [int(i) for i in o["outputs"]],
              "zero_point": int(td[int(o["outputs"][0])]["quantization"][1])}
        op["label"] = f"{op['index']} {op['op']}"
        if op["op"] == "CONV_2D":   # weights [out, kh, kw, in / groups]
            x, w = td[op["inputs"][0]]["shape"], td[op["inputs"][1]]["shape"]
            y = td[op["outputs"][0]]["shape"]
            groups = int(x[-1] // w[-1])
            op["label"] += (f" {w[1]}x{w[2]} {x[-1]}->{w[0]}" + (f" groups {groups}" if groups > 1
                            else "") + (" stride 2" if y[1] < x[1] // 1.5 else ""))
        ops.append(op)
    return ops


def first_divergence(path: Path, q: np.ndarray, kernels: dict, ops: list[dict]) -> dict:
    """Per implementation: the first op whose output differs from the reference kernels', per
    window, counted; the ops that introduce a difference from identical inputs; output steps."""
    produced = {t for o in ops for t in o["outputs"]}
    tensors = sorted(produced | {t for o in ops for t in o["inputs"]})
    ref_run = LiteRTTensors(path, "reference")
    # the same tensors whatever their layout: flatten per window
    flat = lambda d: {t: v.reshape(len(q), -1) for t, v in d.items()}  # noqa: E731
    wanted = sorted(produced)
    ref = flat(ref_run(q, tensors))
    out_idx = ops[-1]["outputs"][0]
    scale = ref_run.out["quantization"][0]
    report = {}
    for name, run in kernels.items():
        got = flat(run(q, wanted))
        got.update({t: ref[t] for t in tensors if t not in produced})   # inputs, weights
        differs = {t: np.any(got[t] != ref[t], axis=1) for t in wanted}
        first = np.full(len(q), -1)
        for o in reversed(ops):
            first[differs[o["outputs"][0]]] = o["index"]
        label = {o["index"]: o["label"] for o in ops}
        counts = Counter(label[i] for i in first if i >= 0)
        introduces, below_zp = Counter(), {}
        for o in ops:
            same_in = ~np.any([differs[t] for t in o["inputs"] if t in produced] or
                              [np.zeros(len(q), bool)], axis=0)
            t = o["outputs"][0]
            n = int((differs[t] & same_in).sum())
            if n:
                introduces[o["label"]] = n
                # the differing values themselves: negative reals (below the zero point) or not
                d = got[t][same_in] != ref[t][same_in]
                below_zp[o["label"]] = round(float((ref[t][same_in][d] < o["zero_point"]).mean()), 4)
        steps = output_steps(got[out_idx] * scale, ref[out_idx] * scale, scale)
        report[name] = {
            "windows_differing": int((first >= 0).sum()),
            "first_divergence": dict(sorted(counts.items(), key=lambda kv: -kv[1])),
            "first_divergence_by_type": dict(Counter(k.split()[1] for k in counts.elements())),
            "introduces": dict(introduces),
            "introduced_values_below_zero_point": below_zp,
            "max_output_steps": int(steps.max()),
            "output_steps_histogram": {int(s): int(n) for s, n in
                                       zip(*np.unique(steps.max(1), return_counts=True))},
        }
    return report


def check_default_unchanged(path: Path, q: np.ndarray, run: LiteRTTensors) -> bool:
    """XNNPACK with every tensor kept (one partition per op) gives the outputs of the ordinary
    delegate (one partition for the graph), so its first divergence is the deployed one's."""
    whole = open_runner(path, kernels="default").run_raw(q).reshape(len(q), -1)
    out = run.out["index"]
    return bool(np.array_equal(run(q, [out])[out], whole))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=PRETRAINED)
    ap.add_argument("--splits", nargs="+", default=["val", "test"])
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()

    path = a.model / "model_int8.tflite"
    _, norm, config = load_run(a.model)
    splits = dataset_of_run(config.data).splits
    quant = open_runner(path, kernels="reference").input
    ops = graph_ops(path)
    kernels = {"builtin": LiteRTTensors(path, "builtin"),
               "default": LiteRTTensors(path, "default"),
               "tflm": TFLMTensors(path)}
    result = {"model": str(path), "reference": "LiteRT BUILTIN_REF",
              "ops": [o["label"] for o in ops],
              "tolerance_steps": dict(TOLERANCE_STEPS), "splits": {}}
    for split in a.splits:
        ws = splits[split]
        q = quant.quantize(norm.apply(ws.x).astype(np.float32))
        rep = first_divergence(path, q, kernels, ops)
        rep["default"]["same_as_whole_graph_delegate"] = check_default_unchanged(
            path, q, kernels["default"])
        subjects = sorted({int(s) for s in ws.subject})
        result["splits"][split] = {"windows": int(len(q)), "subjects": subjects, **rep}
        print(f"== {split}: {len(q)} windows")
        for name, r in rep.items():
            print(f"  {name:8s} max {r['max_output_steps']:2d} steps, {r['windows_differing']:4d}"
                  f" windows differ; first divergence {r['first_divergence']}; introduced by "
                  f"{r['introduces']}")
    if {"val", "test"} <= set(a.splits):
        # the rule parity.py states: allowed = HEADROOM x the maximum on validation, checked on test
        val, test = result["splits"]["val"], result["splits"]["test"]
        result["tolerance"] = {k: {"val_max": val[k]["max_output_steps"],
                                   "test_max": test[k]["max_output_steps"],
                                   "rule": HEADROOM * val[k]["max_output_steps"],
                                   "allowed": TOLERANCE_STEPS[k]} for k in IMPLEMENTATIONS}
        for k, t in result["tolerance"].items():
            print(f"  {k:8s} validation {t['val_max']:2d}, test {t['test_max']:2d} steps; allowed "
                  f"{t['allowed']} ({HEADROOM} x validation = {t['rule']})")
    if a.json:
        a.json.write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {a.json}")


if __name__ == "__main__":
    main()
