"""Numeric text rows at C speed, with a careful fallback that names the bad line."""

from __future__ import annotations

import io
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


class LiveLines:
    """The lines of a byte stream (a pipe from a sensor driver) as they arrive: each batch is
    every whole line available when it is read, so a reader never waits for more lines than
    were written. Used like a file (``with``, ``close``) by ``CsvRows``."""

    def __init__(self, raw, path: Path, block: int = 1 << 16):
        self.raw, self.path, self.block = raw, path, block
        self._rest = b""
        self._pending: list[str] = []
        self._line = 1

    def __enter__(self) -> LiveLines:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        pass   # the stream belongs to the caller

    def header(self) -> str:
        """The first line (waits for it); the lines after it come with the first batch."""
        for lines in self._read():
            self._pending = lines[1:]
            return lines[0]
        return ""

    def batches(self) -> Iterator[list[str]]:
        if self._pending:
            yield self._pending
            self._pending = []
        yield from self._read()

    def _read(self) -> Iterator[list[str]]:
        read = getattr(self.raw, "read1", self.raw.read)
        while True:
            block = read(self.block)
            data = self._rest + block
            cut = len(data) if not block else data.rfind(b"\n") + 1
            if not block and not data:
                return
            self._rest = data[cut:]
            if cut == 0:
                continue
            try:
                # the line ends a file opened with newline="" splits at (not str.splitlines')
                lines = io.StringIO(data[:cut].decode("utf-8"), newline="").readlines()
            except UnicodeDecodeError:
                raise EdgeharError(self.path, f"not a text log (bytes that are not UTF-8 text "
                                              f"after line {self._line - 1})") from None
            if lines and not lines[-1].endswith("\n"):   # the last line, without its newline
                lines[-1] += "\n"
            self._line += len(lines)
            yield lines
