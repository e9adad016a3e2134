"""Single-window torch eager latency (1 thread) of every registered model, in one run:

    python bench/torch_latency.py --json docs/results/torch_latency.json
"""

import argparse
import json
from pathlib import Path

import torch

from edgehar.train.evaluate import torch_latency_ms
from edgehar.train.models import count_macs, count_params
from edgehar.train.registry import create_model, list_models

ap = argparse.ArgumentParser()
ap.add_argument("--json", type=Path)
a = ap.parse_args()
torch.set_num_threads(1)
rows = {}
for name in list_models():
    m = create_model(name).eval()
    rows[name] = {"params": count_params(m), "macs": count_macs(m),
                  "latency_ms": torch_latency_ms(m, repeats=300)}
    print(f"{name:<18} {rows[name]['params']:>9,} params {rows[name]['macs'] / 1e6:7.2f} M MACs "
          f"p50 {rows[name]['latency_ms']['p50']:.3f} ms")
if a.json:
    a.json.write_text(json.dumps(rows, indent=2) + "\n")
