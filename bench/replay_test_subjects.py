"""Replay every recording of the nine test subjects through the runtime and compare with
``edgehar evaluate`` on the same model file; then replay the same recordings re-encoded as
100 Hz CSV with jittered timestamps in m/s2. Prints and writes JSON:

    python bench/replay_test_subjects.py --json docs/results/replay_test_subjects.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from edgehar.data.sources import load_package, write_hapt_dir
from edgehar.data.windows import TEST_SUBJECTS, windows_from_recordings
from edgehar.runtime.files import write_json
from edgehar.runtime.metrics import classification_report
from edgehar.runtime.model import load_model
from edgehar.runtime.preprocess import window_label
from edgehar.runtime.replay import PRETRAINED, ReplayOptions, run_replay
from edgehar.runtime.spec import LABELS, STANDARD_GRAVITY


def to_jittered_csv(rec, path: Path, rate: float = 100.0, jitter_s: float = 0.002, seed: int = 0):
    rng = np.random.default_rng(seed)
    n = len(rec.raw)
    t50 = np.arange(n) / 50
    t = np.arange(0, t50[-1], 1 / rate)
    t = np.sort(np.clip(t + rng.uniform(-jitter_s, jitter_s, len(t)), 0, t50[-1]))
    t = np.unique(np.round(t, 6))
    cols = np.stack([np.interp(t, t50, rec.raw[:, j]) for j in range(6)], 1)
    cols[:, :3] *= STANDARD_GRAVITY
    lab = rec.labels[np.clip(np.round(t * 50).astype(int), 0, n - 1)]
    names = np.array([LABELS[v - 1] if 1 <= v <= 6 else "" for v in lab])
    with open(path, "w") as f:
        f.write("t,ax,ay,az,gx,gy,gz,label\n")
        for i in range(len(t)):
            f.write(f"{t[i]:.6f}," + ",".join(f"{v:.6f}" for v in cols[i]) + f",{names[i]}\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", type=Path, default=PRETRAINED / "model_int8.tflite")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    recs = [r for r in load_package() if r.user in TEST_SUBJECTS]
    model = load_model(a.model)
    ws = windows_from_recordings(recs)
    evaluate_acc = float((model.logits(ws.x).argmax(1) == ws.y).mean())
    out = {"model": str(a.model), "recordings": len(recs), "evaluate_accuracy": evaluate_acc,
           "evaluate_windows": int(len(ws.y))}
    for kind in ("hapt", "csv100hz_jitter_ms2"):
        y_true, y_pred = [], []
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as d:
            raw = write_hapt_dir(recs, Path(d) / "hapt")
            for rec in recs:
                pred = Path(d) / "p.jsonl"
                if kind == "hapt":
                    log = raw / f"acc_exp{rec.experiment:02d}_user{rec.user:02d}.txt"
                    opts = ReplayOptions(log=log, model=a.model, labels=raw / "labels.txt",
                                         out=pred, quiet=True, chunk=4096)
                    labels = rec.labels
                else:
                    log = Path(d) / f"exp{rec.experiment}.csv"
                    to_jittered_csv(rec, log, seed=rec.experiment)
                    opts = ReplayOptions(log=log, model=a.model, acc_units="m/s2", out=pred,
                                         quiet=True, chunk=4096)
                    labels = rec.labels
                run_replay(opts)
                for line in pred.read_text().splitlines():
                    p = json.loads(line)
                    truth = window_label(labels[p["start"]:p["end"]], p["end"] - p["start"])
                    if truth >= 0:
                        y_true.append(truth)
                        y_pred.append(LABELS.index(p["label"]))
        rep = classification_report(np.array(y_true), np.array(y_pred), LABELS)
        out[kind] = {"accuracy": rep["accuracy"], "macro_f1": rep["macro_f1"],
                     "scored_windows": rep["n"], "seconds": time.perf_counter() - t0}
        print(kind, json.dumps(out[kind]), flush=True)
    out["hapt_minus_evaluate_pp"] = 100 * (out["hapt"]["accuracy"] - evaluate_acc)
    out["csv_minus_hapt_pp"] = 100 * (out["csv100hz_jitter_ms2"]["accuracy"]
                                      - out["hapt"]["accuracy"])
    print(json.dumps(out, indent=2))
    if a.json:
        write_json(a.json, out)


if __name__ == "__main__":
    main()
