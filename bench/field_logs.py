"""Phone-style and rotated variants of the nine test subjects' recordings, replayed.

Seeded, written under --out (not committed). Variants, one log per HAPT experiment:
  hapt            the raw pair as UCI recorded it (the baseline)
  csv100          100 Hz CSV, +-2 ms jitter, 2 % repeated timestamps, m/s2, epoch timestamp_ns
  pair_degs       separate accelerometer (100 Hz, m/s2) and gyroscope (150 Hz, deg/s) CSVs
  gaps            csv100 with gaps of 0.1-0.6 s covering 5 % of the time
  rotated         csv100 with one random 3-D rotation of the phone per log
  rotated_field   every artifact at once: pair_degs + gaps + rotation

Each is replayed with --orientation fixed, auto (the default: one rotation from all of the log's
walking, applied to every window) and running (the live estimate, used once settled);
accuracy is over ALL windows with one activity label, and for running also over the windows
after its estimate settled.

    python bench/field_logs.py --out runs/field_logs --json docs/results/field_logs.json
    python bench/field_logs.py --variants hapt,rotated --json ...   # upright and rotated only
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from edgehar.data.sources import load_package, write_hapt_dir
from edgehar.data.windows import TEST_SUBJECTS
from edgehar.runtime.assets import PRETRAINED
from edgehar.runtime.replay import ReplayOptions, run_replay
from edgehar.runtime.spec import LABELS, STANDARD_GRAVITY

EPOCH_NS = 1_700_000_000_000_000_000
VARIANTS = ("hapt", "csv100", "pair_degs", "gaps", "rotated", "rotated_field")


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    q = rng.normal(size=4)
    q /= np.linalg.norm(q)
    w, x, y, z = q
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def phone_times(duration: float, rate: float, rng, repeat: float = 0.02) -> np.ndarray:
    t = np.arange(0, duration, 1 / rate)
    t = np.clip(t + rng.uniform(-0.002, 0.002, len(t)), 0, duration)
    t[0] = 0.0
    t = np.sort(t)
    dup = np.flatnonzero(rng.random(len(t)) < repeat)
    dup = dup[dup > 0]
    t[dup] = t[dup - 1]             # the HAL delivered two rows with one timestamp
    return t


def cut_gaps(t: np.ndarray, duration: float, rng, share: float = 0.05) -> np.ndarray:
    """Mask of rows kept after removing gaps of 0.1-0.6 s that cover ``share`` of the time."""
    keep = np.ones(len(t), bool)
    covered = 0.0
    while covered < share * duration:
        length = rng.uniform(0.1, 0.6)
        start = rng.uniform(5.0, duration - 5.0)
        keep &= ~((t >= start) & (t < start + length))
        covered += length
    return keep


def sample(raw: np.ndarray, labels: np.ndarray, t: np.ndarray):
    t50 = np.arange(len(raw)) / 50
    vals = np.stack([np.interp(t, t50, raw[:, j]) for j in range(raw.shape[1])], 1)
    lab = labels[np.clip(np.round(t * 50).astype(int), 0, len(raw) - 1)]
    names = np.array([LABELS[v - 1] if 1 <= v <= 6 else "" for v in lab])
    return vals, names


def write_csv(path: Path, header: str, t_ns: np.ndarray, vals: np.ndarray, names=None) -> None:
    with open(path, "w") as f:
        f.write(header + "\n")
        for i in range(len(t_ns)):
            row = f"{t_ns[i]}," + ",".join(f"{v:.6f}" for v in vals[i])
            f.write(row + (f",{names[i]}" if names is not None else "") + "\n")


def make_variant(name: str, rec, out: Path, rng) -> dict:
    """Write one log; returns the replay options that read it."""
    stem = f"exp{rec.experiment:02d}_user{rec.user:02d}"
    duration = (len(rec.raw) - 1) / 50
    raw = rec.raw.copy()
    if name.startswith("rotated"):
        rot = random_rotation(rng)
        raw = np.concatenate([raw[:, :3] @ rot.T, raw[:, 3:] @ rot.T], 1)
    if name == "hapt":
        d = write_hapt_dir([rec], out / stem)   # one labels.txt per experiment
        return {"log": d / f"acc_{stem}.txt", "labels": d / "labels.txt"}
    if name in ("pair_degs", "rotated_field"):
        ta = phone_times(duration, 100, rng)
        tg = phone_times(duration, 150, rng)
        if name == "rotated_field":
            ta, tg = ta[cut_gaps(ta, duration, rng)], tg[cut_gaps(tg, duration, rng)]
        acc, names = sample(raw[:, :3] * STANDARD_GRAVITY, rec.labels, ta)
        gyro, _ = sample(np.degrees(raw[:, 3:]), rec.labels, tg)
        write_csv(out / f"{stem}_acc.csv", "timestamp_ns,x,y,z,label",
                  EPOCH_NS + np.round(ta * 1e9).astype(np.int64), acc, names)
        write_csv(out / f"{stem}_gyro.csv", "timestamp_ns,x,y,z",
                  EPOCH_NS + np.round(tg * 1e9).astype(np.int64), gyro)
        return {"log": out / f"{stem}_acc.csv", "gyro": out / f"{stem}_gyro.csv",
                "acc_units": "m/s2", "gyro_units": "deg/s"}
    t = phone_times(duration, 100, rng)
    if name == "gaps":
        t = t[cut_gaps(t, duration, rng)]
    vals, names = sample(raw, rec.labels, t)
    vals[:, :3] *= STANDARD_GRAVITY
    write_csv(out / f"{stem}.csv", "timestamp_ns,ax,ay,az,gx,gy,gz,label",
              EPOCH_NS + np.round(t * 1e9).astype(np.int64), vals, names)
    return {"log": out / f"{stem}.csv", "acc_units": "m/s2"}


def make_all(out: Path, seed: int, variants=VARIANTS) -> dict[str, list[dict]]:
    recs = [r for r in load_package() if r.user in TEST_SUBJECTS]
    logs: dict[str, list[dict]] = {}
    for name in variants:
        v_i = VARIANTS.index(name)   # the same seed for a variant whatever else is made
        d = out / name
        d.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng([seed, v_i])
        logs[name] = [make_variant(name, r, d, rng) for r in recs]
    return logs


MODES = ("fixed", "auto", "running")


def replay_all(logs: dict[str, list[dict]], model: Path, modes=MODES) -> dict:
    results = {}
    for name, entries in logs.items():
        for mode in modes:
            cm_all = cm_settled = None
            settle, per_log = [], []
            t0 = time.perf_counter()
            for e in entries:
                opts = ReplayOptions(model=model, quiet=True, orientation=mode, **e)
                s = run_replay(opts)
                per_log.append({"log": Path(e["log"]).name, "accuracy": s.get("accuracy"),
                                "windows": s["windows"], "data_quality": s["data_quality"],
                                "orientation": s["orientation"]})
                settle.append(s["orientation"]["settled_at_s"])
                cm = np.asarray(s["confusion"])
                cm_all = cm if cm_all is None else cm_all + cm
                cms = np.asarray(s["orientation"].get("confusion_after_settled", np.zeros_like(cm)))
                cm_settled = cms if cm_settled is None else cm_settled + cms
            row = {"accuracy": float(np.trace(cm_all) / cm_all.sum()),
                   "scored_windows": int(cm_all.sum()), "logs": len(entries),
                   "wall_s": round(time.perf_counter() - t0, 1)}
            if mode == "auto":
                est = [r["orientation"].get("estimated") for r in per_log]
                row["not_estimated"] = est.count(False)
            if mode == "running":
                settled = [v for v in settle if v is not None]
                row["accuracy_after_settling"] = float(np.trace(cm_settled) / cm_settled.sum())
                row["scored_windows_after_settling"] = int(cm_settled.sum())
                row["settled_at_s"] = {"median": float(np.median(settled)) if settled else None,
                                       "max": float(np.max(settled)) if settled else None,
                                       "never": len(settle) - len(settled)}
            row["per_log"] = per_log
            results[f"{name}/{mode}"] = row
            extra = (f", after settling {100 * row['accuracy_after_settling']:.2f} % "
                     f"(settled at median {row['settled_at_s']['median']} s)"
                     if mode == "running" else "")
            if mode == "auto":
                extra = f" (not estimated: {row['not_estimated']} logs)"
            print(f"{name:<14} {mode:<7} accuracy {100 * row['accuracy']:.2f} % on "
                  f"{row['scored_windows']} windows{extra}", flush=True)
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("runs/field_logs"))
    ap.add_argument("--model", type=Path, default=PRETRAINED)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--modes", default=",".join(MODES), help="orientation modes to replay with")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    logs = make_all(a.out, a.seed, a.variants.split(","))
    results = replay_all(logs, a.model, tuple(a.modes.split(",")))
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps({"model": str(a.model), "seed": a.seed,
                                      "variants": a.variants.split(","),
                                      "results": results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
