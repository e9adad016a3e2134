"""The nine test subjects' recordings written as phone logger apps export them, replayed with
no flags and scored by time against the HAPT labels.

Seeded, written under --out (not committed). One log per HAPT experiment and variant:
  hapt                 the raw pair as UCI recorded it, replayed with --labels (the baseline)
  phyphox              export folder: Accelerometer.csv (~203 Hz) + Gyroscope.csv (~397 Hz), meta/
  sensor_logger        export folder: TotalAcceleration.csv, Accelerometer.csv (gravity removed),
                       Gravity.csv, Gyroscope.csv (~100 Hz each, own timestamps), Metadata.csv
  physics_toolbox      one multi-record CSV (time,gFx,gFy,gFz,ax,ay,az,wx,wy,wz; a row per event)
  physics_toolbox_two  folder: g-force CSV (~98 Hz) + gyroscope CSV (~196 Hz) on one clock
  edgehar_csv          t,ax,ay,az,gx,gy,gz in m/s2 and deg/s (~100 Hz)
  rotated              edgehar_csv with one seeded random rotation of the phone per log; every
                       third log is turned upside down (a half-turn about a horizontal axis)

The phone's axes are the HAPT axes (no app flips them). Every log is replayed as
``python -m edgehar.runtime replay LOG --out P.jsonl --summary S.json`` plus --extra-args
(none by default) and scored over all windows whose 128 samples carry one activity label: a
window's samples are the HAPT samples at the log's first common time plus its stream indices.
A log that fails is listed with the last line of its stderr.

    python bench/app_formats.py --out runs/app_formats --json docs/results/app_formats.json
    python bench/app_formats.py --limit 2 --variants edgehar_csv,rotated \\
        --extra-args="--acc-units m/s2 --gyro-units deg/s"
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from field_logs import phone_times, random_rotation, sample  # noqa: E402

from edgehar.data.sources import load_package, write_hapt_dir  # noqa: E402
from edgehar.data.windows import TEST_SUBJECTS  # noqa: E402
from edgehar.runtime.preprocess import window_label  # noqa: E402
from edgehar.runtime.spec import LABELS, STANDARD_GRAVITY  # noqa: E402

RATE = 50            # HAPT samples per second
WINDOW = 128
EPOCH_NS = 1_700_000_000_000_000_000   # 2023-11-14 22:13:20 UTC: the recording's wall clock
REPEAT = 0.005       # share of rows that repeat the previous row's timestamp
GRAVITY_CUTOFF_HZ = 0.3
APP_VARIANTS = ("phyphox", "sensor_logger", "physics_toolbox", "physics_toolbox_two",
                "edgehar_csv", "rotated")
VARIANTS = ("hapt",) + APP_VARIANTS


@dataclass
class Take:
    """A stretch of 50 Hz samples to write: acc in g, gyro in rad/s, HAPT time = index / 50."""

    name: str
    raw: np.ndarray      # (n, 6)
    labels: np.ndarray   # (n,) int: 1..12 HAPT ids, -1 unlabelled (only the bench scores them)

    @property
    def duration(self) -> float:
        return (len(self.raw) - 1) / RATE


@dataclass
class Written:
    """One log as written: what to replay and when its streams all have data (take seconds)."""

    log: Path
    t0: float
    files: list[Path] = field(default_factory=list)
    info: dict = field(default_factory=dict)


# --- number formats the apps write


def phyphox_number(v: float) -> str:
    """phyphox's CSV numbers: 10 significant digits, Java-style exponent (``-1.234567890E-1``)."""
    s = f"{v:.9E}"
    mant, exp = s.split("E")
    return f"{mant}E{int(exp)}"


def short(v: float, digits: int) -> str:
    """A fixed-point number without trailing zeros (Physics Toolbox writes ``1.012``, ``0``)."""
    s = f"{v:.{digits}f}".rstrip("0").rstrip(".")
    return "0" if s in ("", "-0") else s


def float32_repr(v: float) -> str:
    """A float32 sensor value printed as the double it becomes (Sensor Logger's long digits)."""
    return repr(float(np.float32(v)))


def write_table(path: Path, header: str, columns: list[list[str]], eol_comma: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    end = ",\n" if eol_comma else "\n"
    with open(path, "w", newline="") as f:
        f.write(header + end)
        f.writelines(",".join(row) + end for row in zip(*columns, strict=True))


def fmt(values: np.ndarray, one: Callable[[float], str]) -> list[str]:
    return [one(float(v)) for v in values]


# --- signals


def at(take: Take, t: np.ndarray, cols: slice) -> np.ndarray:
    """The take's columns interpolated at times ``t`` (seconds)."""
    vals, _ = sample(take.raw[:, cols], take.labels, t)
    return vals


def gravity_of(acc: np.ndarray, rate: float) -> np.ndarray:
    """What a phone's gravity sensor reports: a causal 0.3 Hz low-pass of total acceleration,
    started in steady state at the first sample."""
    from scipy.signal import butter, lfilter, lfilter_zi

    b, a = butter(1, GRAVITY_CUTOFF_HZ / (rate / 2))
    zi = lfilter_zi(b, a)
    return np.stack([lfilter(b, a, acc[:, j], zi=zi * acc[0, j])[0] for j in range(3)], 1)


def app_times(take: Take, rate: float, rng: np.random.Generator, start: float = 0.0) -> np.ndarray:
    """A sensor's event times (take seconds): ``rate`` jittered, a few repeated, from ``start``."""
    t = start + phone_times(take.duration - start, rate, rng, REPEAT)
    return t[t <= take.duration]


# --- the apps' exports


PHYPHOX_ACC = ('"Time (s)","Acceleration x (m/s^2)","Acceleration y (m/s^2)",'
               '"Acceleration z (m/s^2)"')
PHYPHOX_GYRO = '"Time (s)","Gyroscope x (rad/s)","Gyroscope y (rad/s)","Gyroscope z (rad/s)"'


def write_phyphox(take: Take, out: Path, rng, acc_rate=203.4, gyro_rate=396.8) -> Written:
    """An export folder of a phyphox experiment with export sets "Accelerometer" and
    "Gyroscope": total acceleration in m/s^2, rotation rate in rad/s, time in s since start."""
    ta = app_times(take, acc_rate, rng, start=rng.uniform(0.002, 0.006))
    tg = app_times(take, gyro_rate, rng, start=rng.uniform(0.001, 0.004))
    acc = at(take, ta, slice(0, 3)) * STANDARD_GRAVITY
    gyro = at(take, tg, slice(3, 6))
    write_table(out / "Accelerometer.csv", PHYPHOX_ACC,
                [fmt(ta, phyphox_number)] + [fmt(acc[:, j], phyphox_number) for j in range(3)])
    write_table(out / "Gyroscope.csv", PHYPHOX_GYRO,
                [fmt(tg, phyphox_number)] + [fmt(gyro[:, j], phyphox_number) for j in range(3)])
    start_s = EPOCH_NS / 1e9
    stop = max(ta[-1], tg[-1])
    (out / "meta").mkdir(parents=True, exist_ok=True)
    (out / "meta" / "time.csv").write_text(
        '"event","experiment time","system time","system time text"\n'
        f'"START",{phyphox_number(0.0)},{start_s:.3f},"2023-11-14 22:13:20.000 UTC+00:00"\n'
        f'"PAUSE",{phyphox_number(stop)},{start_s + stop:.3f},'
        f'"{_clock_text(stop)} UTC+00:00"\n')
    (out / "meta" / "device.csv").write_text(
        '"property","value"\n"version","1.1.16"\n"build","1011603"\n'
        '"fileFormat","1.18"\n"deviceModel","edgehar synthetic"\n'
        '"deviceBrand","edgehar"\n"accelerometer Name","synthetic accelerometer"\n'
        '"gyroscope Name","synthetic gyroscope"\n')
    return Written(out, max(ta[0], tg[0]),
                   [out / "Accelerometer.csv", out / "Gyroscope.csv", out / "meta"])


def _clock_text(seconds: float) -> str:
    ms = round(seconds * 1000)
    s, ms = divmod(ms + 20_000, 1000)   # the epoch above is 22:13:20.000
    m, s = divmod(s, 60)
    return f"2023-11-14 22:{13 + m:02d}:{s:02d}.{ms:03d}"


SENSOR_LOGGER_HEADER = "time,seconds_elapsed,z,y,x"


def write_sensor_logger(take: Take, out: Path, rng, rate=100.0) -> Written:
    """A Sensor Logger (Android) zip export, unzipped: each sensor its own timestamps, time in
    epoch ns, seconds_elapsed since the Start tap (the first rows may be slightly negative),
    columns z,y,x; TotalAcceleration with gravity, Accelerometer without, both m/s^2."""
    tap = rng.uniform(0.01, 0.03)    # the user tapped Start just after the first events
    files = []

    def sensor(name: str, t: np.ndarray, v: np.ndarray) -> None:
        ns = EPOCH_NS + np.round(t * 1e9).astype(np.int64)
        elapsed = (ns - (EPOCH_NS + round(tap * 1e9))) / 1e9
        write_table(out / f"{name}.csv", SENSOR_LOGGER_HEADER,
                    [[str(n) for n in ns], fmt(elapsed, repr)]
                    + [fmt(v[:, j], float32_repr) for j in (2, 1, 0)])
        files.append(out / f"{name}.csv")

    t_acc = app_times(take, rate, rng)
    total = at(take, t_acc, slice(0, 3)) * STANDARD_GRAVITY
    grav = gravity_of(total, rate)
    t_gyro = app_times(take, rate, rng, start=rng.uniform(0.0, 0.008))
    sensor("TotalAcceleration", t_acc, total)
    sensor("Accelerometer", t_acc, total - grav)
    sensor("Gravity", t_acc, grav)
    sensor("Gyroscope", t_gyro, at(take, t_gyro, slice(3, 6)))
    (out / "Metadata.csv").write_text(
        "version,device name,recording time,platform\n"
        "3,edgehar synthetic,2023-11-14_22-13-20,android\n")
    files.append(out / "Metadata.csv")
    return Written(out, max(t_acc[0], t_gyro[0]), files, {"start_tap_s": tap})


PTB_MULTI = "time,gFx,gFy,gFz,ax,ay,az,wx,wy,wz"


def write_physics_toolbox(take: Take, path: Path, rng, acc_rate=98.7, gyro_rate=197.3) -> Written:
    """A Physics Toolbox Sensor Suite multi-record CSV: one row per sensor event, each sensor's
    last value held, zeros before a sensor's first event (and a first row of zeros); time in
    s, g-force in g, linear acceleration in m/s^2, rotation rate in rad/s."""
    start = rng.uniform(0.08, 0.12)       # the app's clock starts before the first event
    ta = app_times(take, acc_rate, rng)
    tg = app_times(take, gyro_rate, rng, start=rng.uniform(0.003, 0.012))
    gf = at(take, ta, slice(0, 3))
    lin = (gf - gravity_of(gf, acc_rate)) * STANDARD_GRAVITY
    w = at(take, tg, slice(3, 6))
    t = np.concatenate([ta, tg])
    order = np.argsort(t, kind="stable")
    t = t[order]
    is_acc = order < len(ta)
    ia = np.cumsum(is_acc) - 1            # last accelerometer event at or before each row
    ig = np.cumsum(~is_acc) - 1
    rows_a = np.where(ia[:, None] >= 0, np.concatenate([gf, lin], 1)[np.maximum(ia, 0)], 0.0)
    rows_g = np.where(ig[:, None] >= 0, w[np.maximum(ig, 0)], 0.0)
    # The app writes a first row of zeros, before any sensor has reported.
    t = np.concatenate([[t[0] - rng.uniform(0.03, 0.05)], t])
    rows_a = np.concatenate([np.zeros((1, 6)), rows_a])
    rows_g = np.concatenate([np.zeros((1, 3)), rows_g])
    cols = [fmt(t + start, lambda v: f"{v:.6f}")]
    cols += [fmt(rows_a[:, j], lambda v: short(v, 4)) for j in range(6)]
    cols += [fmt(rows_g[:, j], lambda v: short(v, 4)) for j in range(3)]
    write_table(path, PTB_MULTI, cols)
    return Written(path, float(t[0]), [path], {"clock_offset_s": start})


def write_physics_toolbox_two(take: Take, out: Path, rng, acc_rate=98.7,
                              gyro_rate=196.1) -> Written:
    """Physics Toolbox's single-sensor recordings, g-force meter and gyroscope, kept in one
    folder on one clock: ``time,gFx,gFy,gFz,TgF`` (g) and ``time,wx,wy,wz`` (rad/s)."""
    ta = app_times(take, acc_rate, rng)
    tg = app_times(take, gyro_rate, rng, start=rng.uniform(0.003, 0.012))
    gf = at(take, ta, slice(0, 3))
    w = at(take, tg, slice(3, 6))
    total = np.linalg.norm(gf, axis=1)
    three = lambda v: short(v, 3)   # noqa: E731
    write_table(out / "gforce.csv", "time,gFx,gFy,gFz,TgF",
                [fmt(ta, three)] + [fmt(gf[:, j], lambda v: short(v, 4)) for j in range(3)]
                + [fmt(total, lambda v: short(v, 4))])
    write_table(out / "gyroscope.csv", "time,wx,wy,wz",
                [fmt(tg, three)] + [fmt(w[:, j], lambda v: short(v, 4)) for j in range(3)])
    return Written(out, max(ta[0], tg[0]), [out / "gforce.csv", out / "gyroscope.csv"])


def write_edgehar_csv(take: Take, path: Path, rng, rate=100.0) -> Written:
    """edgehar's own combined CSV: t in s, acceleration in m/s^2, rotation rate in deg/s."""
    t = app_times(take, rate, rng)
    v = at(take, t, slice(0, 6))
    v[:, :3] *= STANDARD_GRAVITY
    v[:, 3:] = np.degrees(v[:, 3:])
    six = lambda x: f"{x:.6f}"   # noqa: E731
    write_table(path, "t,ax,ay,az,gx,gy,gz", [fmt(t, six)] + [fmt(v[:, j], six) for j in range(6)])
    return Written(path, t[0], [path])


def upside_down(acc_g: np.ndarray, rng) -> np.ndarray:
    """A half-turn about a random horizontal axis (perpendicular to the mean gravity): the
    phone upside down."""
    g = acc_g.mean(0)
    g /= np.linalg.norm(g)
    u = np.cross(g, rng.normal(size=3))
    u /= np.linalg.norm(u)
    return 2 * np.outer(u, u) - np.eye(3)


def rotated_take(take: Take, rng, flip: bool) -> tuple[Take, np.ndarray]:
    rot = upside_down(take.raw[:, :3], rng) if flip else random_rotation(rng)
    raw = np.concatenate([take.raw[:, :3] @ rot.T, take.raw[:, 3:] @ rot.T], 1)
    return Take(take.name, raw, take.labels), rot


def write_variant(name: str, take: Take, out: Path, rng, index: int) -> Written:
    if name == "phyphox":
        return write_phyphox(take, out / take.name, rng)
    if name == "sensor_logger":
        return write_sensor_logger(take, out / take.name, rng)
    if name == "physics_toolbox":
        return write_physics_toolbox(take, out / f"{take.name}.csv", rng)
    if name == "physics_toolbox_two":
        return write_physics_toolbox_two(take, out / take.name, rng)
    if name == "edgehar_csv":
        return write_edgehar_csv(take, out / f"{take.name}.csv", rng)
    if name == "rotated":
        flip = index % 3 == 2
        turned, rot = rotated_take(take, rng, flip)
        w = write_edgehar_csv(turned, out / f"{take.name}.csv", rng)
        g_before = take.raw[:, :3].mean(0)
        g_after = turned.raw[:, :3].mean(0)
        w.info = {"rotation": np.round(rot, 6).tolist(), "upside_down": flip,
                  "gravity_turned_deg": round(float(np.degrees(np.arccos(np.clip(
                      g_before @ g_after / np.linalg.norm(g_before) / np.linalg.norm(g_after),
                      -1, 1)))), 1)}
        return w
    raise ValueError(f"unknown variant {name!r}")


# --- replay and score


@dataclass
class Outcome:
    log: str
    windows: int = 0
    y_true: list[int] = field(default_factory=list)
    y_pred: list[int] = field(default_factory=list)
    failed: str | None = None
    info: dict = field(default_factory=dict)


def replay(log: Path, work: Path, args: list[str]) -> tuple[list[dict], dict, str | None]:
    """Run the CLI on one log; predictions, summary, or the last line of stderr."""
    work.mkdir(parents=True, exist_ok=True)
    pred, summ = work / "pred.jsonl", work / "summary.json"
    for p in (pred, summ):
        p.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "edgehar.runtime", "replay", str(log), "--out", str(pred),
           "--summary", str(summ), "--quiet", *args]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0 or not pred.exists():
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        return [], {}, (lines[-1] if lines else f"exit {r.returncode}")
    preds = [json.loads(ln) for ln in pred.read_text().splitlines()]
    return preds, json.loads(summ.read_text()) if summ.exists() else {}, None


def score(preds: list[dict], labels: np.ndarray, t0: float) -> tuple[list[int], list[int]]:
    """UCI rule by time: the window's samples are HAPT samples round(t0*50) + [start, end)."""
    first = round(t0 * RATE)
    y_true, y_pred = [], []
    for p in preds:
        lo, hi = first + p["start"], first + p["end"]
        if lo < 0 or hi > len(labels):   # a window over the log's own first rows, or past the end
            continue
        truth = window_label(labels[lo:hi], hi - lo)
        if truth >= 0:
            y_true.append(int(truth))
            y_pred.append(LABELS.index(p["label"]))
    return y_true, y_pred


def run_variant(name: str, recs, out: Path, seed: int, extra: list[str]) -> list[Outcome]:
    d = out / name
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, VARIANTS.index(name)])
    outcomes = []
    for i, rec in enumerate(recs):
        take = Take(f"exp{rec.experiment:02d}_user{rec.user:02d}", rec.raw, rec.labels)
        if name == "hapt":
            hd = write_hapt_dir([rec], d / take.name)
            log, t0, args, info = hd / f"acc_{take.name}.txt", 0.0, ["--labels",
                                                                     str(hd / "labels.txt")], {}
        else:
            w = write_variant(name, take, d, rng, i)
            log, t0, args, info = w.log, w.t0, extra, w.info
        preds, summary, failed = replay(log, out / "_replay", args)
        o = Outcome(log.name, len(preds), failed=failed, info=info)
        if failed is None:
            o.y_true, o.y_pred = score(preds, rec.labels, t0)
            o.info = {**info, "t0_s": round(t0, 6),
                      "summary_accuracy": summary.get("accuracy"),
                      "data_quality": summary.get("data_quality")}
        outcomes.append(o)
    return outcomes


def summarize(name: str, outcomes: list[Outcome], wall: float) -> dict:
    yt = np.array([y for o in outcomes for y in o.y_true], int)
    yp = np.array([y for o in outcomes for y in o.y_pred], int)
    ok = [o for o in outcomes if o.failed is None]
    return {"variant": name, "logs": len(outcomes), "replayed": len(ok),
            "failed": [{"log": o.log, "error": o.failed} for o in outcomes if o.failed],
            "windows": int(sum(o.windows for o in ok)), "scored_windows": int(len(yt)),
            "accuracy": float((yt == yp).mean()) if len(yt) else None,
            "wall_s": round(wall, 1),
            "per_log": [{"log": o.log, "windows": o.windows,
                         "scored_windows": len(o.y_true),
                         "accuracy": float(np.mean(np.array(o.y_true) == np.array(o.y_pred)))
                         if o.y_true else None, **o.info} for o in ok]}


def table(rows: list[dict]) -> str:
    base = next((r["accuracy"] for r in rows if r["variant"] == "hapt"), None)
    lines = [f"{'variant':<20} {'logs':>9} {'windows':>8} {'scored':>7} {'accuracy':>9} "
             f"{'vs HAPT':>8}"]
    for r in rows:
        acc = "-" if r["accuracy"] is None else f"{100 * r['accuracy']:.2f} %"
        delta = ("-" if r["accuracy"] is None or base is None
                 else f"{100 * (r['accuracy'] - base):+.2f} pp")
        lines.append(f"{r['variant']:<20} {r['replayed']:>4}/{r['logs']:<4} {r['windows']:>8} "
                     f"{r['scored_windows']:>7} {acc:>9} {delta:>8}")
    for r in rows:
        for f in r["failed"]:
            lines.append(f"  failed {r['variant']}/{f['log']}: {f['error']}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("runs/app_formats"))
    ap.add_argument("--json", type=Path)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--subjects", default=",".join(map(str, TEST_SUBJECTS)))
    ap.add_argument("--variants", default=",".join(VARIANTS),
                    help="hapt is always replayed too (the baseline)")
    ap.add_argument("--limit", type=int, help="only the first N recordings per variant")
    ap.add_argument("--extra-args", default="",
                    help="added to every app-format replay (not to hapt's), e.g. "
                         "'--acc-units m/s2 --gyro-units deg/s'")
    a = ap.parse_args()
    subjects = {int(s) for s in a.subjects.split(",")}
    recs = [r for r in load_package() if r.user in subjects][:a.limit]
    names = [v for v in VARIANTS if v == "hapt" or v in a.variants.split(",")]
    unknown = set(a.variants.split(",")) - set(VARIANTS)
    if unknown:
        ap.error(f"unknown variant(s): {', '.join(sorted(unknown))}")
    extra = shlex.split(a.extra_args)
    rows = []
    for name in names:
        t0 = time.perf_counter()
        rows.append(summarize(name, run_variant(name, recs, a.out, a.seed, extra),
                              time.perf_counter() - t0))
        print(f"{name}: {rows[-1]['replayed']}/{rows[-1]['logs']} replayed", flush=True)
    print(table(rows))
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps({"seed": a.seed, "subjects": sorted(subjects),
                                      "limit": a.limit, "extra_args": extra,
                                      "results": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
