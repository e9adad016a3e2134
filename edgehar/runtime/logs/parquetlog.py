"""Parquet logs: the CSV log's columns (a time column, the sensor axes, an optional ``label``)
in a Parquet file, read with pyarrow (the ``fleet`` extra), imported only when such a log is
opened.

Rows come out exactly as ``CsvRows`` yields a CSV's (float64 values, label ids last), so the
rest of the pipe is the CSV's: a Parquet file holding the values a CSV parses to replays to the
same bytes. Positions in messages are counted as the CSV's lines (the header is line 1, the
first row line 2), so a row is named alike in both."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..errors import EdgeharError
from .csvlog import CsvRows, LabelVocabulary
from .text import CHUNK_ROWS

PARQUET_EXTRA = "a Parquet log needs pyarrow: pip install 'edgehar[fleet]'"


class _Closing:
    """The open Parquet file, closed as ``CsvRows.f`` is (``with rows.f:``, ``rows.f.close()``)."""

    def __init__(self, f):
        self.file = f

    def close(self) -> None:
        self.file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class ParquetRows(CsvRows):
    """A Parquet log's numeric columns (time first) in row batches: (t seconds from the first
    row, values (+ label id last), first line number), as ``CsvRows`` yields them."""

    def __init__(self, path: Path, kind: str = "both", chunk_rows: int = CHUNK_ROWS,
                 vocab: LabelVocabulary | None = None, counter=None,
                 mapping: dict[str, str] | None = None, live=None):
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise EdgeharError(path, PARQUET_EXTRA) from None
        self.path = Path(path)
        self.counter = counter
        self.vocab = vocab or LabelVocabulary()
        self.live = None
        if not self.path.is_file():
            raise EdgeharError(self.path, "file not found")
        try:
            pf = pq.ParquetFile(self.path)
        except Exception as e:  # pyarrow raises ArrowInvalid, OSError, ...: not a Parquet file
            raise EdgeharError(self.path, f"not a Parquet file ({type(e).__name__})") from None
        self.f = _Closing(pf)
        self.trailing_comma = False
        self._use_header(list(pf.schema_arrow.names), kind, mapping, chunk_rows)
        self.numeric = [self.columns.time, *self.columns.sensors]
        self.label_name = self.columns.label
        self.rows = pf.metadata.num_rows
        schema = pf.schema_arrow
        for name in self.numeric:
            t = schema.field(name).type
            if not (_pa().types.is_integer(t) or _pa().types.is_floating(t)):
                pf.close()
                raise EdgeharError(self.path, f"column {name!r} is {t}, not numbers")

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray, int]]:
        pf = self.f.file
        wanted = self.numeric + ([self.label_name] if self.label_name is not None else [])
        line = 2
        size = self.path.stat().st_size
        with self.f:
            for batch in _batches(pf, self.path, self.chunk_rows, wanted):
                n = batch.num_rows
                values = np.empty((n, len(self.numeric) + (self.label_col is not None)))
                for j, name in enumerate(self.numeric):
                    column = batch.column(name)
                    if column.null_count:
                        i = int(np.flatnonzero(~np.asarray(column.is_valid()))[0])
                        raise EdgeharError(self.path, f"line {line + i}: no value in {name!r}",
                                           line + i)
                    # integers (an epoch-ns clock) rounded to the nearest float64, as the
                    # CSV parser reads the same digits (Arrow's own cast refuses > 2**53)
                    values[:, j] = column.to_numpy(zero_copy_only=False)
                bad = ~np.isfinite(values[:, :len(self.numeric)]).all(1)
                if bad.any():
                    i = int(np.flatnonzero(bad)[0])
                    raise EdgeharError(self.path, f"line {line + i}: a value that is not a "
                                                  f"finite number (NaN or inf)", line + i)
                if self.label_col is not None:
                    values[:, -1] = self._label_ids(batch.column(self.label_name))
                if self.counter is not None and self.rows:
                    self.counter.done += size * n / self.rows
                yield self._timed(values, line)
                line += n
        if line == 2:
            raise EdgeharError(self.path, "no data rows")

    def _label_ids(self, column) -> np.ndarray:
        """Label names -> the vocabulary's ids (a missing name is unlabelled)."""
        pa = _pa()
        if column.null_count:
            column = column.cast(pa.string()).fill_null("")
        if not pa.types.is_dictionary(column.type):   # plain strings: encoded here
            column = pa.compute.dictionary_encode(column.cast(pa.string()))
        codes = np.asarray(column.indices.to_numpy(zero_copy_only=False), np.int64)
        dictionary = [str(n) for n in column.dictionary.to_pylist()]
        counts = np.bincount(codes, minlength=len(dictionary))
        return self.vocab.encode(dictionary, counts)[codes]


def _batches(pf, path: Path, rows: int, columns: list[str]):
    """The file's record batches; a page pyarrow cannot decode ends in one line."""
    pa = _pa()
    batches = pf.iter_batches(batch_size=rows, columns=columns, use_threads=False)
    while True:
        try:
            batch = next(batches, None)
        except (pa.ArrowException, OSError) as e:
            raise EdgeharError(path, f"unreadable Parquet data ({type(e).__name__}: "
                                     f"{str(e).splitlines()[0][:120] if str(e) else ''})"
                               ) from None
        if batch is None:
            return
        yield batch


def _pa():
    import pyarrow as pa
    import pyarrow.compute  # noqa: F401  (pa.compute)

    return pa
