"""CSV logs with a header: a time column, ax..gz, an optional label column; any rate."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..errors import EdgeharError
from ..spec import LABELS, STANDARD_GRAVITY
from .chunk import LogChunk
from .resample import Resampler
from .text import CHUNK_ROWS, chunks_of, parse_rows

ACC_UNITS = {"g": 1.0, "m/s2": 1.0 / STANDARD_GRAVITY}
TIME_COLUMNS = {"t": 1.0, "timestamp_ns": 1e-9}
SENSOR_COLUMNS = ("ax", "ay", "az", "gx", "gy", "gz")

_LABEL_IDS = {**{lab: i + 1 for i, lab in enumerate(LABELS)},
              **{s: -1 for s in ("", "-1", "NONE", "UNKNOWN")}}


def _label_ids(column: list[str], path: Path) -> np.ndarray:
    """Activity names (or ids 1..6, -1) -> float ids; they are interpolated with the samples."""
    ids = [_LABEL_IDS.get(s.strip()) for s in column]
    for i, v in enumerate(ids):
        if v is None:
            try:
                ids[i] = float(column[i])
            except ValueError:
                raise EdgeharError(path, f"unknown label {column[i].strip()!r}") from None
    return np.asarray(ids, np.float64)


def read_csv_log(path: Path, acc_units: str = "g", chunk_rows: int = CHUNK_ROWS
                 ) -> Iterator[LogChunk]:
    """CSV with a header: ``t`` (s) or ``timestamp_ns``, ax,ay,az, gx,gy,gz, optional ``label``.
    Any rate and jittered timestamps: resampled to 50 Hz."""
    path = Path(path)
    if acc_units not in ACC_UNITS:
        raise EdgeharError(path, f"unknown accelerometer units {acc_units!r} "
                                 f"(use one of: {', '.join(ACC_UNITS)})")
    if not path.is_file():
        raise EdgeharError(path, "file not found")
    with open(path, newline="") as f:
        header = [h.strip() for h in f.readline().strip().split(",")]
        time_col = next((c for c in TIME_COLUMNS if c in header), None)
        missing = [c for c in SENSOR_COLUMNS if c not in header]
        if time_col is None or missing:
            need = (["t or timestamp_ns"] if time_col is None else []) + missing
            raise EdgeharError(path, f"CSV header lacks column(s): {', '.join(need)} "
                                     f"(found: {','.join(header) or 'nothing'})")
        cols = [header.index(time_col)] + [header.index(c) for c in SENSOR_COLUMNS]
        label_col = header.index("label") if "label" in header else None
        resampler = Resampler(path)
        line, produced = 2, 0
        for lines in chunks_of(f, chunk_rows):
            if label_col == len(header) - 1:
                # label last: peel it off each line, parse the numbers in one go
                parts = [ln.rstrip("\r\n").rpartition(",") for ln in lines]
                labels = _label_ids([p[2] for p in parts], path)
                numeric = [p[0] + "\n" for p in parts]
                data = parse_rows(numeric, path, line, len(header) - 1, ",")[:, cols]
                data = np.concatenate([data, labels[:, None]], 1)
            elif label_col is not None:
                split = [ln.rstrip("\r\n").split(",") for ln in lines]
                if any(len(r) != len(header) for r in split):
                    i = next(i for i, r in enumerate(split) if len(r) != len(header))
                    raise EdgeharError(path, f"line {line + i}: expected {len(header)} columns, "
                                             f"found {len(split[i])}")
                labels = _label_ids([r[label_col] for r in split], path)
                lines = [",".join(r[c] for c in cols) for r in split]
                data = parse_rows(lines, path, line, 7, ",")
                data = np.concatenate([data, labels[:, None]], 1)
            else:
                data = parse_rows(lines, path, line, len(header), ",")[:, cols]
            t = data[:, 0] * TIME_COLUMNS[time_col]
            v = data[:, 1:]
            v[:, :3] *= ACC_UNITS[acc_units]
            out = resampler.push(t, v, line)
            line += len(lines)
            if len(out):
                produced += len(out)
                lab = None
                if label_col is not None:  # interpolated across a label change -> unknown
                    exact = np.abs(out[:, 6] - np.round(out[:, 6])) < 1e-6
                    lab = np.where(exact, np.round(out[:, 6]), -1).astype(np.int16)
                yield LogChunk(out[:, :6], lab)
        if line == 2:
            raise EdgeharError(path, "no data rows after the header")
