"""Fleet replay from Parquet vs CSV: the same recordings, one worker (windows/s per core).

    python bench/parquet_csv.py --out runs/parquet_bench --json docs/results/parquet_csv.json

The test subjects' recordings are written both ways by ``edgehar data export-csv --format
both`` (the Parquet columns hold the values the CSV's text parses to), then replayed as a fleet
with one local worker, CSV logs and Parquet logs in turn, ``--repeats`` times each (the best
run counts, the two formats interleaved: the machine is shared). The predictions of each CSV
log and its Parquet twin are compared byte for byte. Reading the rows alone (the readers, no
model) is timed too.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import time
from pathlib import Path

from edgehar.fleet.run import FleetOptions, run_fleet


def write_logs(out: Path, subjects: set[int]) -> Path:
    """The chosen subjects' recordings as CSV and Parquet (written once)."""
    from edgehar.data.export_csv import export_csv
    from edgehar.data.sources import load_package, write_hapt_dir

    logs = out / "logs"
    if (logs / "subjects.csv").is_file():
        return logs
    hapt = out / "hapt"
    if not hapt.is_dir():
        write_hapt_dir([r for r in load_package() if r.user in subjects], hapt)
    export_csv(str(hapt), "uci6", logs, "both")
    return logs


def read_rows(logs: list[Path]) -> float:
    """Seconds to read every log's rows (the reader alone: no resampling, no model)."""
    from edgehar.runtime.logs import csv_rows
    from edgehar.runtime.logs.parquetlog import ParquetRows

    t0 = time.perf_counter()
    for p in logs:
        rows = ParquetRows(p) if p.suffix == ".parquet" else csv_rows(p, reader="arrow")
        for _ in rows:
            pass
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("runs/parquet_bench"))
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--subjects", default="2,4,9,10,12,13,18,20,24",
                    help="whose recordings to use (default: the test subjects)")
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    subjects = {int(s) for s in a.subjects.split(",")}
    logs = write_logs(a.out, subjects)
    result: dict = {"subjects": sorted(subjects), "workers": 1, "host": platform.processor()
                    or platform.machine(), "formats": {}}
    hashes: dict[str, dict[str, str]] = {}
    files = {fmt: sorted(p for p in logs.glob(f"*.{fmt}") if p.name != "subjects.csv")
             for fmt in ("csv", "parquet")}
    best: dict[str, dict] = {}
    for i in range(a.repeats):   # interleaved: a busy moment of the shared machine hits both
        for fmt in ("csv", "parquet"):
            out = a.out / f"fleet_{fmt}_{i}"
            fleet = run_fleet(FleetOptions(paths=[str(p) for p in files[fmt]], out_dir=out,
                                           workers=1))
            tot = fleet["totals"]
            assert tot["failed"] == 0, fleet["logs"]
            if fmt not in best or tot["wall_s"] < best[fmt]["wall_s"]:
                best[fmt] = tot
            hashes[fmt] = {Path(e["log"]).stem: hashlib.sha256(
                (out / e["jsonl"]).read_bytes()).hexdigest() for e in fleet["logs"]}
    for fmt in ("csv", "parquet"):
        read_s = min(read_rows(files[fmt]) for _ in range(a.repeats))
        b = best[fmt]
        result["formats"][fmt] = {
            "logs": len(files[fmt]), "bytes": sum(p.stat().st_size for p in files[fmt]),
            "windows": b["windows"], "wall_s": b["wall_s"],
            "windows_per_s_per_core": round(b["windows"] / b["wall_s"], 1),
            "read_rows_s": round(read_s, 3),
            "read_us_per_window": round(1e6 * read_s / b["windows"], 2)}
    result["identical_predictions"] = hashes["csv"] == hashes["parquet"]
    text = json.dumps(result, indent=2)
    print(text)
    for fmt, r in result["formats"].items():
        print(f"{fmt:8s} {r['windows_per_s_per_core']:>9,.0f} windows/s per core  "
              f"(rows read in {r['read_us_per_window']} us a window, {r['bytes'] / 1e6:.1f} MB)")
    print("identical predictions:", result["identical_predictions"])
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
