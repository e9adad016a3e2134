"""Ray fleet replay beside busy processes: Ray's default worker priority (nice 15) against the
nice 0 that ``--engine ray`` now sets, and the local pool, on the same logs.

    python bench/ray_priority.py --logs 50 --json docs/results/ray_priority.json

Needs the logs of ``bench/fleet.py`` (runs/fleet_bench/synthetic). Two busy-looping processes
(nice 0) stand for a training on this 2-core host.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import time
from pathlib import Path

from edgehar.fleet import run as fleet


def burn(stop) -> None:
    while not stop.is_set():
        sum(i * i for i in range(10_000))


def replay(logs: list[str], out: Path, engine: str, niceness: int | None) -> dict:
    base = fleet.ray_init_options
    if niceness is not None:   # the same options, with Ray's own worker priority put back
        fleet.ray_init_options = lambda o: base(o) | {"_system_config": {"worker_niceness": niceness}}
    try:
        t = time.perf_counter()
        f = fleet.run_fleet(fleet.FleetOptions(paths=logs, out_dir=out, workers=2, engine=engine))
        wall = time.perf_counter() - t
    finally:
        fleet.ray_init_options = base
    tot = f["totals"]
    return {"wall_s": round(wall, 2), "windows": tot["windows"], "startup_s": tot["startup_s"],
            "stop_s": tot["stop_s"],
            "replaying_s": round(tot["wall_s"] - tot["startup_s"] - tot["stop_s"], 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", type=Path, default=Path("runs/fleet_bench/synthetic"))
    ap.add_argument("--out", type=Path, default=Path("runs/ray_priority"))
    ap.add_argument("--logs", type=int, default=50)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    logs = [str(p) for p in sorted(args.dir.glob("*.csv"))[:args.logs]]
    stop = multiprocessing.Event()
    burners = [multiprocessing.Process(target=burn, args=(stop,)) for _ in range(2)]
    for b in burners:
        b.start()
    try:
        res = {"logs": len(logs), "busy_processes": len(burners),
               "local": replay(logs, args.out / "local", "local", None),
               "ray_nice_0": replay(logs, args.out / "ray0", "ray", None),
               "ray_nice_15 (Ray's default)": replay(logs, args.out / "ray15", "ray", 15)}
    finally:
        stop.set()
        for b in burners:
            b.join()
    print(json.dumps(res, indent=1))
    if args.json:
        args.json.write_text(json.dumps(res, indent=1) + "\n")


if __name__ == "__main__":
    main()
