"""Plot time and memory of `edgehar plot` on a 24-hour prediction file (67,500 windows).

Writes a seeded synthetic day of predictions (activity bouts of 1-20 min, a few gaps, the
confidence dipping at changes), then plots it in a fresh process and records wall time and
peak RSS, beside a 2-minute file for scale:

    python bench/plot_timeline.py --out runs/plot_bench --json docs/results/plot_timeline.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

LABELS = ["WALKING", "WALKING_UPSTAIRS", "WALKING_DOWNSTAIRS", "SITTING", "STANDING", "LAYING"]

CHILD = """
import json, sys, time
t = time.perf_counter()
from edgehar.report.timeline import plot_timeline
from edgehar.runtime.memory import peak_rss_mb
r = plot_timeline(sys.argv[1], sys.argv[2])
print(json.dumps({"wall_s": time.perf_counter() - t, "peak_rss_mb": peak_rss_mb(), **r}))
"""


def write_day(path: Path, hours: float, seed: int = 0) -> int:
    rng = np.random.default_rng(seed)
    hop, win, rate = 64, 128, 50
    n_total = int(hours * 3600 * rate / hop)
    k, start, lines = 0, 0, []
    with open(path, "w") as f:
        while k < n_total:
            label = int(rng.integers(0, 6))
            bout = int(rng.integers(1, 20) * 60 * rate / hop)
            if rng.random() < 0.02:                       # a gap: the phone was off
                start += int(rng.integers(5, 60) * 60 * rate)
                start -= start % hop
            for i in range(min(bout, n_total - k)):
                p = rng.dirichlet(np.ones(6) * 0.3)
                p[label] += 2.0 if i > 2 else 0.3
                p /= p.sum()
                s = start + hop * i
                lines.append(json.dumps({"start": s, "end": s + win, "t": (s + win) / rate,
                                         "label": LABELS[int(p.argmax())],
                                         "confidence": round(float(p.max()), 6),
                                         "probs": [round(float(v), 6) for v in p]}))
            start += hop * min(bout, n_total - k)
            k += min(bout, n_total - k)
            f.write("\n".join(lines) + "\n")
            lines = []
    return n_total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("runs/plot_bench"))
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    results = {}
    for name, hours in (("2min", 2 / 60), ("24h", 24.0)):
        pred = a.out / f"pred_{name}.jsonl"
        n = write_day(pred, hours)
        png = a.out / f"timeline_{name}.png"
        t = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", CHILD, str(pred), str(png)],
                             capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        r.update(windows_written=n, file_mb=pred.stat().st_size / 2**20,
                 process_wall_s=time.perf_counter() - t)
        results[name] = r
        print(f"{name}: {n} windows, {r['file_mb']:.1f} MB JSONL -> plotted in {r['wall_s']:.2f} s "
              f"(process {r['process_wall_s']:.2f} s), peak RSS {r['peak_rss_mb']:.1f} MB")
    if a.json:
        a.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
