"""``edgehar bench``: per model file size, latency (1 thread / all cores), replay throughput,
cold start and peak RSS, with torch FP32 eager as the reference measured in the same run."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .runtime.files import write_json
from .runtime.model import load_model, read_manifest
from .runtime.replay import PRETRAINED, SAMPLE_LOG


def _latency(fn, x: np.ndarray, repeats: int) -> dict:
    for _ in range(max(10, repeats // 10)):
        fn(x)
    t = np.empty(repeats)
    for i in range(repeats):
        t0 = time.perf_counter()
        fn(x)
        t[i] = time.perf_counter() - t0
    return {"p50_ms": float(np.percentile(t, 50) * 1e3), "p99_ms": float(np.percentile(t, 99) * 1e3)}


def _torch_reference(bundle: Path, x: np.ndarray, repeats: int, threads: int) -> dict | None:
    try:
        import torch

        from .train.models import HarResNeXt, ResNeXtConfig
    except ImportError:
        return None
    manifest = read_manifest(bundle)
    model = HarResNeXt(ResNeXtConfig.from_dict(manifest["model"]["config"]))
    model.load_state_dict(torch.load(bundle / "weights.pt", map_location="cpu", weights_only=True))
    model.eval()
    prev = torch.get_num_threads()
    torch.set_num_threads(threads)
    xt = torch.from_numpy(x)
    with torch.no_grad():
        lat = _latency(model, xt, repeats)
    torch.set_num_threads(prev)
    return lat


def _subprocess_probe(code: str) -> dict:
    """Run code in a fresh interpreter; returns the JSON it prints last."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def cold_start(model_file: Path) -> dict:
    code = ("import time,json;t=time.perf_counter();import numpy as np;"
            "from edgehar.runtime import load_model;"
            f"m=load_model({str(model_file)!r});"
            "m.probs(np.zeros((1,128,9),np.float32));"
            "print(json.dumps({'ms':(time.perf_counter()-t)*1e3}))")
    runs = [_subprocess_probe(code)["ms"] for _ in range(3)]
    return {"import_load_first_inference_ms": float(np.median(runs))}


def replay_rss(bundle: Path, model_file: Path) -> dict:
    """Peak RSS of a runtime-only replay of the shipped sample, in a fresh process."""
    with tempfile.TemporaryDirectory() as d:
        code = ("import json;from edgehar.runtime.replay import run_replay,ReplayOptions;"
                "from edgehar.runtime.memory import peak_rss_mb;"
                f"s=run_replay(ReplayOptions(log={str(SAMPLE_LOG)!r},model={str(model_file)!r},"
                f"out={str(Path(d) / 'p.jsonl')!r},quiet=True));"
                "import sys;heavy=[m for m in ('torch','onnx','tensorflow') if m in sys.modules];"
                "print(json.dumps({'rss_mb':peak_rss_mb(),"
                "'heavy':heavy}))")
        res = _subprocess_probe(code)
    return {"peak_rss_mb": res["rss_mb"], "heavy_modules_loaded": res["heavy"]}


def replay_throughput(model_file: Path, chunk: int = 4096, repeat_log: int = 10) -> dict:
    """parse + filter + window + infer over the sample log (read repeat_log times), 1 thread."""
    from .runtime.replay import ReplayOptions, run_replay

    t = time.perf_counter()
    windows = samples = 0
    for _ in range(repeat_log):
        s = run_replay(ReplayOptions(log=SAMPLE_LOG, model=model_file, chunk=chunk, quiet=True))
        windows += s["windows"]
        samples += s["samples"]
    wall = time.perf_counter() - t
    return {"windows_per_s": windows / wall, "realtime_factor": samples / 50 / wall,
            "chunk_samples": chunk}


def run_bench(bundle: Path | None, json_out: Path | None, repeats: int = 300, echo=print) -> dict:
    bundle = Path(bundle or PRETRAINED)
    manifest = read_manifest(bundle)
    cores = os.cpu_count() or 1
    x = np.zeros((1, manifest["window"], len(manifest["channels"])), np.float32)
    x[:] = np.random.default_rng(0).normal(size=x.shape)
    results = {"bundle": str(bundle), "model": manifest["model"]["name"],
               "params": manifest["model"]["params"], "macs": manifest["model"]["macs"],
               "machine": {"cpu_count": cores, "platform": platform.platform(),
                           "python": platform.python_version()}, "files": {}}
    ref = {t: _torch_reference(bundle, x, repeats, t) for t in (1, cores)}
    if ref[1]:
        results["files"]["weights.pt"] = {"backend": "torch eager", "precision": "fp32",
                                          "size_bytes": (bundle / "weights.pt").stat().st_size,
                                          "latency_1_thread": ref[1],
                                          f"latency_{cores}_threads": ref[cores]}
    for name, entry in manifest["files"].items():
        if name.endswith(".pt"):
            continue
        row = {"backend": entry["format"], "precision": entry["precision"],
               "size_bytes": (bundle / name).stat().st_size}
        for t in (1, cores):
            m = load_model(bundle / name, threads=t)
            row[f"latency_{t}_thread{'s' if t > 1 else ''}"] = _latency(m.runner, x, repeats)
        if ref[1]:
            row["speedup_vs_torch_1_thread"] = (ref[1]["p50_ms"] /
                                                row["latency_1_thread"]["p50_ms"])
        results["files"][name] = row
    main_file = bundle / "model_int8.tflite"
    results["replay_throughput"] = replay_throughput(main_file)
    results["cold_start"] = cold_start(main_file)
    results["runtime_replay_memory"] = replay_rss(bundle, main_file)
    echo(render(results))
    if json_out:
        write_json(json_out, results)
    return results


def render(r: dict) -> str:
    lines = [f"{r['model']}: {r['params']:,} params, {r['macs'] / 1e6:.2f} M MACs per window",
             f"{'file':<20} {'backend':<12} {'size KB':>8} {'p50 1T ms':>10} {'p99 1T ms':>10} "
             f"{'p50 allT ms':>11} {'x torch':>8}"]
    for name, f in r["files"].items():
        all_t = next(v for k, v in f.items() if k.startswith("latency_") and "1_thread" not in k)
        lines.append(f"{name:<20} {f['backend']:<12} {f['size_bytes'] / 1024:8.1f} "
                     f"{f['latency_1_thread']['p50_ms']:10.3f} {f['latency_1_thread']['p99_ms']:10.3f}"
                     f" {all_t['p50_ms']:11.3f} {f.get('speedup_vs_torch_1_thread', 1.0):8.1f}")
    t = r["replay_throughput"]
    lines.append(f"replay (parse+filter+window+infer, 1 thread, INT8 TFLite): "
                 f"{t['windows_per_s']:.0f} windows/s, {t['realtime_factor']:.0f}x realtime")
    lines.append(f"cold start (import + load + first inference, fresh process): "
                 f"{r['cold_start']['import_load_first_inference_ms']:.0f} ms")
    mem = r["runtime_replay_memory"]
    lines.append(f"runtime-only replay peak RSS: {mem['peak_rss_mb']:.1f} MB "
                 f"(heavy modules loaded: {mem['heavy_modules_loaded'] or 'none'})")
    return "\n".join(lines)
