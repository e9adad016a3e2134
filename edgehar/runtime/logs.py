"""Sensor log readers, chunked so a 24-hour log is never held whole.

Both yield ``LogChunk``s of 50 Hz samples [ax ay az (g), gx gy gz (rad/s)] plus, where the log
carries them, per-sample activity labels (1..6, -1 unknown)."""

from __future__ import annotations

import itertools
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import EdgeharError
from .spec import LABELS, SAMPLE_RATE, STANDARD_GRAVITY

CHUNK_ROWS = 16384  # rows parsed per step: bounds memory on long logs
ACC_UNITS = {"g": 1.0, "m/s2": 1.0 / STANDARD_GRAVITY}
HAPT_NAME = re.compile(r"acc_exp(\d+)_user(\d+)\.txt$")
TIME_COLUMNS = {"t": 1.0, "timestamp_ns": 1e-9}
SENSOR_COLUMNS = ("ax", "ay", "az", "gx", "gy", "gz")


@dataclass
class LogChunk:
    samples: np.ndarray            # (n, 6) float64 at 50 Hz
    labels: np.ndarray | None      # (n,) int16 or None


def _fast_parse(lines: list[str], columns: int, delimiter: str | None) -> np.ndarray | None:
    """C-speed parse of well-formed numeric rows; None when anything is off, so the careful
    parser below finds and names the problem."""
    text = "".join(lines)
    if delimiter:
        text = text.replace("\r", "").replace("\n", delimiter)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy warns (and stops) at an unparsable token
        try:
            flat = np.fromstring(text, dtype=np.float64, sep=delimiter or " ")
        except (ValueError, DeprecationWarning):
            return None
    if flat.size != len(lines) * columns:
        return None
    data = flat.reshape(len(lines), columns)
    return data if np.isfinite(data).all() else None


def _parse_lines(lines: list[str], path: Path, first_line: int, columns: int,
                 delimiter: str | None) -> np.ndarray:
    fast = _fast_parse(lines, columns, delimiter)
    if fast is not None:
        return fast
    try:
        data = np.loadtxt(lines, dtype=np.float64, delimiter=delimiter, ndmin=2,
                          comments=None if delimiter else "#")
    except ValueError as e:
        msg = str(e).splitlines()[0]
        m = re.search(r"(?:row|line) (\d+)", msg)
        where = f"line {first_line + int(m.group(1)) - 1}" if m else f"lines from {first_line}"
        raise EdgeharError(path, f"malformed data near {where} ({msg})") from None
    if data.shape[1] != columns:
        raise EdgeharError(path, f"expected {columns} columns, found {data.shape[1]} "
                                 f"(line {first_line})")
    bad = ~np.isfinite(data).all(axis=1)
    if bad.any():
        raise EdgeharError(path, f"NaN or infinite value at line {first_line + int(np.argmax(bad))}")
    return data


def _chunks_of(f, n: int) -> Iterator[list[str]]:
    while True:
        lines = list(itertools.islice(f, n))
        if not lines:
            return
        yield lines


def hapt_experiment(acc_path: Path) -> int:
    m = HAPT_NAME.search(Path(acc_path).name)
    if not m:
        raise EdgeharError(acc_path, "expected a HAPT file named acc_expXX_userYY.txt")
    return int(m.group(1))


def read_hapt_log(acc_path: Path, labels: np.ndarray | None = None,
                  chunk_rows: int = CHUNK_ROWS) -> Iterator[LogChunk]:
    """HAPT raw pair: acc_expXX_userYY.txt (g) + gyro_expXX_userYY.txt (rad/s), 50 Hz."""
    acc_path = Path(acc_path)
    hapt_experiment(acc_path)
    gyro_path = acc_path.with_name(acc_path.name.replace("acc_", "gyro_", 1))
    for p in (acc_path, gyro_path):
        if not p.is_file():
            what = "gyroscope file missing (expected beside the acc file)" if p is gyro_path \
                else "file not found"
            raise EdgeharError(p, what)
    done = 0
    with open(acc_path) as fa, open(gyro_path) as fg:
        for la, lg in itertools.zip_longest(_chunks_of(fa, chunk_rows), _chunks_of(fg, chunk_rows)):
            # Parse before comparing lengths, so a malformed file is named for what it is.
            acc = _parse_lines(la, acc_path, done + 1, 3, None) if la else None
            gyro = _parse_lines(lg, gyro_path, done + 1, 3, None) if lg else None
            if acc is None or gyro is None or len(acc) != len(gyro):
                raise EdgeharError(gyro_path, "acc and gyro files differ in length")
            lab = None if labels is None else labels[done:done + len(acc)]
            done += len(acc)
            yield LogChunk(np.concatenate([acc, gyro], 1), lab)
    if done == 0:
        raise EdgeharError(acc_path, "file is empty")


def read_label_segments(labels_path: Path) -> np.ndarray:
    """HAPT labels.txt rows: experiment, user, activity, first sample, last sample (inclusive)."""
    labels_path = Path(labels_path)
    if not labels_path.is_file():
        raise EdgeharError(labels_path, "labels file not found")
    with open(labels_path) as f:
        rows = _parse_lines(f.readlines(), labels_path, 1, 5, None)
    if (rows != np.round(rows)).any():
        raise EdgeharError(labels_path, "labels must be integers")
    rows = rows.astype(np.int64)
    if (rows[:, 3] > rows[:, 4]).any() or (rows[:, 3] < 0).any():
        raise EdgeharError(labels_path, "a segment ends before it starts")
    return rows


def labels_for(segments: np.ndarray, experiment: int, n: int) -> np.ndarray:
    """Per-sample labels (-1 outside any segment) of one experiment's n samples."""
    out = np.full(n, -1, np.int16)
    for _e, _u, act, first, last in segments[segments[:, 0] == experiment]:
        out[first:last + 1] = act
    return out


def read_hapt_labels(labels_path: Path, experiment: int) -> np.ndarray:
    """Per-sample labels of one experiment, up to its last labelled sample."""
    rows = read_label_segments(labels_path)
    mine = rows[rows[:, 0] == experiment]
    if not len(mine):
        raise EdgeharError(labels_path, f"no segments for experiment {experiment}")
    return labels_for(mine, experiment, int(mine[:, 4].max()) + 1)


class Resampler:
    """Streaming linear interpolation onto a 50 Hz grid starting at the first timestamp."""

    def __init__(self, path: Path, rate: int = SAMPLE_RATE):
        self.path, self.step = path, 1.0 / rate
        self._t_last: float | None = None
        self._v_last: np.ndarray | None = None
        self._k = 0
        self._t0 = 0.0

    def push(self, t: np.ndarray, v: np.ndarray, first_line: int) -> np.ndarray:
        if self._t_last is not None:
            t = np.concatenate([[self._t_last], t])
            v = np.concatenate([self._v_last[None], v])
            first_line -= 1
        else:
            self._t0 = float(t[0])
        d = np.diff(t)
        if (d <= 0).any():
            i = int(np.argmax(d <= 0))
            kind = "duplicate" if d[i] == 0 else "non-monotonic"
            raise EdgeharError(self.path, f"{kind} timestamp at line {first_line + i + 1}")
        k_end = int(np.floor((t[-1] - self._t0) / self.step + 1e-9)) + 1
        grid = self._t0 + self.step * np.arange(self._k, k_end)
        self._k = max(self._k, k_end)
        self._t_last, self._v_last = float(t[-1]), v[-1].copy()
        return np.stack([np.interp(grid, t, v[:, j]) for j in range(v.shape[1])], 1)


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
        for lines in _chunks_of(f, chunk_rows):
            if label_col == len(header) - 1:
                # label last: peel it off each line, parse the numbers in one go
                parts = [ln.rstrip("\r\n").rpartition(",") for ln in lines]
                labels = _label_ids([p[2] for p in parts], path)
                numeric = [p[0] + "\n" for p in parts]
                data = _parse_lines(numeric, path, line, len(header) - 1, ",")[:, cols]
                data = np.concatenate([data, labels[:, None]], 1)
            elif label_col is not None:
                split = [ln.rstrip("\r\n").split(",") for ln in lines]
                if any(len(r) != len(header) for r in split):
                    i = next(i for i, r in enumerate(split) if len(r) != len(header))
                    raise EdgeharError(path, f"line {line + i}: expected {len(header)} columns, "
                                             f"found {len(split[i])}")
                labels = _label_ids([r[label_col] for r in split], path)
                lines = [",".join(r[c] for c in cols) for r in split]
                data = _parse_lines(lines, path, line, 7, ",")
                data = np.concatenate([data, labels[:, None]], 1)
            else:
                data = _parse_lines(lines, path, line, len(header), ",")[:, cols]
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


def open_log(path: Path, acc_units: str = "g", labels_path: Path | None = None
             ) -> Iterator[LogChunk]:
    """Pick the reader by file name: HAPT acc_expXX_userYY.txt, else CSV."""
    path = Path(path)
    if not path.exists():
        raise EdgeharError(path, "log file not found")
    if HAPT_NAME.search(path.name):
        labels = None
        if labels_path is not None:
            labels = read_hapt_labels(labels_path, hapt_experiment(path))
        return _pad_labels(read_hapt_log(path, labels))
    if labels_path is not None:
        raise EdgeharError(labels_path, "--labels applies to HAPT logs; a CSV log carries a "
                                        "'label' column instead")
    return read_csv_log(path, acc_units)


def _pad_labels(chunks: Iterator[LogChunk]) -> Iterator[LogChunk]:
    """labels.txt ends at the last labelled sample; pad the rest of the stream with -1."""
    for c in chunks:
        if c.labels is not None and len(c.labels) < len(c.samples):
            c.labels = np.concatenate([c.labels, np.full(len(c.samples) - len(c.labels), -1,
                                                         np.int16)])
        yield c
