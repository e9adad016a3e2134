"""``edgehar bench``: per model file size, latency (1 thread / all cores), replay throughput,
cold start and peak RSS, with torch FP32 eager as the reference measured in the same run."""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

import numpy as np

from .runtime.assets import PRETRAINED, SAMPLE_LOG
from .runtime.errors import EdgeharError
from .runtime.files import check_output_file, write_json
from .runtime.manifest import read_manifest
from .runtime.memory import replay_peak_rss, run_fresh
from .runtime.model import load_model


def _percentiles(t: list[float]) -> dict:
    return {"p50_ms": float(np.percentile(t, 50) * 1e3), "p99_ms": float(np.percentile(t, 99) * 1e3)}


def interleaved_latency(cands: dict[str, tuple], x, repeats: int, rounds: int = 6) -> dict:
    """Single-window latency of every candidate, timed in alternating blocks so that load from
    other tenants of a shared machine drifts onto all of them alike (the ratios are the point).
    ``cands``: name -> (setup called before each block, fn(x))."""
    per = max(1, repeats // rounds)
    samples: dict[str, list[float]] = {k: [] for k in cands}
    for setup, fn in cands.values():
        setup()
        for _ in range(20):
            fn(x)
    for _ in range(rounds):
        for k, (setup, fn) in cands.items():
            setup()
            for _ in range(per):
                t0 = time.perf_counter()
                fn(x)
                samples[k].append(time.perf_counter() - t0)
    return {k: _percentiles(v) for k, v in samples.items()}


def _torch_candidates(bundle: Path, x: np.ndarray, threads: tuple[int, ...]) -> dict:
    try:
        import torch

        from .train.checkpoint import WEIGHTS, load_weights
    except ImportError:
        return {}
    manifest = read_manifest(bundle)
    if WEIGHTS not in manifest.files:
        return {}
    try:
        model = load_weights(manifest.model.config, bundle / WEIGHTS)
    except EdgeharError:   # a user's model whose factory does not import from here
        return {}
    xt = torch.from_numpy(x)

    def run(_x):
        with torch.no_grad():
            model(xt)

    return {f"weights.pt@{t}": (lambda t=t: torch.set_num_threads(t), run) for t in threads}


def compile_runtime_bytecode() -> bool:
    """Write edgehar.runtime's .pyc files, as ``pip install`` does for an installed package.
    An editable checkout run with PYTHONDONTWRITEBYTECODE=1 never gets them and would time
    compiling our sources (20-30 ms here) rather than the runtime's cold start."""
    import compileall

    from . import runtime

    return bool(compileall.compile_dir(Path(runtime.__file__).parent, quiet=2))


def cold_start(model_file: Path, runs: int = 9) -> dict:
    """import numpy + edgehar.runtime + LiteRT, load, first inference: each in a fresh process.
    The numpy import is timed inside the same process, so our share is a paired difference."""
    code = ("import time,json;t=time.perf_counter();import numpy as np;n=time.perf_counter();"
            "from edgehar.runtime import load_model;"
            f"m=load_model({str(model_file)!r});"
            "m.probs(np.zeros((1,128,9),np.float32));e=time.perf_counter();"
            "print(json.dumps({'ms':(e-t)*1e3,'numpy_ms':(n-t)*1e3}))")
    bytecode = compile_runtime_bytecode()
    probes = [run_fresh(code, site=False) for _ in range(runs)]
    total = [p["ms"] for p in probes]
    return {"import_load_first_inference_ms": float(np.median(total)),
            "runs_ms": [round(v, 1) for v in total],
            "numpy_import_ms": float(np.median([p["numpy_ms"] for p in probes])),
            "edgehar_share_ms": float(np.median([p["ms"] - p["numpy_ms"] for p in probes])),
            "runtime_bytecode_cached": bytecode}


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


def run_bench(bundle: Path | None, json_out: Path | None, repeats: int = 1200, echo=print) -> dict:
    check_output_file(json_out, "--json")   # before minutes of timing, not after them
    bundle = Path(bundle or PRETRAINED)
    manifest = read_manifest(bundle)
    cores = os.cpu_count() or 1
    spec, info = manifest.spec, manifest.model
    x = np.zeros((1, spec.window, len(spec.channels)), np.float32)
    x[:] = np.random.default_rng(0).normal(size=x.shape)
    results = {"bundle": str(bundle), "model": info.name, "params": info.params, "macs": info.macs,
               "machine": {"cpu_count": cores, "platform": platform.platform(),
                           "python": platform.python_version()}, "files": {}}
    threads = tuple(sorted({1, cores}))
    names = manifest.model_files()
    lat: dict[str, dict] = {}
    # One interleaved pass per thread count, 1 thread first: the spinning worker pools of
    # multi-threaded torch / ORT would otherwise steal the other core from 1-thread timings.
    torch_cands = _torch_candidates(bundle, x, threads)
    for t in threads:
        cands = {k: v for k, v in torch_cands.items() if k.endswith(f"@{t}")}
        for name in names:
            cands[f"{name}@{t}"] = (lambda: None, load_model(bundle / name, threads=t).runner)
        lat.update(interleaved_latency(cands, x, repeats))
    has_torch = "weights.pt@1" in lat
    rows = (["weights.pt"] if has_torch else []) + names
    for name in rows:
        entry = manifest.files[name]
        row = {"backend": "torch eager" if entry.format == "torch" else entry.format,
               "precision": entry.precision, "size_bytes": (bundle / name).stat().st_size,
               "params": info.params, "macs": info.macs,
               "latency_1_thread": lat[f"{name}@1"],
               f"latency_{cores}_threads": lat[f"{name}@{cores}"]}
        if has_torch:
            row["speedup_vs_torch_1_thread"] = (lat["weights.pt@1"]["p50_ms"] /
                                                row["latency_1_thread"]["p50_ms"])
        results["files"][name] = row
    main_file = bundle / "model_int8.tflite"
    results["replay_throughput"] = replay_throughput(main_file)
    results["cold_start"] = cold_start(main_file)
    results["runtime_replay_memory"] = replay_peak_rss(main_file)
    echo(render(results))
    if json_out:
        write_json(json_out, results)
    return results


def render(r: dict) -> str:
    lines = [f"{r['model']}: {r['params']:,} params, {r['macs'] / 1e6:.2f} M MACs per window",
             f"{'file':<20} {'backend':<12} {'size KB':>8} {'p50 1T ms':>10} {'p99 1T ms':>10} "
             f"{'p50 allT ms':>11} {'x torch':>8}"]
    for name, f in r["files"].items():
        all_t = next((v for k, v in f.items() if k.startswith("latency_") and "1_thread" not in k),
                     f["latency_1_thread"])
        lines.append(f"{name:<20} {f['backend']:<12} {f['size_bytes'] / 1024:8.1f} "
                     f"{f['latency_1_thread']['p50_ms']:10.3f} {f['latency_1_thread']['p99_ms']:10.3f}"
                     f" {all_t['p50_ms']:11.3f} {f.get('speedup_vs_torch_1_thread', 1.0):8.1f}")
    t = r["replay_throughput"]
    lines.append(f"replay (parse+filter+window+infer, 1 thread, INT8 TFLite): "
                 f"{t['windows_per_s']:.0f} windows/s, {t['realtime_factor']:.0f}x realtime")
    c = r["cold_start"]
    lines.append(f"cold start (import + load + first inference, fresh process, median of "
                 f"{len(c['runs_ms'])}): {c['import_load_first_inference_ms']:.0f} ms = numpy "
                 f"{c['numpy_import_ms']:.0f} ms + edgehar.runtime, LiteRT, load and first window "
                 f"{c['edgehar_share_ms']:.0f} ms")
    mem = r["runtime_replay_memory"]
    lines.append(f"runtime-only replay peak RSS: {mem['peak_rss_mb']:.1f} MB "
                 f"(heavy modules loaded: {mem['heavy_modules_loaded'] or 'none'})")
    return "\n".join(lines)
