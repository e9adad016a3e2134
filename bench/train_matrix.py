"""Train several (model, overrides, seed) configurations in parallel processes and collect
test metrics into one JSON: the 3-seed result, the 2D seed model and the cardinality ablation
in docs/experiments/ come from here.

    python bench/train_matrix.py --epochs 30 --jobs 6 --out runs/matrix matrix.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

# Cardinality ablation of the default model at roughly equal MACs: group width x cardinality
# kept near 24 channels at the first stage.
ABLATION = [
    {"name": "card1", "model": "resnext1d_small", "kw": {"cardinality": 1, "base_width": 16}},
    {"name": "card4", "model": "resnext1d_small", "kw": {"cardinality": 4, "base_width": 6}},
    # cardinality 8 / base width 3 is the default model itself: small_seed0
    {"name": "card12", "model": "resnext1d_small", "kw": {"cardinality": 12, "base_width": 2}},
    {"name": "card24", "model": "resnext1d_small", "kw": {"cardinality": 24, "base_width": 1}},
]


def one(spec: dict, epochs: int, out: Path, device: str) -> dict:
    from edgehar.runtime.run_config import RunConfig
    from edgehar.train.trainer import TrainConfig, train

    torch_threads = int(os.environ.get("MATRIX_THREADS", "2"))
    import torch

    torch.set_num_threads(torch_threads)
    cfg = TrainConfig(model=spec["model"], model_kwargs=spec.get("kw", {}), epochs=epochs,
                      seed=spec.get("seed", 0), device=spec.get("device", device))
    t = time.perf_counter()
    m = train(cfg, out / spec["name"], progress=False)
    best = RunConfig.read(out / spec["name"]).selection.best_epoch
    chosen = next(h for h in json.loads((out / spec["name"] / "history.json").read_text())
                  if h["epoch"] == best)
    return {**spec, "epochs": epochs, "accuracy": m["accuracy"], "macro_f1": m["macro_f1"],
            "val_loss": chosen["val_loss"], "val_acc": chosen["val_acc"],
            "params": m["params"], "macs": m["macs"], "latency_ms": m["latency_ms"],
            "best_epoch": best, "seconds": time.perf_counter() - t, "device": cfg.device}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--jobs", type=int, default=4)
    ap.add_argument("--out", type=Path, default=Path("runs/matrix"))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--only", default="", help="comma-separated names to run")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    specs = ([{"name": f"small_seed{s}", "model": "resnext1d_small", "seed": s} for s in (0, 1, 2)]
             + [{"name": "seed2d", "model": "resnext2d_seed", "device": "cuda"}]
             + [{"name": "tiny", "model": "resnext1d_tiny"}]
             + [{"name": f"tiny_seed{s}", "model": "resnext1d_tiny", "seed": s} for s in (1, 2)]
             + ABLATION)
    if a.worker:
        spec = next(s for s in specs if s["name"] == a.worker)
        print(json.dumps(one(spec, a.epochs, a.out, a.device)))
        return
    if a.only:
        specs = [s for s in specs if s["name"] in a.only.split(",")]
    a.out.mkdir(parents=True, exist_ok=True)
    pending, running, results = list(specs), [], []
    while pending or running:
        while pending and len(running) < a.jobs:
            s = pending.pop(0)
            cmd = [sys.executable, __file__, "--epochs", str(a.epochs), "--out", str(a.out),
                   "--device", a.device, "--worker", s["name"]]
            running.append((s, subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)))
        time.sleep(2)
        for s, p in list(running):
            if p.poll() is not None:
                running.remove((s, p))
                out = p.stdout.read().strip().splitlines()
                res = json.loads(out[-1]) if p.returncode == 0 and out else {**s, "failed": True}
                results.append(res)
                print(json.dumps(res), flush=True)
                (a.out / "matrix.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
