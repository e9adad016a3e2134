"""``python -m edgehar.runtime``: the device command line (argparse: the runtime stays
click-free). ``edgehar replay`` builds the same parser with the fleet's options added
(``build_parser(extra=...)``), so every replay option is declared here, once."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from .assets import SAMPLE_LOG
from .entry import OneLineParser, UsageError, run_main
from .errors import EdgeharError
from .options import add_log_options, log_options
from .replay import ReplayOptions, run_replay

PROG = "python -m edgehar.runtime"
# one-log options a fleet does not take, with their defaults (to tell a user who gives one)
ONE_LOG_ONLY = {"acc": None, "gyro": None, "sample": False, "out": None, "summary": None,
                "realtime": False, "smooth": 0, "chunk": 64, "threads": 1, "progress": False}


def build_parser(prog: str = PROG, extra: Callable[[argparse.ArgumentParser], None] | None = None
                 ) -> argparse.ArgumentParser:
    """The runtime's parser; ``extra`` adds more options to ``replay`` (the fleet's, in
    ``edgehar replay``). Without it, ``--out-dir`` is refused with a pointer to the command
    that takes it."""
    p = OneLineParser(prog=prog, description="edgehar runtime: replay sensor logs on a device.")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("replay", help="replay a recorded accelerometer+gyroscope log",
                       epilog="Many logs at once (a directory, globs): edgehar replay PATH ... "
                              "--out-dir DIR [--workers N] [--engine local|ray] "
                              "(docs: README, 'A whole fleet of logs').")
    r.add_argument("paths", nargs="*", metavar="LOG",
                   help="HAPT acc_expXX_userYY.txt or a CSV log" + (
                       " (many, directories or globs with --out-dir)" if extra else ""))
    one = r.add_argument_group("one log")
    one.add_argument("--acc", type=Path,
                     help="accelerometer CSV (time column + x,y,z), with --gyro")
    one.add_argument("--gyro", type=Path, help="gyroscope CSV (time column + x,y,z), with --acc")
    one.add_argument("--sample", action="store_true",
                     help="replay the sample log shipped inside")
    one.add_argument("--out", type=Path, help="write predictions as JSON Lines")
    one.add_argument("--summary", type=Path, help="write the replay summary as JSON")
    one.add_argument("--realtime", action="store_true", help="pace input at the sample rate")
    one.add_argument("--smooth", type=int, default=0,
                     help="majority vote over the last K windows (0: off)")
    one.add_argument("--chunk", type=int, default=64, help="samples per push (one hop)")
    one.add_argument("--threads", type=int, default=1, help="inference threads")
    one.add_argument("--progress", action="store_true",
                     help="a progress line on stderr even when stdout is not a terminal")
    r.add_argument("--quiet", action="store_true", help="no timeline, summary line or progress")
    add_log_options(r)
    if extra is not None:
        extra(r)
    else:
        r.add_argument("--out-dir", type=Path, help=argparse.SUPPRESS)
    st = sub.add_parser("stream", help="a live pipe: CSV lines on stdin -> one JSON line per "
                                       "window on stdout, as each window completes",
                        epilog="e.g. my_imu_driver | python -m edgehar.runtime stream - "
                               "(header first; the single-file CSV formats replay reads)")
    st.add_argument("source", metavar="-", choices=["-"], help="read from stdin")
    st.add_argument("--quiet", action="store_true", help="no closing line on stderr")
    add_log_options(st)
    return p


def options_from_args(a: argparse.Namespace) -> ReplayOptions:
    pair = a.acc is not None or a.gyro is not None
    if pair and (a.acc is None or a.gyro is None):
        raise EdgeharError(None, "--acc and --gyro go together (one CSV each)")
    if len(a.paths) > 1:
        raise UsageError("one LOG at a time here; many logs: edgehar replay PATH ... "
                         "--out-dir DIR")
    log = a.paths[0] if a.paths else None
    if [a.sample, log is not None, pair].count(True) != 1:
        raise EdgeharError(None, "give one of: a LOG file, --acc with --gyro, or --sample")
    if a.threads < 1 or a.smooth < 0 or a.chunk < 1:
        raise EdgeharError(None, "--threads and --chunk must be >= 1, --smooth >= 0")
    log = SAMPLE_LOG if a.sample else (a.acc if pair else Path(log))
    return ReplayOptions(log=log, out=a.out, summary=a.summary, realtime=a.realtime,
                         gyro=a.gyro if pair else None, smooth=a.smooth, chunk=a.chunk,
                         threads=a.threads, quiet=a.quiet, progress=a.progress,
                         **log_options(a))


def replay(a: argparse.Namespace) -> int:
    """One-log replay from parsed arguments; errors propagate (to ``run_main``)."""
    if a.out_dir is not None:
        raise UsageError("--out-dir replays many logs: that is `edgehar replay PATH ... "
                         "--out-dir DIR` (the full install)")
    run_replay(options_from_args(a))
    return 0


def stream(a: argparse.Namespace) -> int:
    """The live pipe from parsed arguments."""
    import os
    import sys

    from .stream import StreamOptions, run_stream

    try:
        run_stream(StreamOptions(quiet=a.quiet, **log_options(a)))
    except BrokenPipeError:   # the reader went away (`| head`): nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def main(argv: list[str] | None = None, prog: str = PROG) -> int:
    def command() -> int:
        a = build_parser(prog).parse_args(argv)
        return stream(a) if a.command == "stream" else replay(a)

    return run_main(command)
