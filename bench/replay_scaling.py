"""Replay throughput and memory vs log length, runtime only (1 thread).

Writes synthetic 50 Hz CSV logs (1 h and 24 h = 4.32 M samples; a walking-like signal plus
noise), replays each in a fresh process through the shipped INT8 TFLite bundle, and records
windows/s, realtime factor and peak RSS. Also times the batch path (big chunks) on the shipped
sample. Prints and writes JSON:

    python bench/replay_scaling.py --json docs/results/replay_scaling.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHILD = """
import json, sys, time
from edgehar.runtime.memory import peak_rss_mb
from edgehar.runtime.replay import ReplayOptions, run_replay
t = time.perf_counter()
s = run_replay(ReplayOptions(log=sys.argv[1], chunk=int(sys.argv[2]), quiet=True,
                             out=sys.argv[3]))
wall = time.perf_counter() - t
heavy = [m for m in ("torch", "onnx", "tensorflow", "scipy") if m in sys.modules]
print(json.dumps({"windows": s["windows"], "samples": s["samples"], "wall_s": wall,
                  "windows_per_s_end_to_end": s["windows"] / wall,
                  "realtime_factor_end_to_end": s["samples"] / 50 / wall,
                  "latency_ms": s["latency_ms"], "compute_windows_per_s": s["windows"] / s["compute_seconds"],
                  "peak_rss_mb": peak_rss_mb(),
                  "heavy_modules": heavy}))
"""


def write_log(path: Path, hours: float, seed: int = 0) -> int:
    n = int(hours * 3600 * 50)
    rng = np.random.default_rng(seed)
    block = 500_000
    with open(path, "w") as f:
        f.write("t,ax,ay,az,gx,gy,gz\n")
        for i in range(0, n, block):
            k = np.arange(i, min(n, i + block))
            t = k / 50
            walk = np.sin(2 * np.pi * 1.8 * t)
            cols = [0.2 * walk, 0.9 + 0.3 * walk, 0.1 * np.cos(2 * np.pi * 1.8 * t),
                    0.5 * walk, 0.2 * walk, 0.1 * walk]
            data = np.column_stack([t] + [c + 0.02 * rng.normal(size=len(k)) for c in cols])
            np.savetxt(f, data, fmt=["%.2f"] + ["%.5f"] * 6, delimiter=",")
    return n


def replay(path: Path, chunk: int, out: Path) -> dict:
    r = subprocess.run([sys.executable, "-c", CHILD, str(path), str(chunk), str(out)],
                       capture_output=True, text=True, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", type=Path)
    ap.add_argument("--hours", default="1,24")
    ap.add_argument("--chunk", type=int, default=4096)
    a = ap.parse_args()
    results = {"chunk_samples": a.chunk, "logs": []}
    with tempfile.TemporaryDirectory() as d:
        for h in (float(x) for x in a.hours.split(",")):
            log = Path(d) / f"log_{h:g}h.csv"
            t = time.perf_counter()
            n = write_log(log, h)
            gen = time.perf_counter() - t
            r = replay(log, a.chunk, Path(d) / "pred.jsonl")
            r.update(hours=h, samples_written=n, log_mb=log.stat().st_size / 2**20,
                     generate_s=gen)
            results["logs"].append(r)
            print(json.dumps(r), flush=True)
            log.unlink()
    rss = [r["peak_rss_mb"] for r in results["logs"]]
    results["rss_growth_mb"] = rss[-1] - rss[0]
    print(f"peak RSS {rss} MB; growth {results['rss_growth_mb']:.1f} MB from "
          f"{results['logs'][0]['hours']} h to {results['logs'][-1]['hours']} h")
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
