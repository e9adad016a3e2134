"""``edgehar replay PATH [PATH ...] --out-dir DIR``: the many-logs form of replay."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..runtime.backends import Backend
from ..runtime.errors import EdgeharError
from ..runtime.logs import ACC_UNITS, DEFAULT_MAX_GAP_S, GYRO_UNITS
from ..runtime.orientation import DEFAULT_ORIENTATION, MODES
from .run import ENGINES, FLEET_JSON, FleetOptions, run_fleet

EXIT_SOME_FAILED, EXIT_NOTHING_RAN = 3, 2


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message: str):
        self.exit(EXIT_NOTHING_RAN, f"error: {message} (see --help)\n")


def build_parser(prog: str = "edgehar replay") -> argparse.ArgumentParser:
    p = _OneLineParser(prog=prog, description="Replay many sensor logs (a fleet) through one "
                                              "bundle: one JSON Lines file per log, fleet.json.")
    p.add_argument("paths", nargs="+", help="logs, directories (searched for HAPT "
                                            "acc_exp*_user*.txt and *.csv) or globs")
    p.add_argument("--out-dir", type=Path, required=True)
    p.add_argument("--model", type=Path, help="bundle dir (default: the shipped bundle)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="parallel workers (default: the cores)")
    p.add_argument("--engine", choices=ENGINES, default="local",
                   help="local process pool, or Ray (pip install 'edgehar[fleet]')")
    p.add_argument("--ray-address", help="an existing Ray cluster (default: a local Ray)")
    p.add_argument("--labels", type=Path, help="HAPT labels.txt (default: labels.txt beside "
                                               "each HAPT log, if there)")
    p.add_argument("--backend", choices=[b.value for b in Backend])
    p.add_argument("--acc-units", default="g", choices=sorted(ACC_UNITS))
    p.add_argument("--gyro-units", default="rad/s", choices=sorted(GYRO_UNITS))
    p.add_argument("--max-gap", type=float, default=DEFAULT_MAX_GAP_S)
    p.add_argument("--orientation", choices=MODES, default=DEFAULT_ORIENTATION)
    p.add_argument("--quiet", action="store_true", help="no summary line")
    return p


def main(argv: list[str], prog: str = "edgehar replay") -> int:
    a = build_parser(prog).parse_args(argv)
    opts = FleetOptions(paths=a.paths, out_dir=a.out_dir, model=a.model, workers=a.workers,
                        engine=a.engine, ray_address=a.ray_address, labels=a.labels,
                        backend=a.backend, acc_units=a.acc_units, gyro_units=a.gyro_units,
                        max_gap=a.max_gap, orientation=a.orientation)
    try:
        fleet = run_fleet(opts)
    except EdgeharError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_NOTHING_RAN
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a bug or the system (disk full): still one line
        msg = str(e).splitlines()[0][:160] if str(e) else ""
        print(f"error: internal error ({type(e).__name__}: {msg}); please report it with the "
              "command line", file=sys.stderr)
        return EXIT_NOTHING_RAN
    tot = fleet["totals"]
    for e in fleet["logs"]:
        if "failed" in e:
            print(f"failed: {e['failed']}", file=sys.stderr)
    if not a.quiet:
        print(f"{tot['logs'] - tot['failed']} of {tot['logs']} logs replayed, {tot['windows']:,} "
              f"windows in {tot['wall_s']:.1f} s ({tot['windows_per_s'] or 0:,.0f} windows/s, "
              f"{a.engine}, {a.workers} workers) -> {a.out_dir / FLEET_JSON}")
    if tot["failed"] == tot["logs"]:
        return EXIT_NOTHING_RAN   # not one log replayed (fleet.json says why, log by log)
    return EXIT_SOME_FAILED if tot["failed"] else 0
