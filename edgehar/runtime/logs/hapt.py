"""HAPT raw recordings: acc_expXX_userYY.txt (g) + gyro_expXX_userYY.txt (rad/s) at 50 Hz,
and labels.txt (experiment, user, activity, first sample, last sample inclusive)."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..errors import EdgeharError
from .chunk import LogChunk
from .text import CHUNK_ROWS, chunks_of, open_text, parse_rows

MAX_SAMPLE_INDEX = 10**8
HAPT_NAME = re.compile(r"acc_exp(\d+)_user(\d+)\.txt$")


def hapt_experiment(acc_path: Path) -> int:
    m = HAPT_NAME.search(Path(acc_path).name)
    if not m:
        raise EdgeharError(acc_path, "expected a HAPT file named acc_expXX_userYY.txt")
    return int(m.group(1))


def read_hapt_log(acc_path: Path, labels: np.ndarray | None = None,
                  chunk_rows: int = CHUNK_ROWS, counter=None) -> Iterator[LogChunk]:
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
    with open_text(acc_path) as fa, open_text(gyro_path) as fg:
        for la, lg in itertools.zip_longest(chunks_of(fa, chunk_rows, acc_path, counter=counter),
                                            chunks_of(fg, chunk_rows, gyro_path)):
            # Parse before comparing lengths, so a malformed file is named for what it is.
            acc = parse_rows(la, acc_path, done + 1, 3, None) if la else None
            gyro = parse_rows(lg, gyro_path, done + 1, 3, None) if lg else None
            if acc is None or gyro is None or len(acc) != len(gyro):
                raise EdgeharError(gyro_path, "acc and gyro files differ in length")
            lab = None if labels is None else labels[done:done + len(acc)]
            yield LogChunk(np.concatenate([acc, gyro], 1), lab, done, done == 0)
            done += len(acc)
    if done == 0:
        raise EdgeharError(acc_path, "file is empty")


def read_label_segments(labels_path: Path) -> np.ndarray:
    """HAPT labels.txt rows: experiment, user, activity, first sample, last sample (inclusive)."""
    labels_path = Path(labels_path)
    if not labels_path.is_file():
        raise EdgeharError(labels_path, "labels file not found")
    with open_text(labels_path) as f:
        lines = [ln for chunk in chunks_of(f, CHUNK_ROWS, labels_path) for ln in chunk]
    if not lines:
        raise EdgeharError(labels_path, "labels file is empty")
    rows = parse_rows(lines, labels_path, 1, 5, None)
    if (rows != np.round(rows)).any():
        raise EdgeharError(labels_path, "labels must be integers")
    if np.abs(rows).max() > MAX_SAMPLE_INDEX:
        raise EdgeharError(labels_path, f"implausible value {int(np.abs(rows).max())} (sample "
                                        f"indices stop at {MAX_SAMPLE_INDEX:,}, 23 days at 50 Hz)")
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
