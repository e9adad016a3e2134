"""CSV logs with a header, at any rate, as phones and logger apps write them.

- One file: a time column, acceleration and rotation rate, an optional ``label`` column.
- Separate accelerometer and gyroscope files: each a time column and three axes.

Which columns are which, in which units, is ``formats.find_columns``' business (edgehar's own
names, the logger apps', or ``--columns``). Any start value of the clock works (an epoch clock:
times are taken relative to the first row). Rows go through ``TimedStream`` (duplicates,
backsteps, gaps) and ``GridAligner`` (one 50 Hz grid).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..errors import EdgeharError
from ..spec import HAPT_LABELS, LABELS
from .chunk import DataQuality, LogChunk
from .formats import Columns, epoch_scale, find_columns
from .resample import DEFAULT_MAX_GAP_S, GridAligner, TimedStream
from .text import CHUNK_ROWS, LiveLines, chunks_of, open_text, parse_rows

UNLABELLED = ("", "-1", "NONE", "UNKNOWN")
# Which parser reads a CSV log's rows (``csv_rows``): "arrow", pyarrow's C++ reader when it is
# installed (the fleet extra); "text", the careful parser; "auto", pyarrow from 2 MB on, below
# which importing it (~0.25 s) would cost more than it saves.
READERS = ("auto", "arrow", "text")
ARROW_MIN_BYTES = 1 << 21
ARROW_BLOCK_BYTES = 1 << 20   # 4 MB blocks cost 33 MB more peak memory (bench/replay_scaling.py)


class LabelVocabulary:
    """Class names -> ids 1..n (a window is scored only where the id stays one whole number).

    Fixed (a model's labels) or growing (a dataset being read: every new name becomes the next
    id). With a fixed vocabulary a name the model has no class for is not scored and is
    counted in ``unknown`` (the summary reports it: a typo shows), and a number 1..12 is a HAPT
    activity id, mapped by its HAPT name to the model's id."""

    def __init__(self, names: tuple[str, ...] = LABELS, grow: bool = False):
        self.ids = {n: i + 1 for i, n in enumerate(names)}
        self.grow = grow
        self.unknown: dict[str, int] = {}

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.ids)

    def hapt_lut(self) -> np.ndarray:
        """HAPT ids 0..12 (0: none) -> this vocabulary's ids (-1 where it has no such class)."""
        ids = [self.ids.setdefault(n, len(self.ids) + 1) if self.grow else self.ids.get(n, -1)
               for n in HAPT_LABELS]
        return np.array([-1] + ids, np.int16)

    def __call__(self, column: list[str], path: Path, first_line: int) -> np.ndarray:
        """Label ids (float, for interpolation with the samples) of a column of names."""
        distinct = list(dict.fromkeys(column))   # first-seen order: a growing vocabulary's ids
        if len(distinct) == len(column):
            return self.encode(distinct, [1] * len(column))
        where = {name: i for i, name in enumerate(distinct)}
        inverse = np.fromiter((where[n] for n in column), np.int64, len(column))
        return self.encode(distinct, np.bincount(inverse, minlength=len(distinct)))[inverse]

    def encode(self, names: list[str], counts) -> np.ndarray:
        """Ids of distinct ``names`` occurring ``counts`` times (unknown names are counted)."""
        out = np.empty(len(names), np.float64)
        for i, (raw, count) in enumerate(zip(names, counts)):
            name = raw.strip()[:80]
            if name in UNLABELLED:
                out[i] = -1
            elif name in self.ids:
                out[i] = self.ids[name]
            elif self.grow:
                out[i] = self.ids.setdefault(name, len(self.ids) + 1)
            elif name.isdigit() and 1 <= int(name) <= len(HAPT_LABELS):
                out[i] = self.ids.get(HAPT_LABELS[int(name) - 1], -1)
            else:
                out[i] = -1
                if len(self.unknown) < 20 or name in self.unknown:
                    self.unknown[name] = self.unknown.get(name, 0) + int(count)
        return out


def csv_rows(path: Path, kind: str = "both", reader: str = "auto",
             chunk_rows: int = CHUNK_ROWS, vocab: LabelVocabulary | None = None,
             counter=None, mapping: dict[str, str] | None = None) -> CsvRows:
    """The rows of a CSV log, read by the parser ``reader`` picks (``READERS``): the careful text
    parser (``CsvRows``) or pyarrow's (``ArrowCsvRows``). Both yield the same rows and name the
    same first bad line."""
    check_reader(reader)
    path = Path(path)
    arrow = reader == "arrow" or (reader == "auto" and path.is_file()
                                  and path.stat().st_size >= ARROW_MIN_BYTES)
    arrow = arrow and _arrow_csv() is not None
    return (ArrowCsvRows if arrow else CsvRows)(path, kind, chunk_rows, vocab, counter, mapping)


def check_reader(reader: str) -> None:
    if reader not in READERS:
        raise EdgeharError(None, f"--reader must be one of {', '.join(READERS)}, got {reader!r}")


class CsvRows:
    """A CSV file's numeric columns (time first), parsed chunk by chunk with line numbers by the
    careful text parser: iterating yields (t seconds from the first row, values (+ label id
    last), first line number); a bad row ends in an EdgeharError naming its line. ``kind``
    and ``mapping``: which columns (``formats.find_columns``), found in ``columns``."""

    def __init__(self, path: Path, kind: str = "both", chunk_rows: int = CHUNK_ROWS,
                 vocab: LabelVocabulary | None = None, counter=None,
                 mapping: dict[str, str] | None = None, live: LiveLines | None = None):
        self.path = Path(path)
        self.counter = counter
        self.vocab = vocab or LabelVocabulary()
        self.live = live
        if live is None and not self.path.is_file():
            raise EdgeharError(self.path, "file not found")
        self.f = live if live is not None else open_text(self.path)
        try:
            first = (live.header() if live is not None else
                     next(chunks_of(self.f, 1, self.path), [""])[0])
        except EdgeharError:
            self.f.close()
            raise
        header = [h.strip().strip('"').strip() for h in first.lstrip("\ufeff").strip().split(",")]
        # some logger apps end every line with a comma: an empty last header name
        self.trailing_comma = len(header) > 1 and header[-1] == ""
        if self.trailing_comma:
            header = header[:-1]
        self._use_header(header, kind, mapping, chunk_rows)

    def _use_header(self, header: list[str], kind: str, mapping: dict[str, str] | None,
                    chunk_rows: int) -> None:
        """The columns ``header`` names (``find_columns``; the file is closed on a refusal) and
        the reading state before the first row."""
        try:
            self.columns: Columns = find_columns(header, kind, mapping, self.path)
        except EdgeharError:
            self.f.close()
            raise
        self.header, self.time_scale = header, self.columns.time_scale
        self.cols = [header.index(n) for n in (self.columns.time,) + self.columns.sensors]
        label = self.columns.label
        self.label_col = header.index(label) if label is not None else None
        self.chunk_rows = chunk_rows
        self.t_origin: float | None = None
        self.empty_rows = 0       # leading rows with acceleration 0,0,0 (skipped)
        self.kind = kind

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray, int]]:
        with self.f:
            yield from self._text_rows(2)

    def _text_rows(self, line: int) -> Iterator[tuple[np.ndarray, np.ndarray, int]]:
        """The rows from ``line`` on (the file positioned there)."""
        first = line
        batches = (self.live.batches() if self.live is not None else
                   chunks_of(self.f, self.chunk_rows, self.path, line, self.counter))
        for lines in batches:
            data, error = self._parse_upto_error(lines, line)
            yield self._timed(data, line)
            if error is not None:
                raise error
            line += len(lines)
        if line == first == 2:
            raise EdgeharError(self.path, "no data rows after the header")

    def _timed(self, data: np.ndarray, line: int) -> tuple[np.ndarray, np.ndarray, int]:
        if self.t_origin is None:
            # rows before the accelerometer delivered (Physics Toolbox starts with zeros; a real
            # accelerometer never reads exactly 0,0,0, a gyroscope at rest may) are skipped
            skip = 0
            if self.kind != "gyro":
                live = np.flatnonzero((data[:, 1:4] != 0).any(axis=1))
                skip = int(live[0]) if len(live) else len(data)
            self.empty_rows += skip
            data, line = data[skip:], line + skip
            if not len(data):
                return np.empty(0), data[:, 1:], line
            self.t_origin = data[0, 0]
            if self.time_scale is None:   # "time": seconds or an epoch clock, by magnitude
                self.time_scale = epoch_scale(self.t_origin)
        with np.errstate(all="ignore"):   # absurd times become inf: refused downstream
            t = (data[:, 0] - self.t_origin) * self.time_scale
        return t, data[:, 1:], line

    def _parse_upto_error(self, lines: list[str], line: int
                          ) -> tuple[np.ndarray, EdgeharError | None]:
        """``_parse``; for a chunk with a bad row, the rows before it and the row's error. The
        stream takes those rows first and so meets an earlier problem (time running backwards)
        first, as on the pyarrow path, whose blocks end where a bad row begins: both name the
        first bad line of the file."""
        try:
            return self._parse(lines, line), None
        except EdgeharError as e:
            head = e.line - line if e.line is not None else 0
            if not 0 < head < len(lines):
                raise
            try:
                return self._parse(lines[:head], line), e
            except EdgeharError:
                raise e from None

    def _parse(self, lines: list[str], line: int) -> np.ndarray:
        width = len(self.header)
        if self.trailing_comma:
            lines = [ln.rstrip("\r\n").removesuffix(",") + "\n" for ln in lines]
        if self.label_col is None:
            return parse_rows(lines, self.path, line, width, ",")[:, self.cols]
        if self.label_col == width - 1:
            # label last: peel it off each line, parse the numbers in one go
            parts = [ln.rstrip("\r\n").rpartition(",") for ln in lines]
            if any(not p[1] for p in parts):
                i = next(i for i, p in enumerate(parts) if not p[1])
                raise EdgeharError(self.path, f"line {line + i}: expected {width} columns",
                                   line + i)
            labels = self.vocab([p[2] for p in parts], self.path, line)
            data = parse_rows([p[0] + "\n" for p in parts], self.path, line, width - 1, ",")
            return np.concatenate([data[:, self.cols], labels[:, None]], 1)
        split = [ln.rstrip("\r\n").split(",") for ln in lines]
        bad = [i for i, r in enumerate(split) if len(r) != width]
        if bad:
            raise EdgeharError(self.path, f"line {line + bad[0]}: expected {width} columns, "
                                          f"found {len(split[bad[0]])}", line + bad[0])
        labels = self.vocab([r[self.label_col] for r in split], self.path, line)
        data = parse_rows([",".join(r[c] for c in self.cols) for r in split], self.path, line,
                          len(self.cols), ",")
        return np.concatenate([data, labels[:, None]], 1)



class ArrowCsvRows(CsvRows):
    """The same rows parsed by pyarrow's C++ reader, 7x faster on well-formed rows; at the first
    block it cannot take (a bad row, a NaN, an empty line) the careful parser takes over from
    that block's first line and names the problem, so both name the same first bad line."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._arrow_read_all = False
        self._arrow_offset = 0        # bytes of the file the fast path has handed on
        self._counted_before = 0

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray, int]]:
        line = 2
        with self.f:
            for data, n in self._arrow_blocks():
                yield self._timed(data, line)
                line += n
            if self._arrow_read_all:
                if line == 2:
                    raise EdgeharError(self.path, "no data rows after the header")
                return
            self.f.seek(0)
            try:
                self.f.readline()
                for _ in itertools.islice(self.f, line - 2):
                    pass
            except UnicodeDecodeError:
                raise EdgeharError(self.path, f"not a text log (bytes that are not UTF-8 "
                                              f"text before line {line})") from None
            if self.counter is not None:   # the careful parser counts from here on
                self.counter.done = self._counted_before + self._arrow_offset
            yield from self._text_rows(line)

    def _arrow_blocks(self) -> Iterator[tuple[np.ndarray, int]]:
        """(rows as the careful parser returns them, row count) per ~4 MB of whole lines;
        stops quietly at the first block with anything else (``_arrow_read_all`` stays False),
        or at the end of the file. The blocks are cut here, not by pyarrow's streaming reader,
        whose memory grew with the file (230 MB on a 24 h log)."""
        pa, pc = _arrow_csv()
        names = list(self.header) + ([""] if self.trailing_comma else [])
        names = [n if n else f"_empty{i}" for i, n in enumerate(names)]
        if len(set(names)) != len(names):
            return
        numeric = [names[c] for c in self.cols]
        keep = numeric + ([names[self.label_col]] if self.label_col is not None else [])
        # every other column is parsed as a number too: the careful parser refuses a log whose
        # extra columns are not numeric, and so must this path
        types = {n: pa.float64() for i, n in enumerate(names)
                 if i != self.label_col and not n.startswith("_empty")}
        empty = [n for n in names if n.startswith("_empty")]   # after a trailing comma
        types |= {n: pa.string() for n in empty}
        keep = keep + [n for n in types if n not in keep]
        if self.label_col is not None:   # a handful of names: dictionary-encoded
            types[names[self.label_col]] = pa.dictionary(pa.int32(), pa.string())
        read_opts = pc.ReadOptions(column_names=names, use_threads=False, block_size=1 << 24)
        # no quoting: the careful parser takes '"0.1"' for text, not a number, and so must this
        parse_opts = pc.ParseOptions(ignore_empty_lines=False, quote_char=False)
        convert_opts = pc.ConvertOptions(include_columns=keep, column_types=types,
                                         quoted_strings_can_be_null=False)
        line, rest = 2, b""
        self._counted_before = self.counter.done if self.counter is not None else 0
        with open(self.path, "rb") as raw:
            self._arrow_offset = len(raw.readline())   # the header, read by __init__
            while True:
                block = raw.read(ARROW_BLOCK_BYTES)
                if self.counter is not None:
                    self.counter.done += len(block)
                data = rest + block
                if not data:
                    self._arrow_read_all = True
                    return
                if block:
                    cut = data.rfind(b"\n") + 1
                    if cut == 0:
                        if len(data) > 16 * ARROW_BLOCK_BYTES:   # no line end in sight
                            return
                        rest = data
                        continue
                    data, rest = data[:cut], data[cut:]
                else:
                    rest = b""
                try:   # every line is a row: an empty line is an error, not skipped
                    table = pc.read_csv(pa.BufferReader(data), read_options=read_opts,
                                        parse_options=parse_opts, convert_options=convert_opts)
                except (pa.ArrowException, ValueError):
                    return
                lines = table.num_rows
                values = np.empty((lines, len(numeric)))
                for j, name in enumerate(numeric):
                    column = table.column(name)
                    if column.null_count:   # an empty field: the careful parser names it
                        return
                    values[:, j] = _numpy(column.combine_chunks(), np.float64)
                if not np.isfinite(values).all():
                    return
                if any(table.column(n).null_count for n in types if n not in numeric):
                    return
                if any(pa.compute.max(pa.compute.utf8_length(table.column(n))).as_py()
                       for n in empty):   # something after the trailing comma
                    return
                if self.label_col is not None:
                    ids = []
                    for chunk in table.column(names[self.label_col]).chunks:
                        codes = _numpy(chunk.indices, np.int32)
                        counts = np.bincount(codes, minlength=len(chunk.dictionary))
                        ids.append(self.vocab.encode(chunk.dictionary.to_pylist(), counts)[codes])
                    values = np.concatenate([values, np.concatenate(ids)[:, None]], 1)
                yield values, lines
                line += lines
                self._arrow_offset += len(data)


def _numpy(array, dtype) -> np.ndarray:
    """A null-free pyarrow array of fixed-width numbers as a numpy view of its data buffer
    (``Array.to_numpy`` imports pandas on its first call: 39 MB of peak memory)."""
    return np.frombuffer(array.buffers()[1], dtype, len(array),
                         array.offset * np.dtype(dtype).itemsize)


def _arrow_csv():
    """(pyarrow, pyarrow.csv) when installed (the ``fleet`` extra), else None."""
    try:
        import pyarrow as pa
        import pyarrow.compute  # noqa: F401  (pa.compute)
        import pyarrow.csv as pc
    except ImportError:
        return None
    return pa, pc


def _labels_of(chunk: LogChunk, values: np.ndarray) -> None:
    """Split the interpolated label column off; across a label change it is unknown (-1)."""
    lab = values[:, 6]
    exact = np.abs(lab - np.round(lab)) < 1e-6
    chunk.samples = values[:, :6]
    chunk.labels = np.where(exact, np.round(lab), -1).astype(np.int16)


def read_csv_log(rows: CsvRows, scale: tuple[float, float] = (1.0, 1.0),
                 max_gap: float = DEFAULT_MAX_GAP_S, quality: DataQuality | None = None
                 ) -> Iterator[LogChunk]:
    """One CSV holding both sensors (and an optional label column), its acceleration and
    rotation rate multiplied by ``scale`` on the way."""
    acc_k, gyro_k = scale
    quality = quality if quality is not None else DataQuality()
    stream = TimedStream(rows.path, quality, max_gap)
    grid = GridAligner([stream], quality)
    has_labels = rows.label_col is not None
    for t, v, line in rows:
        if acc_k != 1.0:
            v[:, :3] *= acc_k
        if gyro_k != 1.0:
            v[:, 3:6] *= gyro_k
        stream.push(t, v, line)
        quality.input_rate_hz = stream.rate_hz()
        quality.empty_rows = rows.empty_rows
        for chunk in grid.emit():
            if has_labels:
                _labels_of(chunk, chunk.samples)
            yield chunk


def read_sensor_pair(acc_rows: CsvRows, gyro_rows: CsvRows,
                     scale: tuple[float, float] = (1.0, 1.0), max_gap: float = DEFAULT_MAX_GAP_S,
                     quality: DataQuality | None = None, gravity_rows: CsvRows | None = None
                     ) -> Iterator[LogChunk]:
    """Separate accelerometer and gyroscope CSVs (the accelerometer's may carry a ``label``
    column), aligned onto one 50 Hz grid where both have data. The file that is behind in time
    is read next, so memory stays bounded by one chunk of each. ``gravity_rows``: the
    accelerometer file has gravity removed, and this file (same units) gives it back (Sensor
    Logger on iOS writes no total acceleration)."""
    quality = quality if quality is not None else DataQuality()
    readers = [acc_rows, gyro_rows] + ([gravity_rows] if gravity_rows is not None else [])
    gravity = gravity_rows is not None
    acc_path, gyro_path = acc_rows.path, gyro_rows.path
    streams = [TimedStream(r.path, quality, max_gap) for r in readers]
    grid = GridAligner(streams, quality)
    iters = [iter(r) for r in readers]
    has_labels = readers[0].label_col is not None
    origin: float | None = None
    # Read the stream that is behind (or not started) next; stop when either file ends: past
    # that point the other has no partner to be aligned with.
    try:
        while not any(s.done for s in streams):
            i = min(range(len(streams)),
                    key=lambda j: -np.inf if streams[j].last is None else streams[j].last)
            item = next(iters[i], None)
            if item is None:
                streams[i].done = True
                continue
            t, v, line = item
            if readers[i].t_origin is None:   # only rows before the sensor delivered so far
                continue
            if origin is None:
                origin = readers[i].t_origin * readers[i].time_scale
            # both files on one clock: each file's times are relative to its own first row, so
            # shift back to absolute time, then to the pair's common origin
            with np.errstate(all="ignore"):
                t = t + (readers[i].t_origin * readers[i].time_scale - origin)
            values = v[:, :3] * scale[1 if i == 1 else 0]   # gravity: the accelerometer's units
            if i == 0 and has_labels:   # the accelerometer file may carry the label column
                values = np.concatenate([values, v[:, 3:4]], 1)
            streams[i].push(t, values, line)
            quality.empty_rows = sum(r.empty_rows for r in readers)
            quality.input_rate_hz = streams[0].rate_hz()
            quality.gyro_rate_hz = streams[1].rate_hz()
            for chunk in grid.emit():
                x = chunk.samples   # ax ay az [label] gx gy gz [gravity x y z]
                if gravity:
                    x = x[:, :-3].copy()
                    x[:, :3] += chunk.samples[:, -3:]
                    chunk.samples = x
                if has_labels:   # columns come as ax ay az label gx gy gz
                    _labels_of(chunk, x[:, [0, 1, 2, 4, 5, 6, 3]])
                yield chunk
    finally:
        for r in readers:
            r.f.close()
    a, g = streams[:2]
    if grid.last_emitted < 0 and a.first is not None and g.first is not None:
        raise EdgeharError(acc_path, f"accelerometer and gyroscope files do not overlap in time "
                                     f"(acc {a.first:.2f}-{a.last:.2f} s, gyro {g.first:.2f}-"
                                     f"{g.last:.2f} s of {gyro_path.name} on one clock: same "
                                     f"time column units?)")
