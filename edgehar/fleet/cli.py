"""``edgehar replay``: the runtime's replay command line with the fleet's options added; with
``--out-dir`` it replays many logs (``edgehar replay PATH [PATH ...] --out-dir DIR``), without
it one log, as ``python -m edgehar.runtime replay``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..runtime import cli as runtime_cli
from ..runtime.entry import UsageError
from ..runtime.errors import EXIT_BAD_INPUT, EXIT_OK, EXIT_PARTIAL
from ..runtime.options import log_options
from .run import ENGINES, FLEET_JSON, FleetOptions, run_fleet


def add_fleet_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("many logs (a fleet)")
    g.add_argument("--out-dir", type=Path, help="replay every LOG (logs, directories searched "
                                                "for HAPT acc_exp*_user*.txt, *.csv and "
                                                "*.parquet, or globs): one JSON Lines file each, fleet.json")
    g.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="parallel workers (default: the cores)")
    g.add_argument("--engine", choices=ENGINES, default="local",
                   help="local process pool, or Ray (pip install 'edgehar[fleet]')")
    g.add_argument("--ray-address", help="an existing Ray cluster (default: a local Ray)")
    g.add_argument("--baseline", type=Path, metavar="BUNDLE",
                   help="also replay every log through this bundle (the one in service): "
                        "its predictions in DIR/baseline/, top-1 agreement and both bundles' "
                        "scores in fleet.json")
    g.add_argument("--resume", action="store_true",
                   help="skip logs whose outputs in DIR are complete for the same bundle and "
                        "log options (a record per log in DIR/.done/; engine and workers do "
                        "not count)")


def replay(argv: list[str], prog: str = "edgehar") -> int:
    """Parse ``edgehar replay``'s arguments and run one log or a fleet; errors propagate to the
    caller's ``run_main``."""
    a = runtime_cli.build_parser(prog, extra=add_fleet_options).parse_args(["replay", *argv])
    if a.out_dir is None:
        if a.baseline is not None:
            raise UsageError("--baseline compares two bundles over a fleet: add --out-dir DIR")
        if a.resume:
            raise UsageError("--resume continues a fleet replay: add --out-dir DIR")
        return runtime_cli.replay(a)
    given = [k for k, default in runtime_cli.ONE_LOG_ONLY.items() if getattr(a, k) != default]
    if given:
        raise UsageError(f"--{given[0]} applies to one log, not with --out-dir")
    if not a.paths:
        raise UsageError("--out-dir needs the logs to replay: PATH [PATH ...]")
    return run(FleetOptions(paths=a.paths, out_dir=a.out_dir, workers=a.workers, engine=a.engine,
                            ray_address=a.ray_address, baseline=a.baseline, resume=a.resume,
                            **log_options(a)),
               a.quiet)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f} %"


def compared_lines(tot: dict) -> str:
    """The terminal's comparison: agreement, each bundle's scores, the least agreeing logs."""
    b = tot["baseline"]
    lines = [f"top-1 agreement with --baseline {b['bundle']}: {_pct(b['agreement'])} of "
             f"{b['windows']:,} windows over {b['logs']} logs"]
    if "accuracy" in tot or "accuracy" in b:
        lines.append(f"  accuracy  model {_pct(tot.get('accuracy'))}  baseline "
                     f"{_pct(b.get('accuracy'))}   macro-F1  model {_pct(tot.get('macro_f1'))}  "
                     f"baseline {_pct(b.get('macro_f1'))}")
    least = [e for e in b["least_agreement"] if e["agreement"] < 1]
    if least:
        lines.append("  least agreement: " + ", ".join(
            f"{Path(e['log']).name} {_pct(e['agreement'])}" for e in least))
    return "\n".join(lines)


def run(opts: FleetOptions, quiet: bool = False) -> int:
    """Replay the fleet; failed logs one line each on stderr; the exit code (0 all replayed,
    3 some failed, 2 none)."""
    fleet = run_fleet(opts)
    tot = fleet["totals"]
    for e in fleet["logs"]:
        if "failed" in e:
            print(f"failed: {e['failed']}", file=sys.stderr)
    if not quiet:
        if fleet.get("resumed"):
            print(f"{fleet['resumed']} logs already complete in {opts.out_dir} (--resume)")
        print(f"{tot['logs'] - tot['failed']} of {tot['logs']} logs replayed, {tot['windows']:,} "
              f"windows in {tot['wall_s']:.1f} s ({tot['windows_per_s'] or 0:,.0f} windows/s, "
              f"{opts.engine}, {opts.workers} workers) -> {opts.out_dir / FLEET_JSON}")
        if "baseline" in tot:
            print(compared_lines(tot))
    if tot["failed"] == tot["logs"]:
        return EXIT_BAD_INPUT   # not one log replayed (fleet.json says why, log by log)
    return EXIT_PARTIAL if tot["failed"] else EXIT_OK
