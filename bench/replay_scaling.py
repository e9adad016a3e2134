"""Replay time and memory vs log length and orientation mode, 1 thread.

Writes synthetic 50 Hz CSV logs (default 1 h and 24.9 h = 4.48 M samples; epoch
``timestamp_ns``, 7-decimal values and a label column, ~16 MB per hour) whose signal alternates
18 minutes of sitting still with 12 minutes of walking-like motion, starting still (so that
``--orientation auto`` has walking to estimate from, and minutes before it). Each log is replayed
in a fresh process through the shipped INT8 TFLite bundle with ``--orientation fixed``, ``auto``
(the whole log's rotation: two passes) and ``running``, each with the full install (pyarrow
parses the CSV) and runtime-only (``sys.modules["pyarrow"] = None`` in the child before edgehar
is imported: the text parser, as on a device without pyarrow). Records wall and CPU seconds,
windows/s and peak RSS (VmHWM). Prints a table and writes JSON:

    python bench/replay_scaling.py --json docs/results/replay_scaling.json

CPU seconds are the steadier figure on a shared machine; the ratios to ``fixed`` use both.
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

MODES = ("fixed", "auto", "running")
INSTALLS = ("full", "runtime")
CHILD = """
import json, resource, sys, time
log, chunk, out, mode, install = sys.argv[1:6]
if install == "runtime":
    sys.modules["pyarrow"] = None    # as if not installed: the text parser reads the CSV
from edgehar.runtime.memory import peak_rss_mb
from edgehar.runtime.replay import ReplayOptions, run_replay
t = time.perf_counter()
s = run_replay(ReplayOptions(log=log, chunk=int(chunk), quiet=True, out=out, orientation=mode))
wall = time.perf_counter() - t
ru = resource.getrusage(resource.RUSAGE_SELF)
heavy = [m for m in ("torch", "onnx", "tensorflow", "scipy", "pandas", "pyarrow")
         if sys.modules.get(m) is not None]
o = {k: v for k, v in s["orientation"].items() if k != "rotation" and "confusion" not in k}
print(json.dumps({"windows": s["windows"], "samples": s["samples"], "wall_s": wall,
                  "cpu_s": ru.ru_utime + ru.ru_stime,
                  "windows_per_s_end_to_end": s["windows"] / wall,
                  "realtime_factor_end_to_end": s["samples"] / 50 / wall,
                  "latency_ms": s["latency_ms"],
                  "compute_windows_per_s": s["windows"] / s["compute_seconds"],
                  "accuracy": s.get("accuracy"), "orientation": o,
                  "peak_rss_mb": peak_rss_mb(), "heavy_modules": heavy}))
"""
EPOCH_NS = 1_700_000_000_000_000_000
CYCLE_S, WALK_S = 1800, 720    # each half hour: 18 min sitting still, then 12 min walking


def write_log(path: Path, hours: float, seed: int = 0) -> int:
    n = int(hours * 3600 * 50)
    rng = np.random.default_rng(seed)
    block = 500_000
    with open(path, "w") as f:
        f.write("timestamp_ns,ax,ay,az,gx,gy,gz,label\n")
        for i in range(0, n, block):
            t = np.arange(i, min(n, i + block)) / 50
            walking = (t % CYCLE_S) >= CYCLE_S - WALK_S
            w = np.sin(2 * np.pi * 1.8 * t) * walking
            c = np.cos(2 * np.pi * 1.8 * t) * walking
            cols = [0.2 * w, 0.9 + 0.3 * w, 0.1 * c + 0.3 * ~walking, 0.5 * w, 0.2 * w, 0.1 * w]
            noise = np.where(walking, 0.02, 0.003)
            ns = EPOCH_NS + np.round(t * 1e9).astype(np.int64)
            fields = [np.char.mod("%d", ns)] + [np.char.mod("%.7f", x + noise * rng.normal(size=len(t)))
                                                for x in cols]
            fields.append(np.where(walking, "WALKING", "SITTING"))
            f.write("\n".join(map(",".join, zip(*(x.tolist() for x in fields)))) + "\n")
    return n


def replay(path: Path, chunk: int, out: Path, mode: str, install: str) -> dict:
    r = subprocess.run([sys.executable, "-c", CHILD, str(path), str(chunk), str(out), mode,
                        install], capture_output=True, text=True, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path)
    ap.add_argument("--hours", default="1,24.9")
    ap.add_argument("--chunk", type=int, default=4096)
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--installs", default=",".join(INSTALLS))
    ap.add_argument("--dir", type=Path, help="where to write the logs (default: a temp dir); "
                                             "logs already there are reused")
    a = ap.parse_args()
    modes, installs = a.modes.split(","), a.installs.split(",")
    results = {"chunk_samples": a.chunk, "logs": []}
    with tempfile.TemporaryDirectory() as tmp:
        d = a.dir or Path(tmp)
        d.mkdir(parents=True, exist_ok=True)
        for h in (float(x) for x in a.hours.split(",")):
            log = d / f"scaling_{h:g}h.csv"
            t = time.perf_counter()
            n = int(h * 3600 * 50) if log.exists() else write_log(log, h)
            entry = {"hours": h, "samples_written": n, "log_mb": log.stat().st_size / 2**20,
                     "generate_s": time.perf_counter() - t, "runs": {}}
            for install in installs:
                for mode in modes:
                    r = replay(log, a.chunk, Path(tmp) / "pred.jsonl", mode, install)
                    entry["runs"][f"{install}/{mode}"] = r
                    print(f"{h:5g} h {install:<8} {mode:<8} wall {r['wall_s']:6.1f} s  cpu "
                          f"{r['cpu_s']:6.1f} s  peak RSS {r['peak_rss_mb']:6.1f} MB  "
                          f"windows {r['windows']}", flush=True)
                runs = entry["runs"]
                if f"{install}/fixed" in runs:
                    fixed = runs[f"{install}/fixed"]
                    entry[f"{install}_vs_fixed"] = {
                        m: {"wall": runs[f"{install}/{m}"]["wall_s"] / fixed["wall_s"],
                            "cpu": runs[f"{install}/{m}"]["cpu_s"] / fixed["cpu_s"]}
                        for m in modes if m != "fixed"}
                    print(f"{h:5g} h {install:<8} vs fixed: " + ", ".join(
                        f"{m} {v['wall']:.2f}x wall {v['cpu']:.2f}x cpu"
                        for m, v in entry[f"{install}_vs_fixed"].items()), flush=True)
            results["logs"].append(entry)
            if a.dir is None:
                log.unlink()
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
