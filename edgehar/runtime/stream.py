"""A live pipe: CSV lines on stdin (header first, as a sensor driver writes them) -> one JSON
line per window on stdout, written and flushed as soon as the window completes.

The same objects ``replay --out`` writes, byte for byte ``replay --orientation running`` on the
same log: the rows go through the same reader (``CsvRows`` on ``LiveLines``), the same 50 Hz
grid and the same pushes (``predict_log`` ends them on multiples of the hop whatever the lines
that arrived). A stream has no future, so its orientation is the running estimate; units left
``auto`` are decided on the first 30 s and then held (those 30 s come out at once then).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from .assets import PRETRAINED
from .engine import StreamEngine
from .errors import EdgeharError
from .logs import DataQuality, LabelVocabulary, LogSource, Units, check_options, parse_mapping
from .logs.apps import TOTAL_ACCELERATION
from .logs.csvlog import CsvRows, read_csv_log
from .logs.text import LiveLines
from .logs.units import checked
from .model import Backend, load_model
from .options import LogOptions
from .replay import STREAM_BACKEND, ReplayOptions, predict_log, stream_engine
from .sinks import JsonlSink, units_said

STDIN = Path("<stdin>")


@dataclass(kw_only=True)
class StreamOptions(LogOptions):
    """The shared ``LogOptions`` (``labels`` does not apply: a CSV carries a label column)."""

    quiet: bool = False


def stream_source(raw, opts: LogOptions, labels: tuple[str, ...]) -> LogSource:
    """A byte stream of CSV lines (single-file formats) as a log source."""
    check_options(opts.acc_units, opts.gyro_units, opts.max_gap, STDIN, STDIN, "text",
                  opts.columns)
    if opts.labels is not None:
        raise EdgeharError(opts.labels, "--labels applies to HAPT logs; a piped CSV carries a "
                                        "'label' column instead")
    rows = CsvRows(STDIN, "both", vocab=LabelVocabulary(labels),
                   mapping=parse_mapping(opts.columns), live=LiveLines(raw, STDIN))
    c = rows.columns
    units = Units.resolve(opts.acc_units, opts.gyro_units, c.acc_units, c.gyro_units,
                          TOTAL_ACCELERATION.get(c.app or ""))
    quality = DataQuality()
    chunks = read_csv_log(rows, units.scale(), opts.max_gap, quality)
    return LogSource(checked(chunks, quality, units, STDIN), quality, app=c.app)


def run_stream(opts: StreamOptions, stdin=None, stdout: IO[str] | None = None,
               stderr: IO[str] | None = None) -> int:
    """Stream stdin through the model; return the windows written."""
    stdin = stdin if stdin is not None else sys.stdin.buffer
    stdout = stdout if stdout is not None else sys.stdout
    stderr = stderr if stderr is not None else sys.stderr
    stream = opts.backend == STREAM_BACKEND
    model = load_model(opts.model or PRETRAINED,
                       Backend(opts.backend) if opts.backend and not stream else None)
    # a stream has no future: "auto" is the running estimate (StreamEngine's own default)
    mode = "fixed" if opts.orientation == "fixed" else "running"
    engine = (stream_engine(ReplayOptions(log=STDIN, model=opts.model, orientation=mode), model)
              if stream else StreamEngine(model, mode))
    source = stream_source(stdin, opts, model.labels)
    sink = JsonlSink(stdout, model.spec)
    windows = 0
    for batch in predict_log(engine, source, model.spec.hop):
        if len(batch):
            sink(batch)
            stdout.flush()
            windows += len(batch)
    if windows == 0:
        raise EdgeharError(STDIN, f"ended before one window ({engine.samples_processed} samples "
                                  f"at {model.spec.sample_rate} Hz, need {model.spec.window})")
    if not opts.quiet:
        units = units_said(source.quality.units_check)
        print(f"{windows} windows from stdin; {units}; orientation {mode}", file=stderr)
    return windows
