"""What every way of replaying logs shares (one log, a fleet, and the coming live ``stream``):
the model, how to read a log, and where its labels are. Declared once, as one record and one
function that adds its options to an argparse parser (the runtime stays click-free)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, fields
from pathlib import Path

from .backends import Backend
from .logs import ACC_UNITS, DEFAULT_MAX_GAP_S, GYRO_UNITS, READERS
from .orientation import DEFAULT_ORIENTATION, MODES


@dataclass(kw_only=True)
class LogOptions:
    """Extended, not copied: ``ReplayOptions`` and ``FleetOptions`` add their own fields to it
    (keyword-only, so a record is always built by name)."""

    model: Path | None = None        # bundle dir, .tflite or .onnx; None: the shipped bundle
    labels: Path | None = None       # HAPT labels.txt, to score the replay
    backend: str | None = None       # None: the bundle's own choice
    acc_units: str = "auto"          # "auto": as the CSV header states, else from the data
    gyro_units: str = "auto"
    columns: str | None = None       # --columns t=NAME,ax=NAME,... (formats.parse_mapping)
    max_gap: float = DEFAULT_MAX_GAP_S
    orientation: str = DEFAULT_ORIENTATION
    reader: str = "auto"             # CSV rows: "auto", "arrow" or "text" (logs.READERS)

    def log_options(self) -> LogOptions:
        """Just the shared fields (of a ReplayOptions or FleetOptions)."""
        return LogOptions(**{f.name: getattr(self, f.name) for f in fields(LogOptions)})


def add_log_options(p: argparse.ArgumentParser) -> None:
    """The options of ``LogOptions`` on a parser; ``log_options(args)`` reads them back."""
    g = p.add_argument_group("model and log")
    g.add_argument("--model", type=Path,
                   help="bundle dir, .tflite or .onnx (default: the shipped pretrained bundle)")
    g.add_argument("--labels", type=Path,
                   help="HAPT labels.txt, to score a HAPT log (a fleet also finds the labels.txt "
                        "beside each HAPT log; a CSV log carries a label column)")
    g.add_argument("--backend", choices=[b.value for b in Backend] + ["stream"],
                   help="inference library (default: the bundle's own); stream: the whole pipe "
                        "in the bundle's model_stream.tflite, raw samples in (one log)")
    g.add_argument("--acc-units", default="auto", choices=list(ACC_UNITS),
                   help="accelerometer units of a CSV log (auto: as its header states, else "
                        "decided from its first 30 s)")
    g.add_argument("--gyro-units", default="auto", choices=list(GYRO_UNITS),
                   help="gyroscope units of a CSV log (auto: as its header states, else "
                        "decided from its first 30 s)")
    g.add_argument("--columns", metavar="t=NAME,ax=NAME,...",
                   help="which CSV columns are time and the sensor axes, for headers edgehar "
                        "does not know (keys t, t_ms, t_ns, ax..gz, x,y,z for one sensor per "
                        "file, label; columns left out are found by their usual names)")
    g.add_argument("--max-gap", type=float, default=DEFAULT_MAX_GAP_S,
                   help="seconds without data that split the stream (shorter gaps are "
                        "interpolated)")
    g.add_argument("--orientation", choices=MODES, default=DEFAULT_ORIENTATION,
                   help="auto: rotate the log from the phone's frame into the training frame by "
                        "one estimate from all of its walking (the log is read twice); running: "
                        "the estimate so far, as a live stream has it (windows before ~10 s of "
                        "walking stay as recorded); fixed: as recorded")
    g.add_argument("--reader", choices=READERS, default="auto",
                   help="CSV parser: pyarrow's (arrow, when installed), the careful text parser "
                        "(text), or pyarrow for large files only (auto)")


def log_options(a: argparse.Namespace) -> dict:
    """The parsed ``add_log_options`` values, as keywords of a LogOptions (or a record that
    extends it)."""
    return {f.name: getattr(a, f.name) for f in fields(LogOptions)}
