"""Numeric text rows at C speed, with a careful fallback that names the bad line."""

from __future__ import annotations

import itertools
import re
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..errors import EdgeharError, one_line

CHUNK_ROWS = 16384  # rows parsed per step: bounds memory on long logs


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


def parse_rows(lines: list[str], path: Path, first_line: int, columns: int,
                 delimiter: str | None) -> np.ndarray:
    fast = _fast_parse(lines, columns, delimiter)
    if fast is not None:
        return fast
    try:
        data = np.loadtxt(lines, dtype=np.float64, delimiter=delimiter, ndmin=2,
                          comments=None if delimiter else "#")
    except ValueError as e:
        msg = one_line(e)
        m = re.search(r"(?:row|line) (\d+)", msg)
        # numpy counts rows from 0 in conversion errors, from 1 in column-count errors
        base = 0 if msg.startswith("could not convert") else 1
        bad = first_line + int(m.group(1)) - base if m else None
        where = f"line {bad}" if m else f"lines from {first_line}"
        raise EdgeharError(path, f"malformed data near {where} ({msg})", bad) from None
    if data.shape[1] != columns:
        raise EdgeharError(path, f"expected {columns} columns, found {data.shape[1]} "
                                 f"(line {first_line})")
    bad = ~np.isfinite(data).all(axis=1)
    if bad.any():
        at = first_line + int(np.argmax(bad))
        raise EdgeharError(path, f"NaN or infinite value at line {at}", at)
    return data


def open_text(path: Path):
    """A log opened as UTF-8 text; undecodable bytes surface in ``chunks_of`` as one error."""
    return open(path, encoding="utf-8", newline="")


def chunks_of(f, n: int, path: Path | None = None, first_line: int = 1,
              counter=None) -> Iterator[list[str]]:
    """Lists of up to ``n`` lines; bytes that are not text end in an EdgeharError.
    ``counter`` (a ReadCounter) accumulates the characters read, for progress."""
    line = first_line
    while True:
        try:
            lines = list(itertools.islice(f, n))
        except UnicodeDecodeError:
            raise EdgeharError(path, f"not a text log (bytes that are not UTF-8 text after "
                                     f"line {line - 1})") from None
        if not lines:
            return
        line += len(lines)
        if counter is not None:
            counter.done += sum(map(len, lines))
        yield lines
