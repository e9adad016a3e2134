"""``python -m edgehar.runtime``: the device command line (argparse: the runtime stays
click-free). ``edgehar replay`` hands its arguments here unchanged."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .assets import PRETRAINED, SAMPLE_LOG
from .backends import Backend
from .errors import EdgeharError
from .logs import ACC_UNITS, DEFAULT_MAX_GAP_S, GYRO_UNITS
from .orientation import DEFAULT_ORIENTATION, MODES
from .replay import ReplayOptions, run_replay


class _OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line on stderr (the CLI contract), not argparse's usage block."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see --help)\n")


def build_parser(prog: str = "python -m edgehar.runtime") -> argparse.ArgumentParser:
    p = _OneLineParser(prog=prog,
                                description="edgehar runtime: replay sensor logs on a device.")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("replay", help="replay a recorded accelerometer+gyroscope log",
                       epilog="Many logs at once (a directory, globs): edgehar replay PATH ... "
                              "--out-dir DIR [--workers N] [--engine local|ray] "
                              "(docs: README, 'A whole fleet of logs').")
    r.add_argument("log", nargs="?", type=Path, help="HAPT acc_expXX_userYY.txt or a CSV log")
    r.add_argument("--acc", type=Path, help="accelerometer CSV (time column + x,y,z), with --gyro")
    r.add_argument("--gyro", type=Path, help="gyroscope CSV (time column + x,y,z), with --acc")
    r.add_argument("--sample", action="store_true", help="replay the sample log shipped inside")
    r.add_argument("--model", type=Path, default=PRETRAINED,
                   help="bundle dir, .tflite or .onnx (default: the shipped pretrained bundle)")
    r.add_argument("--labels", type=Path, help="HAPT labels.txt, to score the replay")
    r.add_argument("--out", type=Path, help="write predictions as JSON Lines")
    r.add_argument("--summary", type=Path, help="write the replay summary as JSON")
    r.add_argument("--backend", choices=[b.value for b in Backend])
    r.add_argument("--realtime", action="store_true", help="pace input at the sample rate")
    r.add_argument("--acc-units", default="g", choices=sorted(ACC_UNITS))
    r.add_argument("--gyro-units", default="rad/s", choices=sorted(GYRO_UNITS))
    r.add_argument("--max-gap", type=float, default=DEFAULT_MAX_GAP_S,
                   help="seconds without data that split the stream (shorter gaps are "
                        f"interpolated; default {DEFAULT_MAX_GAP_S:g})")
    r.add_argument("--orientation", choices=MODES, default=DEFAULT_ORIENTATION,
                   help="auto: estimate the phone's orientation from the stream and rotate it "
                        f"into the training frame (default {DEFAULT_ORIENTATION})")
    r.add_argument("--smooth", type=int, default=0, help="majority vote over the last K windows")
    r.add_argument("--chunk", type=int, default=64, help="samples per push (default: one hop)")
    r.add_argument("--threads", type=int, default=1)
    r.add_argument("--progress", action="store_true",
                   help="a progress line on stderr even when stdout is not a terminal")
    r.add_argument("--quiet", action="store_true", help="no timeline, summary line or progress")
    return p


def options_from_args(a: argparse.Namespace) -> ReplayOptions:
    pair = a.acc is not None or a.gyro is not None
    if pair and (a.acc is None or a.gyro is None):
        raise EdgeharError(None, "--acc and --gyro go together (one CSV each)")
    if [a.sample, a.log is not None, pair].count(True) != 1:
        raise EdgeharError(None, "give one of: a LOG file, --acc with --gyro, or --sample")
    if a.threads < 1 or a.smooth < 0 or a.chunk < 1:
        raise EdgeharError(None, "--threads and --chunk must be >= 1, --smooth >= 0")
    log = SAMPLE_LOG if a.sample else (a.acc if pair else a.log)
    return ReplayOptions(log=log, model=a.model, labels=a.labels, out=a.out, summary=a.summary,
                         backend=a.backend, realtime=a.realtime, acc_units=a.acc_units,
                         gyro_units=a.gyro_units, gyro=a.gyro if pair else None,
                         max_gap=a.max_gap, orientation=a.orientation, smooth=a.smooth,
                         chunk=a.chunk, threads=a.threads, quiet=a.quiet, progress=a.progress)


def main(argv: list[str] | None = None, prog: str = "python -m edgehar.runtime") -> int:
    args = build_parser(prog).parse_args(argv)
    try:
        run_replay(options_from_args(args))
    except EdgeharError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a bug, not bad input: still one line, and an exit code that says so
        msg = str(e).splitlines()[0][:160] if str(e) else ""
        print(f"error: internal error ({type(e).__name__}: {msg}); please report it with the "
              "command line", file=sys.stderr)
        return 70
    return 0
