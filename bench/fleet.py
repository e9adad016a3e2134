"""Fleet replay bench: 1,000 synthetic logs of mixed lengths plus the test subjects' recordings.

    python bench/fleet.py --out runs/fleet_bench --json docs/results/fleet.json

1. Logs (seeded, written once): each synthetic log is a 50 Hz CSV (``t,ax..gz,label``) of 0.5
   to 60 minutes (log-normal, median 3 min), spliced from random segments of the nine test
   subjects' recordings, so the activity mix and the signal are real; plus the 19 test
   recordings as HAPT raw pairs with their labels.txt.
2. Model only, one core: the bundle's fixed-batch INT8 file on random windows (and batch 1).
3. The fleet end to end (parse, resample, filter, window, orient, infer, write JSON Lines,
   score), in one run: local 1 and 2 workers, Ray 1 and 2 workers.
4. Predictions: every JSON Lines file hashed; identical across the four runs.
5. Memory: each worker's peak RSS after each log (first vs last hundred logs), and one 24 h log
   through one worker.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from field_logs import make_all  # noqa: E402

from edgehar.data.sources import load_package  # noqa: E402
from edgehar.data.windows import TEST_SUBJECTS  # noqa: E402
from edgehar.runtime.assets import PRETRAINED  # noqa: E402
from edgehar.runtime.spec import LABELS  # noqa: E402


def write_csv(path: Path, t: np.ndarray, raw: np.ndarray, labels: np.ndarray) -> None:
    import pyarrow as pa
    import pyarrow.csv as pc

    names = np.array([""] + list(LABELS) + [""] * 8, dtype=object)
    cols = {"t": np.round(t, 3)} | {c: np.round(raw[:, i], 5)
                                    for i, c in enumerate(("ax", "ay", "az", "gx", "gy", "gz"))}
    cols["label"] = names[np.clip(labels, 0, len(names) - 1)]
    pc.write_csv(pa.table(cols), path, pc.WriteOptions(quoting_style="none"))


def make_logs(out: Path, n: int, seed: int) -> list[Path]:
    syn = out / "synthetic"
    done = syn / ".complete"
    if not done.exists():
        syn.mkdir(parents=True, exist_ok=True)
        recs = [r for r in load_package() if r.user in TEST_SUBJECTS]
        rng = np.random.default_rng(seed)
        for i in range(n):
            minutes = float(np.clip(rng.lognormal(np.log(3.0), 1.0), 0.5, 60.0))
            total = int(minutes * 60 * 50)
            parts, labs, have = [], [], 0
            while have < total:   # spliced from 20-120 s segments of random recordings
                r = recs[rng.integers(len(recs))]
                seg = int(rng.integers(20 * 50, 120 * 50))
                a = int(rng.integers(0, max(1, len(r.raw) - seg)))
                parts.append(r.raw[a:a + seg])
                labs.append(r.labels[a:a + seg])
                have += len(parts[-1])
            raw, lab = np.concatenate(parts)[:total], np.concatenate(labs)[:total]
            write_csv(syn / f"log_{i:04d}.csv", np.arange(total) / 50, raw, lab)
        done.touch()
    if not (out / "test" / ".complete").exists():
        make_all(out / "test_variants", 0, variants=("hapt",))
        (out / "test").mkdir(exist_ok=True)
        (out / "test" / ".complete").touch()
    return [syn, out / "test_variants" / "hapt"]


def model_only(bundle: Path, windows: int = 16384) -> dict:
    from edgehar.runtime.model import load_model

    x = np.random.default_rng(0).normal(size=(windows, 128, 9)).astype(np.float32)
    out = {}
    for name, batched in (("batch64", True), ("batch1", False)):
        m = load_model(bundle, batched=batched)
        m.runner(x[:256])   # warm up
        best = 1e9
        for _ in range(3):
            t = time.perf_counter()
            m.runner(x if batched else x[:4096])
            best = min(best, time.perf_counter() - t)
        out[name] = {"file": Path(m.path).name, "windows_per_s": (windows if batched else 4096) / best}
    return out


def fleet_run(paths: list[Path], out_dir: Path, engine: str, workers: int, bundle: Path) -> dict:
    """One fleet replay in a fresh process (as a user runs it); its fleet.json, plus hashes."""
    cmd = [sys.executable, "-c", "from edgehar.cli import main; main()", "replay",
           *map(str, paths), "--out-dir", str(out_dir), "--engine", engine,
           "--workers", str(workers), "--model", str(bundle), "--quiet"]
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if r.returncode not in (0, 3):
        raise RuntimeError(r.stderr[-2000:])
    fleet = json.loads((out_dir / "fleet.json").read_text())
    digest = hashlib.sha256()
    for e in fleet["logs"]:
        if "jsonl" in e:
            digest.update(e["jsonl"].encode() + (out_dir / e["jsonl"]).read_bytes())
    rss = [e["worker_peak_rss_mb"] for e in fleet["logs"] if "worker_peak_rss_mb" in e]
    return {"engine": engine, "workers": workers, **fleet["totals"], "process_wall_s": wall,
            "predictions_sha256": digest.hexdigest(),
            "worker_peak_rss_mb": {"first_100_logs": max(rss[:100]), "last_100_logs": max(rss[-100:]),
                                   "max": max(rss)}}


def day_log_rss(out: Path, bundle: Path) -> dict:
    path = out / "day.csv"
    if not path.exists():
        sys.path.insert(0, str(Path(__file__).parent))
        from replay_scaling import write_log

        write_log(path, 24.0)
    r = fleet_run([path], out / "day_out", "local", 1, bundle)
    return {"log_hours": 24, "windows": r["windows"], "wall_s": r["wall_s"],
            "windows_per_s": r["windows_per_s"], "peak_rss_mb": r["worker_peak_rss_mb"]["max"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("runs/fleet_bench"))
    ap.add_argument("--logs", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", type=Path, default=PRETRAINED)
    ap.add_argument("--engines", default="local,ray")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    t = time.perf_counter()
    paths = make_logs(args.out, args.logs, args.seed)
    print(f"logs ready in {time.perf_counter() - t:.0f} s")
    res = {"model_only_1_core": model_only(args.model), "runs": []}
    print(f"model only, 1 core: {res['model_only_1_core']}")
    for engine in args.engines.split(","):
        for workers in (1, 2):
            r = fleet_run(paths, args.out / f"out_{engine}_{workers}", engine, workers, args.model)
            res["runs"].append(r)
            print(f"{engine} x{workers}: {r['logs']} logs ({r['failed']} failed), "
                  f"{r['windows']:,} windows in {r['wall_s']:.1f} s = "
                  f"{r['windows_per_s']:,.0f} windows/s; peak RSS per worker "
                  f"{r['worker_peak_rss_mb']}")
    runs = {(r["engine"], r["workers"]): r for r in res["runs"]}
    batched = res["model_only_1_core"]["batch64"]["windows_per_s"]
    one = runs[("local", 1)]["windows_per_s"]
    engines = args.engines.split(",")

    def replaying(r: dict) -> float:   # windows/s between the engine's start and its stop
        return r["windows"] / (r["wall_s"] - r["startup_s"] - r["stop_s"])

    res["summary"] = {
        "end_to_end_all_cores_windows_per_s": max(r["windows_per_s"] for r in res["runs"]),
        "per_core_end_to_end_over_model_only": one / batched,
        "scaling_2_over_1": {e: runs[(e, 2)]["windows_per_s"] / runs[(e, 1)]["windows_per_s"]
                             for e in engines},
        # the same without the engine's fixed costs (a local Ray's cluster start and stop)
        "scaling_2_over_1_replaying": {e: replaying(runs[(e, 2)]) / replaying(runs[(e, 1)])
                                       for e in engines},
        "identical_predictions": len({r["predictions_sha256"] for r in res["runs"]}) == 1,
    }
    if ("ray", 2) in runs:
        ray2, local2 = runs[("ray", 2)], runs[("local", 2)]
        res["summary"]["ray_over_local_2_workers"] = ray2["windows_per_s"] / local2["windows_per_s"]
        res["summary"]["ray_startup_s"] = ray2["startup_s"]
        res["summary"]["ray_stop_s"] = ray2["stop_s"]
        res["summary"]["ray_over_local_replaying"] = replaying(ray2) / replaying(local2)
    res["day_log"] = day_log_rss(args.out, args.model)
    print(json.dumps(res["summary"], indent=1))
    print(f"24 h log, 1 worker: {res['day_log']}")
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
