"""model_stream.tflite of the shipped bundle against the Python runtime, in one run:

    python bench/stream_parity.py --json docs/results/stream_parity.json [--hours 24]

Builds the stream files from the shipped bundle's weights with its full calibration draw (the
INT8 network of model_int8.tflite; ~2 minutes of histogram observers), then
(a) steps every test-subject recording hop by hop through the auto build against
    ``replay --orientation running`` and through a fixed build against ``fixed``: the runtime on
    the INT8 network the stream files embed, written alone as a .tflite (what one export
    makes: its INT8 file and its stream file share one quantized graph), and, for reference,
    on the shipped model_int8.tflite (calibrated again here, the network is not bit-identical
    to the shipped file's: ``quantization_differs`` counts its differing tensor scales);
    top-1 agreement, label changes outside the tie gap (runtime/parity.py), max |prob diff|;
(b) the stream file's accuracy against the INT8 file's (running) on the same windows;
(c) drift: a synthetic non-repeating stream of ``--hours`` (test recordings in a seeded random
    order, each from a random offset, with a random gain and sensor noise) through an FP32-network
    auto build against the runtime on the same FP32 network (clamped as the int8 input is):
    agreement and max |prob diff| over the first hour against the last; the INT8 build's
    agreement per hour too (its differences are int8 rounding edges, not drift);
(d) step latency, 1 thread, LiteRT default kernels: the stream step against the INT8 network
    alone, interleaved in one run;
(e) file sizes.
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from edgehar.data.sources import load_package
from edgehar.data.windows import TEST_SUBJECTS
from edgehar.export.stream_check import accuracies, parity_of, side_by_side
from edgehar.export.stream_model import build_from_bundle, graph_ops, input_range
from edgehar.runtime.assets import PRETRAINED
from edgehar.runtime.backends import Backend, open_runner
from edgehar.runtime.engine import StreamEngine
from edgehar.runtime.model import Model, load_model
from edgehar.runtime.stream_file import StreamFile

HOUR_STEPS = 3600 * 50 // 64


class Clamped:
    """The FP32 network fed what the stream file's FP32 build feeds it: inputs clamped to the
    int8 input tensor's range (the folded clips)."""

    def __init__(self, runner, lo: float, hi: float):
        self.runner, self.lo, self.hi = runner, lo, hi
        self.input, self.output = runner.input, runner.output

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.runner(np.clip(x, self.lo, self.hi))


def synthetic_day(recs, hours: float, seed: int):
    """Chunks (n, 6) of a non-repeating stream: recordings in random order, each from a random
    offset, scaled by a random gain (0.97..1.03) with white sensor noise (2 mg, 2 mrad/s)."""
    rng = np.random.default_rng(seed)
    left = int(hours * 3600 * 50)
    while left > 0:
        r = recs[rng.integers(len(recs))]
        start = int(rng.integers(0, len(r.raw) // 2))
        seg = r.raw[start:start + left] * rng.uniform(0.97, 1.03)
        seg = seg + rng.normal(0, 0.002, seg.shape)
        left -= len(seg)
        yield seg


def day_run(stream: StreamFile, model: Model, hours: float, recs, seed: int) -> dict:
    """The synthetic stream through both, hop by hop (the runtime in the same chunks)."""
    engine = StreamEngine(model, orientation="running")
    stream.reset()
    hop, carry = stream.hop, np.zeros((0, 6))
    agree, diff = [], []
    for seg in synthetic_day(recs, hours, seed):
        seg = np.concatenate([carry, seg])
        n = len(seg) // hop * hop
        carry = seg[n:]
        ref = engine.push(seg[:n]).probs
        out = []
        for j in range(0, n, hop):
            probs, ready = stream.step(seg[j:j + hop])
            if ready:
                out.append(probs)
        out = np.asarray(out)
        agree.append(out.argmax(1) == ref.argmax(1))
        diff.append(np.abs(out - ref).max(1))
    agree, diff = np.concatenate(agree), np.concatenate(diff)

    def hour(sl):
        return {"windows": int(len(agree[sl])), "top1_agreement": float(agree[sl].mean()),
                "max_abs_prob_diff": float(diff[sl].max())}

    first, last = hour(slice(0, HOUR_STEPS)), hour(slice(-HOUR_STEPS, None))
    hours_n = len(agree) // HOUR_STEPS
    per_hour = {"flips": [int((~agree[h * HOUR_STEPS:(h + 1) * HOUR_STEPS]).sum())
                          for h in range(hours_n)],
                "p99_abs_prob_diff": [float(np.percentile(diff[h * HOUR_STEPS:(h + 1) * HOUR_STEPS],
                                                          99)) for h in range(hours_n)]}
    return {"hours": hours, "windows": int(len(agree)), "first_hour": first, "last_hour": last,
            "per_hour": per_hour,
            "agreement_change_pp": 100 * (last["top1_agreement"] - first["top1_agreement"]),
            "max_prob_diff_change": last["max_abs_prob_diff"] - first["max_abs_prob_diff"]}


def latency(stream: StreamFile, int8: Model, rounds: int = 20, per: int = 200) -> dict:
    """p50 of each, interleaved: rounds of ``per`` stream steps then ``per`` network calls."""
    x = np.random.default_rng(0).normal(0, 0.3, (stream.hop, 6)).astype(np.float32)
    w = np.zeros((1, 128, 9), np.float32)
    q = int8.runner._input(w, int8._prep)   # the int8 tensor, once (private: no API for it)
    ts, tn = [], []
    for _ in range(rounds):
        for _ in range(per):
            t0 = time.perf_counter()
            stream.step(x)
            ts.append(time.perf_counter() - t0)
        for _ in range(per):
            t0 = time.perf_counter()
            int8.runner._run(q)   # the network alone: set, invoke, get
            tn.append(time.perf_counter() - t0)
    s, n = 1e3 * np.median(ts[per:]), 1e3 * np.median(tn[per:])
    return {"stream_step_ms_p50": s, "int8_network_ms_p50": n, "ratio": s / n, "threads": 1}


def scales_differ(a: Path, b: Path) -> dict:
    """Int8 tensors whose scales differ between two files of one graph (matched in order)."""
    from ai_edge_litert.interpreter import Interpreter

    def scales(p):
        return [tuple(d["quantization_parameters"]["scales"].tolist())
                for d in Interpreter(model_path=str(p)).get_tensor_details()
                if d["dtype"] == np.int8 and len(d["quantization_parameters"]["scales"])]

    sa, sb = sorted(scales(a)), sorted(scales(b))
    return {"tensors": len(sb), "differing": len(set(sb) - set(sa))}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", type=Path)
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    out: dict = {"bundle": str(PRETRAINED)}
    recs = [r for r in load_package() if r.user in TEST_SUBJECTS]
    int8 = load_model(PRETRAINED / "model_int8.tflite")
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        t = time.perf_counter()
        paths = {m: d / f"stream_{m}.tflite" for m in ("auto", "fixed")}
        net_path = d / "network_int8.tflite"
        infos = build_from_bundle(PRETRAINED, paths, network_out=net_path)
        net = Model(str(net_path), Backend.TFLITE, int8.manifest, open_runner(net_path))
        out["quantization_differs"] = scales_differ(net_path, PRETRAINED / "model_int8.tflite")
        fp32_path = d / "stream_auto_fp32.tflite"
        fp32_info = build_from_bundle(PRETRAINED, {"auto": fp32_path}, int8=False)["auto"]
        out["build_s"] = time.perf_counter() - t
        out["graph_ops"] = graph_ops(paths["auto"])
        out["network"] = infos["auto"].network
        out["state_size"] = {m: i.state_size for m, i in infos.items()}
        out["orientation_slice"] = infos["auto"].orientation_slice
        for (mode, ref_mode), (which, model) in itertools.product(
                (("auto", "running"), ("fixed", "fixed")),
                (("same_network", net), ("shipped_int8_file", int8))):
            stream = StreamFile(paths[mode], infos[mode])
            t = time.perf_counter()
            rows = [side_by_side(stream, model, ref_mode, r.raw, r.labels) for r in recs]
            secs = time.perf_counter() - t
            p = parity_of(rows, model.runner.output.scale)
            acc, ref = accuracies(rows, model.labels)
            out[f"parity_{mode}_vs_{ref_mode}_{which}"] = {
                **p.to_dict(), "recordings": len(recs), "seconds": secs,
                "stream_accuracy": acc["accuracy"], "int8_file_accuracy": ref["accuracy"],
                "scored_windows": int(sum((r.truth >= 0).sum() for r in rows))}
            print(f"{mode} vs {ref_mode} ({which}): agreement {100 * p.top1_agreement:.3f}% "
                  f"({p.flips} of {p.windows}, {p.flips_outside_ties} outside ties), max |prob "
                  f"diff| {p.max_abs_prob_diff:.3g}; accuracy {100 * acc['accuracy']:.2f}% vs "
                  f"INT8 file {100 * ref['accuracy']:.2f}% ({secs:.0f} s)", flush=True)
        lo, hi = input_range(int8.manifest.normalization, int8.runner.input)
        fp32 = Model(str(PRETRAINED / "model_fp32.tflite"), Backend.TFLITE, int8.manifest,
                     Clamped(open_runner(PRETRAINED / "model_fp32.tflite"), lo, hi))
        t = time.perf_counter()
        out["drift_fp32_network"] = day_run(StreamFile(fp32_path, fp32_info), fp32, a.hours,
                                            recs, a.seed)
        out["drift_int8_network"] = day_run(StreamFile(paths["auto"], infos["auto"]), net,
                                            a.hours, recs, a.seed)
        out["drift_seconds"] = time.perf_counter() - t
        for k in ("drift_fp32_network", "drift_int8_network"):
            r = out[k]
            print(f"{k}: {r['windows']} windows; first hour {r['first_hour']}, last hour "
                  f"{r['last_hour']}", flush=True)
        out["latency"] = {"int8_core": latency(StreamFile(paths["auto"], infos["auto"]), int8),
                          "fp32_network": latency(StreamFile(fp32_path, fp32_info), int8)}
        print("latency", json.dumps(out["latency"]), flush=True)
        out["size_bytes"] = {"model_stream.tflite (int8 core)": paths["auto"].stat().st_size,
                             "fixed build": paths["fixed"].stat().st_size,
                             "fp32 network build": fp32_path.stat().st_size,
                             "model_int8.tflite": (PRETRAINED / "model_int8.tflite").stat().st_size}
        print("sizes", out["size_bytes"])
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
